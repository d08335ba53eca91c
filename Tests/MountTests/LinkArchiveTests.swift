// Hard links and special files in archives and in the bucket (DESIGN §3): a file of several
// names is stored once, under the name first in byte order, with tar hard-link entries for the
// others; FIFOs and devices are tar entries; sockets are left out and counted in status.json.
// A version read back from the bucket — by a second mount, and by the first once clean-up has
// removed its local copy — has the same links and special files.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct LinkArchiveTests {
    static let v1 = "projects/p1/generations/g1/v1"
    static let payloadBytes = 200_000

    /// In `v`: `sub/orig.txt` (written first) with a second name `alias.txt` (first in byte
    /// order), a plain file, a FIFO, two devices and a socket. Returns the linked file's content.
    static func makeTree(_ v: String) throws -> [UInt8] {
        let content = patternBytes(count: payloadBytes, seed: 31)
        #expect(Sys.mkdir(v + "/sub") == .ok)
        #expect(Sys.writeFile(v + "/sub/orig.txt", content) == .ok)
        #expect(Sys.link(v + "/sub/orig.txt", v + "/alias.txt") == .ok)
        #expect(Sys.writeFile(v + "/plain.txt", "plain\n") == .ok)
        try Shell.check("mkfifo -m 640 pipe && mknod -m 600 null c 1 3 && mknod -m 660 loop b 7 0", cwd: v)
        #expect(try SpecialFileTests.bindAndTalk(v, "sock") == "23000 True True\n")
        return content
    }

    /// The lines of `tar -tvzf` of an archive (given as a file path or an http URL).
    static func tarListing(_ archive: String) throws -> [String] {
        let command = archive.hasPrefix("http")
            ? "curl -sf \(Shell.quote(archive)) | tar -tvz" : "tar -tvzf \(Shell.quote(archive))"
        return try Shell.check(command).stdout.split(separator: "\n").map(String.init)
    }

    /// The listing has the linked file once with its data, the other name as a hard link to it,
    /// the FIFO and the devices with their modes and numbers, and no socket.
    static func expectArchiveEntries(_ lines: [String], _ what: String) {
        let listing = "\(what):\n" + lines.joined(separator: "\n")
        func line(_ name: String) -> String? {
            lines.first { $0.hasSuffix(" " + name) || $0.contains(" " + name + " link to ") }
        }
        #expect(
            line("sub/orig.txt")?.hasPrefix("h") == true && line("sub/orig.txt")?.hasSuffix(" sub/orig.txt link to alias.txt") == true,
            "sub/orig.txt is a hard link to alias.txt (first in byte order): \(listing)")
        let alias = line("alias.txt")
        #expect(alias?.hasPrefix("-rw-r--r--") == true && alias?.contains(" \(payloadBytes) ") == true,
            "alias.txt carries the \(payloadBytes) bytes: \(listing)")
        #expect(line("pipe")?.hasPrefix("prw-r-----") == true, "the FIFO: \(listing)")
        #expect(line("null")?.hasPrefix("crw-------") == true && line("null")?.contains(" 1,3 ") == true, "the character device: \(listing)")
        #expect(line("loop")?.hasPrefix("brw-rw----") == true && line("loop")?.contains(" 7,0 ") == true, "the block device: \(listing)")
        #expect(!lines.contains { $0.contains("sock") }, "no socket: \(listing)")
        #expect(line("plain.txt")?.hasPrefix("-") == true, "\(listing)")
    }

    /// `sockets_left_out` of a version's status.json: an integer in the JSON text and its value.
    static func socketsLeftOut(_ fs: MountedFS, _ version: String) throws -> Int? {
        let text = try Sys.readText(fs.path(version + "/status.json"))
        guard text.range(of: #""sockets_left_out"\s*:\s*[0-9]+\s*[,}\n]"#, options: .regularExpression) != nil else {
            Issue.record("\(version)/status.json has no integer sockets_left_out: \(text)")
            return nil
        }
        return try fs.status(version)["sockets_left_out"] as? Int
    }

    /// What a mount shows of the version `root` read from the bucket.
    /// `keepsSocket`: the mount that made the version still shows its socket after clean-up (only
    /// content moves to the bucket; names stay); other mounts never see it.
    static func expectReadBack(_ root: String, _ content: [UInt8], _ what: String, keepsSocket: Bool = false) throws {
        // alias.txt first, before sub/ is looked up: its count already knows the other name.
        let alias = try #require(NodeStat.of(root + "/alias.txt"), "\(what): alias.txt")
        #expect(alias.type == S_IFREG && alias.nlink == 2, "\(what): alias.txt \(alias)")
        let orig = try #require(NodeStat.of(root + "/sub/orig.txt"), "\(what): sub/orig.txt")
        #expect(orig.inode == alias.inode && orig.nlink == 2, "\(what): sub/orig.txt \(orig), alias.txt \(alias)")
        #expect(try Sys.readFile(root + "/alias.txt") == content, "\(what): alias.txt content")
        #expect(try Sys.readFile(root + "/sub/orig.txt") == content, "\(what): sub/orig.txt content")
        #expect(try Sys.readText(root + "/plain.txt") == "plain\n", "\(what)")
        let pipe = NodeStat.of(root + "/pipe")
        #expect(pipe?.type == S_IFIFO && pipe?.perm == 0o640, "\(what): pipe \(String(describing: pipe))")
        let null = NodeStat.of(root + "/null")
        #expect(null?.type == S_IFCHR && null?.perm == 0o600 && null?.major == 1 && null?.minor == 3,
            "\(what): null \(String(describing: null))")
        let loop = NodeStat.of(root + "/loop")
        #expect(loop?.type == S_IFBLK && loop?.perm == 0o660 && loop?.major == 7 && loop?.minor == 0,
            "\(what): loop \(String(describing: loop))")
        if keepsSocket {
            #expect(NodeStat.of(root + "/sock")?.type == S_IFSOCK, "\(what): the socket stays where it was made")
        } else {
            #expect(Sys.lstatOutcome(root + "/sock") == .ENOENT, "\(what): the socket is not in the bucket")
        }
        let names = ["alias.txt", "loop", "null", "pipe", "plain.txt"] + (keepsSocket ? ["sock"] : []) + ["sub"]
        #expect(Sys.list(root)?.filter { !isVersionRootVirtual($0) } == names, "\(what)")
        // A directory of a version from the bucket reports 1 link until it has been listed
        // (SEMANTICS: it tells `find` not to count on link counts there); the first walk lists
        // every directory, the second checks the counts.
        _ = try LinkFacts.walk(root)
        let problems = LinkFacts.linkCountProblems(try LinkFacts.walk(root))
        #expect(problems.isEmpty, "\(what), once every directory was listed: \(problems)")
    }

    @Test func theArchiveHasHardLinkFIFOAndDeviceEntriesAndCountsLeftOutSockets() throws {
        try withMount { fs in
            let v = try fs.makeVersion()
            let content = try Self.makeTree(v)
            try fs.waitForStatus(Self.v1, "completed") { $0["status"] as? String == "completed" }
            let url = try Sys.readText(v + "/download_url").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.hasPrefix("file:///"), "\(url)")
            let archive = String(url.dropFirst("file://".count))
            Self.expectArchiveEntries(try Self.tarListing(archive), "tar -tvzf \(archive)")
            #expect(try Self.socketsLeftOut(fs, Self.v1) == 1)

            // Extracted (as root), the archive gives back the links and nodes.
            let extracted = try makeTemporaryDirectory(prefix: "mt-link-archive")
            defer { removeTree(extracted) }
            try Shell.check("tar -xzf \(Shell.quote(archive)) -C \(Shell.quote(extracted))")
            let alias = NodeStat.of(extracted + "/alias.txt")
            #expect(alias?.nlink == 2 && NodeStat.of(extracted + "/sub/orig.txt")?.inode == alias?.inode, "\(String(describing: alias))")
            #expect(try Sys.readFile(extracted + "/sub/orig.txt") == content)
            #expect(NodeStat.of(extracted + "/pipe")?.type == S_IFIFO)
            #expect(NodeStat.of(extracted + "/null").map { $0.type == S_IFCHR && $0.major == 1 && $0.minor == 3 } == true)
            #expect(NodeStat.of(extracted + "/loop").map { $0.type == S_IFBLK && $0.major == 7 && $0.minor == 0 } == true)
            #expect(!Sys.exists(extracted + "/sock"))

            // A version without sockets says 0; removing the socket brings v1 to 0.
            let other = try fs.makeVersion(generation: "g2")
            #expect(Sys.writeFile(other + "/f", "f") == .ok)
            try fs.waitForStatus("projects/p1/generations/g2/v1", "completed") { $0["status"] as? String == "completed" }
            #expect(try Self.socketsLeftOut(fs, "projects/p1/generations/g2/v1") == 0)
            #expect(Sys.unlink(v + "/sock") == .ok)
            _ = try Sys.readText(v + "/download_url")  // snapshots first
            try fs.waitForStatus(Self.v1, "completed") { $0["status"] as? String == "completed" }
            #expect(try Self.socketsLeftOut(fs, Self.v1) == 0)
        }
    }

    @Test func aSecondMountAndTheFirstAfterCleanUpReadLinksAndSpecialFilesFromTheBucket() throws {
        let server = try StorageServerProcess()
        try withMount("LinkBucketA", timeout: 300, start: false) { a in
            a.environmentOverrides = TwoMountsTests.environment(server).merging(["CACHE_TTL_HOURS": "0"]) { $1 }
            try a.start()
            let v = try a.makeVersion()
            let content = try Self.makeTree(v)
            try Shell.check("chmod a-w \(Shell.quote(v))")  // sealed: its final snapshot is the one uploaded
            try a.waitForStatus(Self.v1, "uploaded") { uploadState($0) == "uploaded" }
            #expect(try Self.socketsLeftOut(a, Self.v1) == 1)

            try withMount("LinkBucketB", start: false) { b in
                b.environmentOverrides = TwoMountsTests.environment(server)
                try b.start()
                try Self.expectReadBack(b.path(Self.v1), content, "second mount")
                let url = try Sys.readText(b.path(Self.v1 + "/download_url")).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(url.hasPrefix("http://127.0.0.1:"), "\(url)")
                Self.expectArchiveEntries(try Self.tarListing(url), "the archive in the bucket")
            }

            try RemoteReadTests.waitUntilOnlyInTheBucket(a, Self.v1)
            try Self.expectReadBack(v, content, "first mount after clean-up", keepsSocket: true)
        }
    }
}
