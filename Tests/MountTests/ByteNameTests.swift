// File names are bytes (issue "file names are bytes"): on Linux a name is any bytes but `/` and
// NUL. A tree of names that are not UTF-8, hold control characters, are 255 bytes long, or lie
// under a path longer than PATH_MAX, with symlink targets that are not UTF-8, must come back
// byte for byte, with the user.* attributes of some entries (values of any bytes): through the
// mount, in the local archive, from the bucket in a second mount and in the first after clean-up. status.json stays valid JSON and names such files escaped.
// The walks are done by Python (ByteNames.script) so that no name goes through a Swift String.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct ByteNameTests {
    static let v1 = "projects/p1/generations/g1/v1"
    /// `bad-\xff\xfe.txt` as bytes, and as the status and the log should name it.
    static let badName: [UInt8] = Array("bad-".utf8) + [0xff, 0xfe] + Array(".txt".utf8)
    static let badNameEscaped = #"bad-\xff\xfe.txt"#

    /// A temporary directory holding the script and a plain reference copy of the tree (in
    /// `<dir>/ref`); returns (script, reference walk).
    static func prepareReference(_ dir: String) throws -> (script: String, walk: [String]) {
        let script = try ByteNames.scriptPath(in: dir)
        #expect(Sys.mkdir(dir + "/ref") == .ok)
        try ByteNames.run(script, ["make", dir + "/ref"])
        let walk = try ByteNames.run(script, ["walk", dir + "/ref"])
        // 19 files, 3 directories and 3 links at the top, deep/ with 30 levels, a file and a link.
        #expect(walk.count == 58, "the reference tree has every entry: \(walk.count)")
        return (script, walk)
    }

    /// Records every difference between a walk and the reference, labelled.
    static func expectSameWalk(_ got: [String], _ expected: [String], _ what: String) {
        let diffs = ByteNames.differences(got, expected, labels: (what, "reference"))
        #expect(diffs.isEmpty, "\(what): \(diffs.count) entries differ from what was written:\n\(diffs.prefix(20).joined(separator: "\n"))")
    }

    /// The version's status.json, parsed; records the raw text (escaped) when it is not JSON.
    static func parsedStatus(_ fs: MountedFS, _ version: String, _ what: String) throws -> [String: Any]? {
        let bytes = try Sys.readFile(fs.path(version + "/status.json"))
        let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        if object == nil {
            Issue.record("\(what): \(version)/status.json is not a JSON object: \(ByteNames.escaped(bytes).prefix(3000))")
        }
        return object
    }

    /// tar's complaints about names it cannot create (paths past PATH_MAX) and the pax keyword
    /// it does not know; anything else it says is a failure.
    static func unexpectedTarMessages(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter {
            !$0.contains("File name too long") && !$0.contains("hdrcharset")
                && !$0.contains("Exiting with failure status due to previous errors")
        }
    }

    static func name(_ count: Int) -> String { String(repeating: "n", count: count) }

    @Test func byteNamesRoundTripThroughTheMountAndTheLocalArchive() throws {
        let work = try makeTemporaryDirectory(prefix: "mt-bytenames")
        defer { removeTree(work) }
        let (script, reference) = try Self.prepareReference(work)
        try withMount { fs in
            let v = try fs.makeVersion()
            try ByteNames.run(script, ["make", v])

            // 1. Through the mount, right after writing.
            Self.expectSameWalk(try ByteNames.run(script, ["walk", v]), reference, "the mount after writing")
            #expect(try Self.parsedStatus(fs, Self.v1, "with the tree written") != nil)

            // 255 bytes is the longest name; 256 is refused with ENAMETOOLONG, as by ext4.
            #expect(Sys.writeFile(v + "/" + Self.name(255) , "x") == .ok, "a 255-byte name")
            #expect(Sys.unlink(v + "/" + Self.name(255)) == .ok)
            #expect(Sys.openOutcome(v + "/" + Self.name(256), O_WRONLY | O_CREAT) == .ENAMETOOLONG, "create, 256 bytes")
            #expect(Sys.mkdir(v + "/" + Self.name(256)) == .ENAMETOOLONG, "mkdir, 256 bytes")
            #expect(Sys.symlink("x", v + "/" + Self.name(256)) == .ENAMETOOLONG, "symlink, 256 bytes")
            #expect(Sys.rename(v + "/-rf", v + "/" + Self.name(256)) == .ENAMETOOLONG, "rename to 256 bytes")
            #expect(Sys.lstatOutcome(v + "/" + Self.name(256)) == .ENAMETOOLONG, "lookup, 256 bytes")
            #expect(Sys.exists(v + "/-rf"))

            // 6. user.* values of any bytes, NUL included, on a file in the version...
            let problems = try ByteNames.run(script, ["xattrs", v + "/a..b"])
            #expect(problems.isEmpty, "xattr values on a file do not round-trip:\n\(problems.joined(separator: "\n"))")
            // ... and as version metadata: status.json stays JSON and lists both keys.
            try ByteNames.run(script, ["version-xattrs", v])
            let status = try Self.parsedStatus(fs, Self.v1, "with metadata holding a NUL and non-UTF-8 bytes")
            let metadata = status?["metadata"] as? [String: Any]
            #expect(metadata?["with-nul"] != nil && metadata?["not-utf8"] != nil,
                "metadata keys with-nul and not-utf8 in status.json: \(String(describing: status?["metadata"]))")

            // 2. The local archive.
            try fs.waitForStatus(Self.v1, "completed") { $0["status"] as? String == "completed" }
            _ = try Self.parsedStatus(fs, Self.v1, "completed")
            let url = try Sys.readText(v + "/download_url").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.hasPrefix("file:///"), "\(url)")
            let archive = String(url.dropFirst("file://".count))

            // Python's tarfile reads every member name as bytes, the one past PATH_MAX included,
            // and the extended attributes (SCHILY.xattr records) of those that have some.
            let members = try ByteNames.run(script, ["tar", archive])
            let expectedMembers = try ByteNames.run(script, ["walk-as-members", work + "/ref"])
            let memberDiffs = ByteNames.differences(members, expectedMembers, labels: ("archive", "reference"))
            #expect(memberDiffs.isEmpty,
                "archive members (name, type, mode, content, link target as bytes) differ:\n\(memberDiffs.prefix(20).joined(separator: "\n"))")

            // GNU tar extracts the same tree, extended attributes included, except the part of deep/ whose paths are longer than
            // it can create (PATH_MAX, 4096 bytes): that subtree is left out of this comparison
            // only (tarfile above checks its names), and tar's "File name too long" is expected.
            // mtimes are compared to the second here: the headers hold whole seconds by design
            // (docs/STORAGE_FORMAT.md; the nanoseconds are in the TOC, checked by the bucket test).
            let extracted = try makeTemporaryDirectory(prefix: "mt-bytenames-x")
            defer { removeTree(extracted) }
            let tar = try Shell.run(
                "tar --xattrs --xattrs-include='user.*' -xzf \(Shell.quote(archive)) -C \(Shell.quote(extracted))")
            let unexpected = Self.unexpectedTarMessages(tar.stderr)
            #expect(unexpected.isEmpty, "tar -xzf: \(unexpected.prefix(5).map { String($0.prefix(300)) })")
            #expect(tar.status == 0 || tar.status == 2, "tar -xzf exited \(tar.status)")
            Self.expectSameWalk(
                try ByteNames.run(script, ["walk-short", extracted]),
                try ByteNames.run(script, ["walk-short", work + "/ref"]), "GNU tar's extraction of the archive")
        }
    }

    @Test func byteNamesComeBackFromTheBucketAndReadErrorsNameThemEscaped() throws {
        let server = try StorageServerProcess()
        let work = try makeTemporaryDirectory(prefix: "mt-bytenames")
        defer { removeTree(work) }
        let (script, reference) = try Self.prepareReference(work)
        try withMount("ByteBucketA", timeout: 400, start: false) { a in
            a.environmentOverrides = TwoMountsTests.environment(server).merging(["CACHE_TTL_HOURS": "0"]) { $1 }
            try a.start()
            let v = try a.makeVersion()
            try ByteNames.run(script, ["make", v])
            Self.expectSameWalk(try ByteNames.run(script, ["walk", v]), reference, "the first mount after writing")
            // Version metadata with values that are any bytes (the TOC carries them base64).
            try Shell.check(
                "python3 -c \"import os, sys; os.setxattr(sys.argv[1], 'user.not-utf8', b'\\xff\\xfe-x'); "
                    + "os.setxattr(sys.argv[1], 'user.with-nul', b'a\\x00b')\" \(Shell.quote(v))")
            try Shell.check("chmod a-w \(Shell.quote(v))")  // sealed: its final snapshot is the one uploaded
            try a.waitForStatus(Self.v1, "uploaded", timeout: 120) { uploadState($0) == "uploaded" }

            // 3. A second mount reads the version from the bucket.
            try withMount("ByteBucketB", start: false) { b in
                b.environmentOverrides = TwoMountsTests.environment(server)
                try b.start()
                Self.expectSameWalk(try ByteNames.run(script, ["walk", b.path(Self.v1)]), reference, "the second mount")
                _ = try Self.parsedStatus(b, Self.v1, "second mount")
                let values = try Shell.check(
                    "python3 -c \"import os, sys; print(os.getxattr(sys.argv[1], 'user.not-utf8').hex(), "
                        + "os.getxattr(sys.argv[1], 'user.with-nul').hex())\" \(Shell.quote(b.path(Self.v1)))").stdout
                #expect(values.trimmingCharacters(in: .whitespacesAndNewlines) == "fffe2d78 610062", "metadata bytes from the TOC: \(values)")
            }

            // 5. With the content only in the bucket and the bucket gone, a read fails with EIO,
            // and status.json (still JSON) and the log name the file escaped.
            try RemoteReadTests.waitUntilOnlyInTheBucket(a, Self.v1)
            server.stop()
            let bad = BytePath(Self.badName).under(v)
            var outcome = Outcome.ok
            do { _ = try ByteSys.readFile(bad) } catch let error as OutcomeError { outcome = error.outcome }
            #expect(outcome == .EIO, "reading bad-\\xff\\xfe.txt with the bucket stopped")
            let status = try Self.parsedStatus(a, Self.v1, "after the failed read")
            let message = (status?["last_read_error"] as? [String: Any])?["message"] as? String
            #expect(message?.contains(Self.badNameEscaped) == true,
                "last_read_error.message names \(Self.badNameEscaped) with literal \\x escapes: \(String(describing: status?["last_read_error"]))")
            let log = ByteNames.lossyText(a.logPath)
            let lines = log.split(separator: "\n").filter { $0.contains("from the bucket failed") }
            #expect(lines.contains { $0.contains(Self.badNameEscaped) },
                "a daemon log line names \(Self.badNameEscaped): \(lines.suffix(5).map { ByteNames.escaped(Array($0.utf8)) })")

            // 4. Once the bucket is back, the first mount reads everything from it.
            try server.start()
            Self.expectSameWalk(try ByteNames.run(script, ["walk", v]), reference, "the first mount after clean-up")
            _ = try Self.parsedStatus(a, Self.v1, "after reading back from the bucket")
        }
    }
}
