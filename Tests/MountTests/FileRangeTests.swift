// fallocate, SEEK_DATA / SEEK_HOLE and copy_file_range inside an open version behave as on ext4:
// one script of real tools and Python calls runs in the mount and in a plain directory, and what
// it observes (sizes, contents, data/hole layouts, errors) must be the same.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct FileRangeTests {
    /// Runs the same operations in `dir`; prints one line per observation.
    static let script = #"""
        import hashlib, json, os, subprocess, sys
        d = sys.argv[1]
        MiB = 1 << 20
        out = []
        def note(*what): out.append(" ".join(str(w) for w in what))
        def digest(p):
            with open(p, "rb") as f: return hashlib.sha256(f.read()).hexdigest()[:16]
        def layout(p):
            fd = os.open(p, os.O_RDONLY); size = os.fstat(fd).st_size; segments = []; at = 0
            try:
                while at < size:
                    try: start = os.lseek(fd, at, os.SEEK_DATA)
                    except OSError: break
                    end = os.lseek(fd, start, os.SEEK_HOLE); segments.append((start, end)); at = end
                try: os.lseek(fd, size, os.SEEK_DATA); segments.append("data past the end?")
                except OSError as e: segments.append(os.strerror(e.errno))
            finally: os.close(fd)
            return segments
        def tool(*args):
            r = subprocess.run(args, cwd=d, capture_output=True, text=True)
            return "ok" if r.returncode == 0 else r.stderr.strip().split(": ")[-1]
        def write(p, offset, data):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644); os.pwrite(fd, data, offset); os.close(fd)

        note("fallocate -l", tool("fallocate", "-l", "10M", "alloc"), os.stat(f"{d}/alloc").st_size, digest(f"{d}/alloc"))
        write(f"{d}/keep", 0, b"k" * 1000)
        note("fallocate -n", tool("fallocate", "-n", "-l", "4M", "keep"), os.stat(f"{d}/keep").st_size, digest(f"{d}/keep"))
        fd = os.open(f"{d}/posix", os.O_WRONLY | os.O_CREAT, 0o644); os.posix_fallocate(fd, 100, 3 * MiB); os.close(fd)
        note("posix_fallocate", os.stat(f"{d}/posix").st_size, digest(f"{d}/posix"))

        write(f"{d}/punch", 0, b"x" * (3 * MiB))
        note("fallocate -p", tool("fallocate", "-p", "-o", "1M", "-l", "1M", "punch"), os.stat(f"{d}/punch").st_size, digest(f"{d}/punch"), layout(f"{d}/punch"))
        note("du after the punched hole (KiB)", os.stat(f"{d}/punch").st_blocks // 2, subprocess.run(["du", "-k", f"{d}/punch"], capture_output=True, text=True).stdout.split()[0])
        write(f"{d}/zero", 0, b"z" * 20000)
        note("fallocate -z", tool("fallocate", "-z", "-o", "100", "-l", "5000", "zero"), os.stat(f"{d}/zero").st_size, digest(f"{d}/zero"))

        write(f"{d}/sparse", 0, b"a" * 65536)
        write(f"{d}/sparse", 4 * MiB, b"b" * 65536)
        note("sparse", os.stat(f"{d}/sparse").st_size, layout(f"{d}/sparse"))
        note("cp --sparse=always", tool("cp", "--sparse=always", "sparse", "sparse.copy"), digest(f"{d}/sparse.copy"), layout(f"{d}/sparse.copy"))

        write(f"{d}/source", 0, bytes(range(256)) * (12 * 4096))
        src = os.open(f"{d}/source", os.O_RDONLY); dst = os.open(f"{d}/target", os.O_WRONLY | os.O_CREAT, 0o644)
        copied = 0
        while True:
            n = os.copy_file_range(src, dst, 16 * MiB)
            if n == 0: break
            copied += n
        os.close(src); os.close(dst)
        note("copy_file_range", copied, digest(f"{d}/target") == digest(f"{d}/source"))
        src = os.open(f"{d}/source", os.O_RDONLY); dst = os.open(f"{d}/target", os.O_WRONLY)
        note("copy_file_range at offsets", os.copy_file_range(src, dst, 1000, 5, 3 * MiB), os.stat(f"{d}/target").st_size)
        os.close(src); os.close(dst)
        note("cp", tool("cp", "source", "cp.copy"), digest(f"{d}/cp.copy") == digest(f"{d}/source"))
        print("\n".join(out))
        """#

    static func observe(_ directory: String) throws -> String {
        try Shell.check("python3 - \(Shell.quote(directory)) <<'PY'\n\(script)\nPY").stdout
    }

    @Test func fallocateSeekHoleAndCopyFileRangeMatchAPlainDirectory() throws {
        let plain = try makeTemporaryDirectory(prefix: "mt-ranges-plain")
        defer { removeTree(plain) }
        let expected = try Self.observe(plain)
        try withOpenVersion { _, version in
            let observed = try Self.observe(version)
            #expect(observed == expected, "mount:\n\(observed)\nplain ext4:\n\(expected)")

            // More than the data disk holds: ENOSPC before anything is allocated (ext4 itself
            // would keep the blocks it found before failing, so this is not compared with it).
            let free = try #require(Int(try Shell.check("df --output=avail -B1 \(Shell.quote(version)) | tail -1").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            let huge = try Shell.run("fallocate -l \(free + (8 << 30)) \(Shell.quote(version))/huge")
            #expect(!huge.succeeded && huge.stderr.contains("No space left on device"), "\(huge)")
            #expect(Sys.lstat(version + "/huge")?.size == 0, "nothing allocated, the file stays empty")
        }
    }

    /// The daemon's read/write system calls and the bytes they moved so far (/proc/<pid>/io).
    static func daemonIO(_ fs: MountedFS) throws -> (calls: Int, bytes: Int) {
        guard let pid = fs.pid else { throw TestFailure("the daemon is not running") }
        var values: [String: Int] = [:]
        for line in try String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0].dropLast())] = value }
        }
        return ((values["syscr"] ?? 0) + (values["syscw"] ?? 0), (values["rchar"] ?? 0) + (values["wchar"] ?? 0))
    }

    /// copy_file_range is one request the daemon hands to the kernel. Bounced through the mount,
    /// the 48 MiB would come as 48 WRITE and 48 READ requests of 1 MiB (each a read(2) and a
    /// write(2) of the daemon: 192 calls) moving 192 MiB through its reads and writes; done in
    /// the kernel they count 96 MiB (a copy_file_range's bytes count once read, once written).
    @Test func copyFileRangeDoesNotMoveTheBytesThroughTheDaemon() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["WRITE_BACK_DELAY": "600"]  // no snapshot reading the blobs meanwhile
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("head -c 50331648 /dev/urandom > \(Shell.quote(version))/big")
            let before = try Self.daemonIO(fs)
            try Shell.check(
                "python3 -c 'import os,sys; s=os.open(sys.argv[1],os.O_RDONLY); d=os.open(sys.argv[2],os.O_WRONLY|os.O_CREAT,0o644)\n"
                    + "while os.copy_file_range(s,d,1<<30): pass' \(Shell.quote(version))/big \(Shell.quote(version))/copy")
            let after = try Self.daemonIO(fs)
            let calls = after.calls - before.calls
            let bytes = after.bytes - before.bytes
            // Opening, closing and the copy itself are a few dozen requests (a read and a write each).
            #expect(calls < 100, "the daemon made \(calls) read/write calls for one 48 MiB copy")
            #expect(bytes < 120 << 20, "the daemon's reads and writes moved \(bytes) bytes")
            #expect(try Shell.check("cmp \(Shell.quote(version))/big \(Shell.quote(version))/copy").succeeded)
        }
    }

    /// Virtual files answer SEEK_DATA / SEEK_HOLE as one extent of data and `cp` copies them whole; a sealed version's files
    /// refuse fallocate, also through a descriptor opened before sealing.
    @Test func virtualFilesSeekAsOneExtentAndSealedVersionsRefuse() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            try Shell.check("echo sealed > \(Shell.quote(version))/a.txt")
            let seeks = try Shell.check(
                """
                python3 -c 'import os,sys
                fd=os.open(sys.argv[1],os.O_RDONLY); size=os.fstat(fd).st_size
                print(os.lseek(fd,0,os.SEEK_DATA), os.lseek(fd,0,os.SEEK_HOLE)==size)
                try: os.lseek(fd,size+1,os.SEEK_DATA)
                except OSError as e: print(os.strerror(e.errno))' \(Shell.quote(version))/status.json
                """
            ).stdout
            #expect(seeks == "0 True\nNo such device or address\n", "\(seeks)")
            // `cp` of a virtual file within the mount (copy_file_range first, then read) copies it whole.
            try Shell.check("cp \(Shell.quote(version))/download_url \(Shell.quote(version))/url.copy")
            #expect(try Sys.readText(version + "/url.copy") == (try Sys.readText(version + "/download_url")))

            // A descriptor opened before sealing is refused too (the handle checks at each call).
            let early = try Shell.check(
                """
                python3 -c 'import os,subprocess,sys
                fd=os.open(sys.argv[1]+"/a.txt",os.O_WRONLY)
                subprocess.run(["chmod","a-w",sys.argv[1]],check=True)
                try: os.posix_fallocate(fd,0,1<<20); print("allocated")
                except OSError as e: print(os.strerror(e.errno))' \(Shell.quote(version))
                """
            ).stdout
            #expect(early == "Read-only file system\n", "\(early)")
            let refused = try Shell.run("fallocate -l 1M \(Shell.quote(version))/a.txt")
            #expect(!refused.succeeded && refused.stderr.contains("Read-only file system"), "\(refused)")
            #expect(try Sys.readText(version + "/a.txt") == "sealed\n")
        }
    }
}
