// A file created write-only is written past the kernel's page cache (direct I/O): through a real
// mount, a reader that opens the file mid-write still sees each later write, a file opened after
// the creator closed maps shared, and a file created for reading and writing keeps the page cache
// (and shared maps of its own handle).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Page cache of files being created")
struct CreatorPageCacheTests {
    /// Mounts, runs `script` with the path of `file` in a new version as its argument, and hands
    /// `check` the script's output and that path.
    private func runOnFile(_ file: String, _ script: String, check: (_ output: String, _ path: String) throws -> Void) throws {
        try withMount { fs in
            let path = try fs.makeVersion() + "/" + file
            try check(try Shell.python(script, path), path)
        }
    }

    /// Written through the page cache, each write(2) makes the kernel ask the daemon for the file's
    /// security.capability first (refused, as every attribute outside user.*): the daemon logs
    /// each refusal at trace level. A file created write-only is written without those questions.
    @Test func writesOfAFileCreatedWriteOnlyComeWithoutAttributeQuestions() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["CODEBEGENFS_LOG_LEVEL": "trace"]
            try fs.start()
            let v1 = try fs.makeVersion()
            let questions = { fs.logTail(10_000_000).components(separatedBy: "getxattr: ").count - 1 }
            let writeTwenty = """
                import os, sys
                fd = os.open(sys.argv[1], int(sys.argv[2]), 0o644)
                for i in range(20):
                    os.write(fd, b"line %d\\n" % i)
                os.close(fd)
                """
            let before = questions()
            _ = try Shell.python(writeTwenty, v1 + "/created.txt", "\(O_WRONLY | O_CREAT | O_EXCL)")
            usleep(200_000)
            #expect(questions() == before, "no question for the creator's writes")
            _ = try Shell.python(writeTwenty, v1 + "/created.txt", "\(O_WRONLY | O_APPEND)")
            usleep(200_000)
            #expect(questions() >= before + 20, "one question per write through the page cache")
            #expect(try Shell.check("wc -l < \(Shell.quote(v1))/created.txt").stdout == "40\n")
        }
    }

    @Test func aReaderOpenedWhileTheCreatorWritesSeesEveryLaterWrite() throws {
        try runOnFile(
            "growing.log",
            """
            import os, sys
            path = sys.argv[1]
            writer = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(writer, b"a" * 10)
            reader = os.open(path, os.O_RDONLY)
            print(os.pread(reader, 100, 0).decode())
            os.write(writer, b"b" * 10)  # into the page the reader has read
            print(os.pread(reader, 100, 0).decode())
            os.write(writer, b"c" * 5000)
            data = os.pread(reader, 10000, 0)
            print(len(data), data[-3:].decode(), data.count(b"\\0"))
            os.close(writer)
            print(os.pread(reader, 100, 15).decode())
            """
        ) { output, path throws in
            #expect(output == "aaaaaaaaaa\naaaaaaaaaabbbbbbbbbb\n5020 ccc 0\nbbbbb" + String(repeating: "c", count: 95) + "\n")
            #expect(try Sys.readText(path) == String(repeating: "a", count: 10) + String(repeating: "b", count: 10)
                + String(repeating: "c", count: 5000))
        }
    }

    /// Only the creator's own handle bypasses the cache: a file opened right after it closed (the
    /// daemon may not have seen the release yet) maps shared, and writes through the map land.
    @Test func aFileOpenedAfterItsCreatorClosedMapsShared() throws {
        try runOnFile(
            "mapped.bin",
            """
            import mmap, os, sys
            path = sys.argv[1]
            writer = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(writer, b"x" * 4096)
            reader = os.open(path, os.O_RDONLY)
            shared = mmap.mmap(reader, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
            print(shared[:3].decode())
            shared.close()
            os.close(reader)
            os.close(writer)
            again = os.open(path, os.O_RDWR)
            shared = mmap.mmap(again, 4096, mmap.MAP_SHARED)
            shared[:3] = b"abc"
            shared.flush()
            shared.close()
            os.close(again)
            print("mapped after close")
            """
        ) { output, path throws in
            #expect(output == "xxx\nmapped after close\n")
            #expect(try Shell.check("head -c 5 \(Shell.quote(path))").stdout == "abcxx")
        }
    }

    @Test func aFileCreatedForReadingAndWritingKeepsThePageCacheAndSharedMaps() throws {
        try runOnFile(
            "rw.bin",
            """
            import mmap, os, sys
            path = sys.argv[1]
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            os.write(fd, b"y" * 4096)
            shared = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
            shared[:4] = b"done"
            shared.flush()
            print(shared[:6].decode())
            shared.close()
            os.close(fd)
            """
        ) { output, path throws in
            #expect(output == "doneyy\n")
            #expect(try Shell.check("head -c 6 \(Shell.quote(path))").stdout == "doneyy")
        }
    }
}
