// A large version found in the bucket is catalogued as it is used: reading one file moves the
// TOC's tail and a few blocks, not the whole TOC; listings and `find` still show everything.
import Foundation
import Testing

@Suite(.serialized) struct RemoteTreeTests {
    static let version = "projects/big/generations/g1/v1"
    static let directories = 40
    static let filesPerDirectory = 500

    /// A tree of 20 000 small files with random names and content (so the TOC does not compress
    /// to nothing), a symlink, an empty and a nested directory; packed and put into the bucket.
    static func uploadLargeVersion(_ server: StorageServerProcess, work: String) throws -> (tree: String, tocBytes: Int) {
        let tree = work + "/tree"
        try Shell.check(
            """
            python3 - \(Shell.quote(tree)) \(directories) \(filesPerDirectory) <<'PY'
            import os, random, sys
            root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
            rng = random.Random(7)
            for d in range(dirs):
                os.makedirs(f"{root}/d{d:04d}")
                for i in range(files):
                    name = f"f{i:04d}-{rng.getrandbits(64):016x}.txt"
                    with open(f"{root}/d{d:04d}/{name}", "w") as out:
                        out.write(f"{d} {i} {rng.getrandbits(128):032x}\\n")
            os.makedirs(f"{root}/empty")
            os.makedirs(f"{root}/deep/er/still")
            with open(f"{root}/deep/er/still/leaf.txt", "w") as out: out.write("leaf\\n")
            os.symlink("deep/er/still/leaf.txt", f"{root}/link")
            PY
            """)
        let binary = Shell.quote(try MountedFS.binaryPath())
        try Shell.check("\(binary) pack \(Shell.quote(tree)) \(Shell.quote(work))/v1.tar.gz")
        try server.upload("\(work)/v1.tar.gz", as: "\(version).tar.gz", contentType: "application/gzip")
        try server.upload("\(work)/v1.toc.json", as: "\(version).toc.json", contentType: "application/octet-stream")
        let tocBytes = try FileManager.default.attributesOfItem(atPath: "\(work)/v1.toc.json")[.size] as? Int ?? 0
        return (tree, tocBytes)
    }

    /// Bytes the server sent for keys ending in `suffix`, in the log entries after the first `skip`.
    static func bytesSent(_ server: StorageServerProcess, for suffix: String, after skip: Int = 0) -> (requests: Int, bytes: Int) {
        let matching = server.accessLog().dropFirst(skip).filter {
            $0["method"] as? String == "GET" && ($0["path"] as? String)?.hasSuffix(suffix) == true
        }
        return (matching.count, matching.reduce(0) { $0 + ($1["bytes_sent"] as? Int ?? 0) })
    }

    /// Lines only one of two listings has, for a readable failure.
    static func difference(_ a: String, _ b: String) -> String {
        let (left, right) = (Set(a.split(separator: "\n")), Set(b.split(separator: "\n")))
        return "only in the mount: \(left.subtracting(right).sorted().prefix(5)); only in the tree: \(right.subtracting(left).sorted().prefix(5))"
    }

    /// `find` output that names types, modes, sizes (not of directories) and mtimes (to the second) of a
    /// tree, without a version's virtual files.
    static func listing(_ root: String) throws -> String {
        let time = "%TY-%Tm-%Td+%TH:%TM:%.2TS"
        return try Shell.check(
            "cd \(Shell.quote(root)) && find . -mindepth 1 \\( -path ./download_url -o -path ./status.json \\) -prune -o \\( -type d -printf '%y %m \(time) %P\\n' \\)"
                + " -o -printf '%y %m %s \(time) %P %l\\n' | LC_ALL=C sort"
        ).stdout
    }

