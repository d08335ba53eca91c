// Listings through the kernel as `find` and `ls` read them: after the kernel's caches are dropped
// its first READDIRPLUS chunk and the plain READDIR after it give every entry the type and inode
// `stat` gives (hard links to a symlink included), and `ls -l` the sizes `stat` gives.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct ListingMountTests {
    @Test func findAndLsSeeWhatStatSeesInALargeColdDirectory() throws {
        try withOpenVersion { _, v in
            let d = v + "/d"
            #expect(Sys.mkdir(d) == .ok)
            // More files than one READDIRPLUS reply holds, so later ones come by plain READDIR.
            for index in 0..<600 {
                #expect(Sys.writeFile(d + String(format: "/f%04d", index), Array(repeating: 120, count: index % 50)) == .ok)
            }
            #expect(Sys.mkdir(d + "/sub") == .ok)
            #expect(Sys.symlink("f0001", d + "/zz-sym") == .ok)
            #expect(Sys.link(d + "/zz-sym", d + "/zz-sym-again") == .ok)
            #expect(Sys.link(d + "/f0599", d + "/zz-file-again") == .ok)
            try Shell.check("mkfifo \(Shell.quote(d + "/zz-fifo"))")
            try Shell.check("sync; echo 2 > /proc/sys/vm/drop_caches")

            let links = try Shell.check("find . -type l | sort", cwd: d).stdout
            #expect(links == "./zz-sym\n./zz-sym-again\n", "\(links)")
            #expect(try Shell.check("find . -type p", cwd: d).stdout == "./zz-fifo\n")
            #expect(try Shell.check("find . -mindepth 1 -type d", cwd: d).stdout == "./sub\n")
            #expect(try Shell.check("find . -type f | wc -l", cwd: d).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "601")

            try Shell.check("sync; echo 2 > /proc/sys/vm/drop_caches")
            // Inode numbers from readdir (ls -i takes them from the listing) against stat's.
            let listed = try Shell.check("ls -U -i -1 | awk '{ print $1, $2 }' | sort -k2", cwd: d).stdout
            let stated = try Shell.check("stat -c '%i %n' * | sort -k2", cwd: d).stdout
            #expect(listed == stated)

            try Shell.check("sync; echo 2 > /proc/sys/vm/drop_caches")
            let sizes = try Shell.check("ls -l --time-style=+ | awk 'NR > 1 { print $6, $5 }' | sort", cwd: d).stdout
            let statSizes = try Shell.check("stat -c '%n %s' * | sort", cwd: d).stdout
            #expect(sizes == statSizes)
        }
    }
}
