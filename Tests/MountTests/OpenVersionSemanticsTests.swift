// Inside an open version the mount behaves like a local file system (DESIGN §1): each test
// drives one family of calls on `v1` of a fresh mount and checks what a program would see.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Open version: local file system semantics")
struct OpenVersionSemanticsTests {
    @Test func createWriteReadAndStat() throws {
        try withOpenVersion { _, v in
            let content = patternBytes(count: 300_000, seed: 1)
            #expect(Sys.writeFile(v + "/a.bin", content) == .ok)
            #expect(try Sys.readFile(v + "/a.bin") == content)
            let info = try #require(Sys.lstat(v + "/a.bin"))
            #expect(info.isFile)
            #expect(info.size == 300_000)
            #expect(Sys.list(v)?.contains("a.bin") == true)

            // Reads at offsets, across the 128 KiB readahead window.
            let fd = try Sys.open(v + "/a.bin", O_RDONLY).get()
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 1000)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 1000, 131_000) }
            #expect(n == 1000)
            #expect(buffer == Array(content[131_000..<132_000]))
        }
    }

    @Test func sparseWritePastEndReadsBackZeros() throws {
        try withOpenVersion { _, v in
            let f = v + "/sparse"
            #expect(Sys.writeFile(f, "head") == .ok)
            let fd = try Sys.open(f, O_WRONLY).get()
            #expect(Sys.pwriteAll(fd, Array("tail".utf8), at: 1_048_576 + 10) == .ok)
            #expect(close(fd) == 0)
            let data = try Sys.readFile(f)
            #expect(data.count == 1_048_576 + 14)
            #expect(Array(data.prefix(4)) == Array("head".utf8))
            #expect(data[4..<(1_048_576 + 10)].allSatisfy { $0 == 0 })
            #expect(Array(data.suffix(4)) == Array("tail".utf8))
            #expect(Sys.lstat(f)?.size == Int64(1_048_576 + 14))
        }
    }

    @Test func appendModeWritesAtEnd() throws {
        try withOpenVersion { _, v in
            let f = v + "/log.txt"
            #expect(Sys.writeFile(f, "one\n") == .ok)
            let fd = try Sys.open(f, O_WRONLY | O_APPEND).get()
            lseek(fd, 0, SEEK_SET)
            #expect(Sys.writeAll(fd, Array("two\n".utf8)) == .ok)
            lseek(fd, 0, SEEK_SET)
            #expect(Sys.writeAll(fd, Array("three\n".utf8)) == .ok)
            #expect(close(fd) == 0)
            #expect(try Sys.readText(f) == "one\ntwo\nthree\n")
            // The shell's >> is O_APPEND too.
            try Shell.check("echo four >> \(Shell.quote(f))")
            #expect(try Sys.readText(f) == "one\ntwo\nthree\nfour\n")
        }
    }

    /// A listing (READDIRPLUS) hands the kernel each file's attributes, and the kernel takes the
    /// size it is told: a listing made while a file is open for writing must include what was
    /// written, or the file reads back empty (seen when the kernel's RELEASE came after the list).
    @Test func aListingWhileAFileIsWrittenKeepsTheWrittenSize() throws {
        try withOpenVersion { _, v in
            let content = patternBytes(count: 4070, seed: 7)
            let fd = try Sys.open(v + "/being-written", O_WRONLY | O_CREAT | O_TRUNC, 0o644).get()
            defer { close(fd) }
            #expect(Sys.writeAll(fd, content) == .ok)
            #expect(Sys.list(v)?.contains("being-written") == true)
            #expect(Sys.lstat(v + "/being-written")?.size == 4070)
            #expect(try Sys.readFile(v + "/being-written") == content)
        }
    }

    @Test func exclusiveCreateOfExistingFileIsEEXIST() throws {
        try withOpenVersion { _, v in
            #expect(Sys.openOutcome(v + "/x", O_WRONLY | O_CREAT | O_EXCL) == .ok)
            #expect(Sys.openOutcome(v + "/x", O_WRONLY | O_CREAT | O_EXCL) == .EEXIST)
            #expect(Sys.mkdir(v + "/d") == .ok)
            #expect(Sys.openOutcome(v + "/d", O_WRONLY | O_CREAT | O_EXCL) == .EEXIST)
            #expect(Sys.openOutcome(v + "/missing", O_RDONLY) == .ENOENT)
            #expect(Sys.openOutcome(v + "/d", O_WRONLY) == .EISDIR)
        }
    }

    @Test func truncateAndFtruncateShrinkAndGrow() throws {
        try withOpenVersion { _, v in
            let f = v + "/t"
            #expect(Sys.writeFile(f, "0123456789") == .ok)
            #expect(Sys.truncate(f, 4) == .ok)
            #expect(try Sys.readText(f) == "0123")
            #expect(Sys.truncate(f, 8) == .ok)
            #expect(try Sys.readFile(f) == Array("0123".utf8) + [0, 0, 0, 0])

            let fd = try Sys.open(f, O_RDWR).get()
            #expect(ftruncate(fd, 2) == 0)
            var st = stat()
            #expect(fstat(fd, &st) == 0)
            #expect(st.st_size == 2)
            #expect(ftruncate(fd, 100_000) == 0)
            #expect(Sys.pwriteAll(fd, Array("end".utf8), at: 100_000) == .ok)
            #expect(close(fd) == 0)
            let data = try Sys.readFile(f)
            #expect(data.count == 100_003)
            #expect(Array(data.prefix(2)) == Array("01".utf8))
            #expect(data[2..<100_000].allSatisfy { $0 == 0 })
            #expect(Sys.truncate(f, 0) == .ok)
            #expect(try Sys.readFile(f).isEmpty)
        }
    }

    @Test func shellRedirectTruncatesLongerFile() throws {
        try withOpenVersion { _, v in
            let f = v + "/over"
            #expect(Sys.writeFile(f, String(repeating: "long line\n", count: 1000)) == .ok)
            try Shell.check("echo x > \(Shell.quote(f))")
            #expect(try Sys.readText(f) == "x\n")
            #expect(Sys.lstat(f)?.size == 2)
            try Shell.check("cat \(Shell.quote(f)) > /dev/null")
        }
    }

    @Test func renameFilesAndDirectories() throws {
        try withOpenVersion { _, v in
            #expect(Sys.writeFile(v + "/a", "new content") == .ok)
            #expect(Sys.writeFile(v + "/b", "old content that is longer") == .ok)
            let fd = try Sys.open(v + "/b", O_RDONLY).get()  // the replaced file stays readable while open
            defer { close(fd) }
            #expect(Sys.rename(v + "/a", v + "/b") == .ok)
            #expect(try Sys.readText(v + "/b") == "new content")
            #expect(!Sys.exists(v + "/a"))
            #expect(String(decoding: try Sys.readAll(fd), as: UTF8.self) == "old content that is longer")

            // Directories move with their content.
            #expect(Sys.mkdir(v + "/d1") == .ok)
            #expect(Sys.mkdir(v + "/d1/sub") == .ok)
            #expect(Sys.writeFile(v + "/d1/sub/f", "deep") == .ok)
            #expect(Sys.rename(v + "/d1", v + "/d2") == .ok)
            #expect(try Sys.readText(v + "/d2/sub/f") == "deep")
            #expect(!Sys.exists(v + "/d1"))
            #expect(Sys.rename(v + "/b", v + "/d2/sub/b") == .ok)
            #expect(try Sys.readText(v + "/d2/sub/b") == "new content")

            // Over an empty directory: replaced; over a non-empty one: ENOTEMPTY.
            #expect(Sys.mkdir(v + "/empty") == .ok)
            #expect(Sys.rename(v + "/d2/sub", v + "/empty") == .ok)
            #expect(try Sys.readText(v + "/empty/f") == "deep")
            #expect(Sys.mkdir(v + "/d3") == .ok)
            #expect(Sys.rename(v + "/d3", v + "/empty") == .ENOTEMPTY)
            // Kinds must match; a directory cannot move into itself.
            #expect(Sys.rename(v + "/empty/f", v + "/d3") == .EISDIR)
            #expect(Sys.rename(v + "/d3", v + "/empty/f") == .ENOTDIR)
            #expect(Sys.rename(v + "/empty", v + "/empty/inside") == .EINVAL)
            #expect(Sys.rename(v + "/nothing", v + "/x") == .ENOENT)
            #expect(Sys.list(v + "/empty") == ["b", "f"])
            // Renaming a name to itself changes nothing.
            #expect(Sys.rename(v + "/empty/f", v + "/empty/f") == .ok)
            #expect(try Sys.readText(v + "/empty/f") == "deep")
        }
    }

    @Test func unlinkedOpenFileStaysReadable() throws {
        try withOpenVersion { _, v in
            let content = patternBytes(count: 70_000, seed: 2)
            #expect(Sys.writeFile(v + "/gone", content) == .ok)
            let fd = try Sys.open(v + "/gone", O_RDWR).get()
            defer { close(fd) }
            var before = stat()
            #expect(fstat(fd, &before) == 0 && before.st_nlink == 1)
            #expect(Sys.unlink(v + "/gone") == .ok)
            var after = stat()
            #expect(fstat(fd, &after) == 0 && after.st_nlink == 0, "an open file without a name has no links, as on ext4")
            #expect(Sys.list(v)?.contains("gone") == false)
            #expect(Sys.lstatOutcome(v + "/gone") == .ENOENT)
            #expect(try Sys.readAll(fd) == content)
            #expect(Sys.pwriteAll(fd, Array("more".utf8), at: 70_000) == .ok)
            #expect(try Sys.readAll(fd, from: 70_000) == Array("more".utf8))
            // The name can be reused at once, independently of the open file.
            #expect(Sys.writeFile(v + "/gone", "fresh") == .ok)
            #expect(try Sys.readText(v + "/gone") == "fresh")
            #expect(try Sys.readAll(fd).count == 70_004)
        }
    }

    @Test func mkdirRmdirAndTheirErrors() throws {
        try withOpenVersion { _, v in
            #expect(Sys.mkdir(v + "/d") == .ok)
            #expect(Sys.mkdir(v + "/d") == .EEXIST)
            #expect(Sys.mkdir(v + "/d/e") == .ok)
            #expect(Sys.rmdir(v + "/d") == .ENOTEMPTY)
            #expect(Sys.writeFile(v + "/d/e/f", "x") == .ok)
            #expect(Sys.rmdir(v + "/d/e/f") == .ENOTDIR)
            #expect(Sys.unlink(v + "/d/e") == .EISDIR)
            #expect(Sys.mkdir(v + "/missing/e") == .ENOENT)
            #expect(Sys.unlink(v + "/d/e/f") == .ok)
            #expect(Sys.rmdir(v + "/d/e") == .ok)
            #expect(Sys.rmdir(v + "/d") == .ok)
            #expect(Sys.rmdir(v + "/d") == .ENOENT)
            #expect(Sys.list(v)?.contains("d") == false)
        }
    }

    @Test func manyEntriesAreAllListed() throws {
        try withOpenVersion { _, v in
            #expect(Sys.mkdir(v + "/many") == .ok)
            var expected: [String] = []
            for i in 0..<1500 {
                let name = "file-\(i)-" + String(repeating: "n", count: i % 60)
                expected.append(name)
                #expect(Sys.writeFile(v + "/many/" + name, "\(i)") == .ok)
            }
            #expect(Sys.list(v + "/many") == expected.sorted())
            let ls = try Shell.check("ls \(Shell.quote(v + "/many")) | wc -l")
            #expect(ls.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1500")
        }
    }

    @Test func symlinksAndReadlink() throws {
        try withOpenVersion { _, v in
            #expect(Sys.writeFile(v + "/target.txt", "through the link") == .ok)
            #expect(Sys.symlink("target.txt", v + "/link") == .ok)
            #expect(Sys.symlink("../outside/nowhere", v + "/dangling") == .ok)
            #expect(Sys.readlink(v + "/link") == "target.txt")
            #expect(Sys.readlink(v + "/dangling") == "../outside/nowhere")
            #expect(Sys.lstat(v + "/link")?.isSymlink == true)
            #expect(Sys.lstat(v + "/link")?.size == Int64("target.txt".utf8.count))
            #expect(try Sys.readText(v + "/link") == "through the link")
            #expect(Sys.symlink("x", v + "/link") == .EEXIST)
            let shell = try Shell.check("readlink \(Shell.quote(v + "/link")); cat \(Shell.quote(v + "/link"))")
            #expect(shell.stdout == "target.txt\nthrough the link")
        }
    }

    @Test func chmodChangesModes() throws {
        try withOpenVersion { _, v in
            #expect(Sys.writeFile(v + "/script.sh", "#!/bin/sh\necho ran\n", mode: 0o644) == .ok)
            #expect(Sys.chmod(v + "/script.sh", 0o755) == .ok)
            #expect(Sys.lstat(v + "/script.sh")?.perm == 0o755)
            let ran = try Shell.check(Shell.quote(v + "/script.sh"))
            #expect(ran.stdout == "ran\n")
            #expect(Sys.chmod(v + "/script.sh", 0o640) == .ok)
            #expect(Sys.lstat(v + "/script.sh")?.perm == 0o640)
            #expect(Sys.mkdir(v + "/d", 0o700) == .ok)
            #expect(Sys.chmod(v + "/d", 0o750) == .ok)
            #expect(Sys.lstat(v + "/d")?.perm == 0o750)
            let shell = try Shell.check("chmod u=rw,go=r \(Shell.quote(v + "/script.sh")) && stat -c %a \(Shell.quote(v + "/script.sh"))")
            #expect(shell.stdout == "644\n")
        }
    }

    @Test func touchSetsModificationTime() throws {
        try withOpenVersion { _, v in
            #expect(Sys.writeFile(v + "/f", "x") == .ok)
            try Shell.check("touch -d '2001-02-03 04:05:06.5 UTC' \(Shell.quote(v + "/f"))")
            let info = try #require(Sys.lstat(v + "/f"))
            #expect(info.mtimeSec == 981_173_106)
            #expect(info.mtimeNsec == 500_000_000)
            #expect(Sys.mkdir(v + "/d") == .ok)
            #expect(Sys.setMtime(v + "/d", seconds: 1_000_000_000, nanoseconds: 123_456_789) == .ok)
            #expect(Sys.lstat(v + "/d")?.mtimeSec == 1_000_000_000)
            #expect(Sys.lstat(v + "/d")?.mtimeNsec == 123_456_789)
            // Writing moves mtime forward again.
            let before = Date().timeIntervalSince1970 - 5
            #expect(Sys.writeFile(v + "/f", "changed") == .ok)
            #expect(Double(try #require(Sys.lstat(v + "/f")).mtimeSec) >= before)
        }
    }

    @Test func fsyncFdatasyncAndStatfs() throws {
        try withOpenVersion { fs, v in
            let fd = try Sys.open(v + "/durable", O_WRONLY | O_CREAT).get()
            #expect(Sys.writeAll(fd, patternBytes(count: 10_000, seed: 3)) == .ok)
            #expect(Outcome.of(fsync(fd)) == .ok)
            #expect(Sys.writeAll(fd, patternBytes(count: 10_000, seed: 4)) == .ok)
            #expect(Outcome.of(fdatasync(fd)) == .ok)
            #expect(close(fd) == 0)
            #expect(Sys.lstat(v + "/durable")?.size == 20_000)
            let dirfd = try Sys.open(v, O_RDONLY | O_DIRECTORY).get()
            #expect(Outcome.of(fsync(dirfd)) == .ok)
            close(dirfd)

            var sv = statvfs()
            #expect(Outcome.of(statvfs(v, &sv)) == .ok)
            #expect(sv.f_bsize > 0)
            #expect(sv.f_blocks > 0)
            #expect(sv.f_namemax >= 255)
            let df = try Shell.run("df \(Shell.quote(fs?.mountpoint ?? v))")
            #expect(df.succeeded, "\(df)")
            if let fs { #expect(df.stdout.contains(fs.mountpoint)) }
        }
    }

    @Test func userExtendedAttributes() throws {
        try withOpenVersion { mounted, v in
            let f = v + "/f"
            #expect(Sys.writeFile(f, "x") == .ok)
            #expect(Sys.mkdir(v + "/d") == .ok)
            for target in [f, v + "/d"] {
                let q = Shell.quote(target)
                try Shell.check("setfattr -n user.alpha -v one \(q) && setfattr -n user.beta -v two \(q)")
                #expect(try Shell.check("getfattr --only-values -n user.alpha \(q)").stdout == "one")
                #expect(try Sys.getxattr(target, "user.beta").get() == "two")
                #expect(try Sys.listxattr(target).get().filter { $0.hasPrefix("user.") } == ["user.alpha", "user.beta"])
                let dump = try Shell.check("getfattr -d \(q)").stdout
                #expect(dump.contains("user.alpha=\"one\"") && dump.contains("user.beta=\"two\""), "\(dump)")
                // Replace, remove, and a missing one.
                try Shell.check("setfattr -n user.alpha -v uno \(q)")
                #expect(try Sys.getxattr(target, "user.alpha").get() == "uno")
                try Shell.check("setfattr -x user.alpha \(q)")
                #expect(Sys.getxattrOutcome(target, "user.alpha") == .ENODATA)
                #expect(Sys.getxattrOutcome(target, "user.never") == .ENODATA)
                // Other namespaces are not supported, which `ls -l` and `cp` take as "stop asking"
                // (ext4 answers ENODATA here: the plain-directory reference run skips this).
                if mounted != nil {
                    for other in ["security.selinux", "system.posix_acl_access", "trusted.x"] {
                        #expect(Sys.getxattrOutcome(target, other) == Outcome(code: EOPNOTSUPP), "\(other)")
                    }
                }
                #expect(Sys.removexattr(target, "user.never") == .ENODATA)
                #expect(try Sys.listxattr(target).get().filter { $0.hasPrefix("user.") } == ["user.beta"])
                let missing = try Shell.run("getfattr -n user.alpha \(q)")
                #expect(!missing.succeeded && missing.stderr.contains("No such attribute"), "\(missing)")
            }
            // Attributes survive a rename.
            #expect(Sys.rename(f, v + "/g") == .ok)
            #expect(try Sys.getxattr(v + "/g", "user.beta").get() == "two")
        }
    }

    @Test func largeFileRoundTrip() throws {
        try withOpenVersion { _, v in
            let content = patternBytes(count: 24 << 20, seed: 5)
            #expect(Sys.writeFile(v + "/big", content) == .ok)
            #expect(Sys.lstat(v + "/big")?.size == Int64(24 << 20))
            #expect(try Sys.readFile(v + "/big") == content)
            // The same bytes through the shell tools (dd with 1 MiB blocks, cmp).
            let local = try makeTemporaryDirectory(prefix: "mt-big")
            defer { removeTree(local) }
            #expect(Sys.writeFile(local + "/big", content) == .ok)
            let cmp = try Shell.run("dd if=\(Shell.quote(v + "/big")) bs=1M status=none | cmp - \(local)/big")
            #expect(cmp.succeeded, "\(cmp)")
        }
    }

    /// Directory listings inside versions are kept by the kernel across opens (cache_readdir):
    /// every change made through the mount must show in the very next listing.
    @Test func aListingShowsEveryChangeAtOnce() throws {
        try withOpenVersion { _, v in
            let q = Shell.quote(v)
            try Shell.check("mkdir \(q)/d \(q)/other && touch \(q)/d/a \(q)/other/moved")
            func listing() throws -> String { try Shell.check("ls -A \(q)/d | tr '\\n' ' '").stdout }
            #expect(try listing() == "a ")
            #expect(try listing() == "a ", "listed twice: the second may come from the kernel's copy")
            try Shell.check("touch \(q)/d/b")
            #expect(try listing() == "a b ")
            try Shell.check("rm \(q)/d/a")
            #expect(try listing() == "b ")
            try Shell.check("mv \(q)/d/b \(q)/d/c && mv \(q)/other/moved \(q)/d/")
            #expect(try listing() == "c moved ")
            #expect(try Shell.check("ls -A \(q)/other | wc -l").stdout == "0\n", "the source directory too")
            try Shell.check("mkdir \(q)/d/sub && ln -s c \(q)/d/link")
            #expect(try listing() == "c link moved sub ")
            try Shell.check("rmdir \(q)/d/sub")
            #expect(try listing() == "c link moved ")
        }
    }

}