    @Test func readingOneFileOfALargeVersionFetchesAFewTOCBlocksAndListingsShowEverything() throws {
        let server = try StorageServerProcess()
        let work = try makeTemporaryDirectory(prefix: "mt-remote-tree")
        defer { removeTree(work) }
        let (tree, tocBytes) = try Self.uploadLargeVersion(server, work: work)
        try #require(tocBytes > 400_000, "a TOC of many blocks (\(tocBytes) bytes)")
        let wanted = try Shell.check("cd \(Shell.quote(tree)) && ls d0017 | sed -n 123p").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        try withMount("RemoteTree", start: false) { fs in
            fs.environmentOverrides = TwoMountsTests.environment(server)
            try fs.start()
            let version = fs.path(Self.version)
            #expect(try Sys.readText("\(version)/d0017/\(wanted)") == (try Sys.readText("\(tree)/d0017/\(wanted)")))

            // Discovery and the read moved the TOC's 64 KiB tail and the blocks on the path, and
            // one small range of the archive.
            let toc = Self.bytesSent(server, for: "v1.toc.json")
            #expect(toc.bytes < tocBytes / 4, "\(toc) of a \(tocBytes)-byte TOC")
            #expect(toc.requests <= 4, "\(toc)")
            let archive = Self.bytesSent(server, for: "v1.tar.gz")
            #expect(archive.requests == 1 && archive.bytes < 64 * 1024, "\(archive)")
            let log = fs.logTail(1_000_000)
            #expect(log.contains("found \(Self.version) in the bucket (\(Self.directories * Self.filesPerDirectory + Self.directories + 6) entries)"), "\(log)")

            // Listings and find show the whole tree, as written.
            #expect(try Shell.check("ls \(Shell.quote(version))/d0017").stdout
                == (try Shell.check("ls \(Shell.quote(tree))/d0017").stdout))
            let (mounted, written) = (try Self.listing(version), try Self.listing(tree))
            #expect(mounted == written, "\(Self.difference(mounted, written))")
            #expect(try Shell.check("readlink \(Shell.quote(version))/link").stdout == "deep/er/still/leaf.txt\n")
            #expect(try Sys.readText("\(version)/link") == "leaf\n")
            #expect(try Shell.check("cat \(Shell.quote(version))/d0039/* | md5sum").stdout
                == (try Shell.check("cat \(Shell.quote(tree))/d0039/* | md5sum").stdout))
            // Absent names are absent, below files too.
            let absent = try Shell.run("ls \(Shell.quote(version))/d0017/nothing \(Shell.quote(version))/link/x")
            #expect(!absent.succeeded && absent.stderr.contains("No such file or directory"), "\(absent)")
            // Nothing was fetched twice: the whole TOC crossed the network at most once in all.
            let ranges = server.accessLog().filter { $0["method"] as? String == "GET" && ($0["path"] as? String)?.hasSuffix("v1.toc.json") == true }.map { "\($0["range"] ?? "-")" }
            #expect(Set(ranges).count == ranges.count, "a TOC range fetched twice: \(ranges)")
            #expect(Self.bytesSent(server, for: "v1.toc.json").bytes <= tocBytes + 64 * 1024)

            // A remount keeps what was catalogued, and what was not still comes on demand.
            #expect(try fs.stop() == 0)
            try fs.start()
            #expect(try Sys.readText("\(version)/d0017/\(wanted)") == (try Sys.readText("\(tree)/d0017/\(wanted)")))
            #expect(try Self.listing(version) == (try Self.listing(tree)))
        }
    }

    @Test func aDirectoryThatCannotBeReadFromTheBucketFailsWithEIOAndWorksOnceItIsBack() throws {
        let server = try StorageServerProcess()
        let work = try makeTemporaryDirectory(prefix: "mt-remote-tree-down")
        defer { removeTree(work) }
        let (tree, _) = try Self.uploadLargeVersion(server, work: work)
        try withMount("RemoteTreeDown", start: false) { fs in
            fs.environmentOverrides = TwoMountsTests.environment(server)
            try fs.start()
            let version = fs.path(Self.version)
            #expect(try Shell.check("ls \(Shell.quote(version))/d0001 | wc -l").stdout == "\(Self.filesPerDirectory)\n")
            server.stop()

            // Listed before: still lists. Not yet read: EIO, not an empty or missing directory.
            #expect(try Shell.check("ls \(Shell.quote(version))/d0001 | wc -l").stdout == "\(Self.filesPerDirectory)\n")
            let failed = try Shell.run("ls \(Shell.quote(version))/d0030")
            #expect(!failed.succeeded && failed.stderr.contains("Input/output error"), "\(failed)")
            #expect(fs.logTail(100_000).contains("reading the TOC of \(Self.version) failed"))
            let error = try fs.status(Self.version)["last_read_error"] as? [String: Any]
            #expect((error?["message"] as? String)?.contains("reading the TOC of \(Self.version)") == true, "\(String(describing: error))")

            try server.start()
            #expect(try Shell.check("ls \(Shell.quote(version))/d0030").stdout
                == (try Shell.check("ls \(Shell.quote(tree))/d0030").stdout))
        }
    }
}
