// Reads from the bucket (DESIGN §6): clean-up leaves uploaded versions' content in the bucket,
// reads fetch just the file's members into the cache, a write brings a version back to local
// disk, and a read that cannot reach the remote fails with EIO and says why in status.json.
import Foundation
import Testing

@Suite(.serialized) struct RemoteReadTests {
    static let v1 = "projects/p1/generations/g1/v1"

    /// A version of 12 incompressible 2 MiB files, a small text file, a subdirectory and a symlink.
    static func writeLargeVersion(_ fs: MountedFS, into source: String) throws -> String {
        try Shell.check(
            """
            set -e; cd \(Shell.quote(source)); mkdir -p sub
            for i in $(seq 12); do head -c 2097152 /dev/urandom > big$i.bin; done
            seq 1 2000 > small.txt; echo nested > sub/nested.txt; ln -s small.txt link
            chmod 644 big*.bin small.txt; chmod 640 sub/nested.txt
            """)
        let version = try fs.makeVersion()
        try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(version))/")
        return version
    }

    /// Uploaded, then its local copy removed by clean-up.
    static func waitUntilOnlyInTheBucket(_ fs: MountedFS, _ version: String) throws {
        try fs.waitForStatus(version, "uploaded without a local copy") {
            uploadState($0) == "uploaded" && $0["local_copy"] as? Bool == false
        }
    }

    /// Runs `body` on a mount (CACHE_TTL_HOURS=0) whose v1, written from `source` by
    /// `writeLargeVersion`, is uploaded and left only in the bucket by clean-up.
    static func withCleanedUpVersion(
        _ label: String = #function, server: StorageServerProcess,
        _ body: (_ fs: MountedFS, _ source: String, _ version: String) throws -> Void
    ) throws {
        let source = try makeTemporaryDirectory(prefix: "mt-rr-src")
        defer { removeTree(source) }
        try withMount(label, start: false) { fs in
            fs.environmentOverrides = server.environment.merging(["CACHE_TTL_HOURS": "0"]) { $1 }
            try fs.start()
            let version = try writeLargeVersion(fs, into: source)
            try waitUntilOnlyInTheBucket(fs, v1)
            try body(fs, source, version)
        }
    }

    static func regularFiles(under path: String) throws -> Int {
        Int(try Shell.check("find \(Shell.quote(path)) -type f | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func cleanUpLeavesOnlyTheBucketAndReadsFetchIdenticalBytes() throws {
        let server = try StorageServerProcess()
        try Self.withCleanedUpVersion(server: server) { fs, source, version in
            #expect(try fs.contentBlobs().count == 0, "blobs left after clean-up")
            #expect(!FileManager.default.fileExists(atPath: fs.dataDir + "/archives/\(Self.v1).tar.gz"))

            // The tree still shows everything, and every byte reads back from the bucket.
            #expect(try Shell.check("cd \(Shell.quote(version)) && stat -c '%n %s %a' big1.bin small.txt sub/nested.txt").stdout
                == "big1.bin 2097152 644\nsmall.txt 8893 644\nsub/nested.txt 7 640\n")
            #expect(try Shell.check("readlink \(Shell.quote(version))/link").stdout == "small.txt\n")
            try Shell.check("cmp \(Shell.quote(source))/small.txt \(Shell.quote(version))/small.txt")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(version)) -x status.json -x download_url")

            // A signed URL is still answered, and the archive behind it is complete.
            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout.trimmingCharacters(in: .newlines)
            #expect(url.hasPrefix("http://127.0.0.1:"), "\(url)")
            #expect(try Shell.check("curl -sf \(Shell.quote(url)) | tar -tz | sort | tr '\\n' ' '").stdout
                == "big1.bin big10.bin big11.bin big12.bin big2.bin big3.bin big4.bin big5.bin big6.bin big7.bin big8.bin big9.bin link small.txt sub/ sub/nested.txt ")

            // With a TTL of 0 the fetched copies go too once nothing has them open.
            let deadline = Date().addingTimeInterval(30)
            while try Self.regularFiles(under: fs.dataDir + "/cache") > 0, Date() < deadline { usleep(200_000) }
            #expect(try Self.regularFiles(under: fs.dataDir + "/cache") == 0, "cached fetches were not cleaned up")
            try Shell.check("cmp \(Shell.quote(source))/big7.bin \(Shell.quote(version))/big7.bin")

            // What clean-up left in the bucket is still read the same after a remount.
            #expect(try fs.stop() == 0)
            try fs.start()
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(version)) -x status.json -x download_url")
        }
    }

    @Test func concurrentReadersShareOneFetchOfJustTheFilesMembers() throws {
        // 300 ms per request: eight readers started together all arrive while the first fetch runs.
        let server = try StorageServerProcess(latencyMs: 300)
        try Self.withCleanedUpVersion(server: server) { fs, source, version in
            let readers = (1...8).map { "cat \(Shell.quote(version))/big9.bin > \(Shell.quote(fs.root))/read.\($0) &" }
            try Shell.check(readers.joined(separator: " ") + " wait")
            for index in 1...8 {
                try Shell.check("cmp \(Shell.quote(source))/big9.bin \(Shell.quote(fs.root))/read.\(index)")
            }
            let fetches = fs.logTail(1_000_000).components(separatedBy: "\n").filter { $0.contains("fetched big9.bin of") }
            #expect(fetches.count == 1, "\(fetches)")

            // A 8.9 KB file of a 25 MB version moves one small member, not the archive: the server
            // saw one Range request of a few KB (and the mount logs the same).
            let seenBefore = server.accessLog().count
            try Shell.check("cmp \(Shell.quote(source))/small.txt \(Shell.quote(version))/small.txt")
            let requests = server.accessLog().dropFirst(seenBefore)
            let sent = requests.reduce(0) { $0 + ($1["bytes_sent"] as? Int ?? 0) }
            #expect(requests.count == 1 && requests.allSatisfy { $0["status"] as? Int == 206 && $0["range"] is String }, "\(requests)")
            #expect(sent > 0 && sent < 16_384, "\(requests)")
            let archive = try fs.status(Self.v1)["archive_bytes"] as? Int ?? 0
            #expect(archive > 25_000_000)
            let line = fs.logTail(1_000_000).components(separatedBy: "\n").last { $0.contains("fetched small.txt of") } ?? ""
            #expect(line.hasSuffix(": \(sent) bytes in 1 requests"), "\(line)")
        }
    }

    @Test func theSizeLimitRemovesTheLeastRecentlyUsedCopiesFirst() throws {
        let server = try StorageServerProcess()
        let sources = try (1...2).map { try makeTemporaryDirectory(prefix: "mt-rr-lru\($0)") }
        defer { sources.forEach(removeTree) }
        try withMount(start: false) { fs in
            // Each version is 12 MiB of files plus a 12 MiB archive: one fits in 30 MB, two do not.
            fs.environmentOverrides = server.environment.merging(["CACHE_MAX_BYTES": "30000000"]) { $1 }
            try fs.start()
            for (index, source) in sources.enumerated() {
                try Shell.check("cd \(Shell.quote(source)) && for i in $(seq 6); do head -c 2097152 /dev/urandom > f$i.bin; done")
                let version = try fs.makeVersion(generation: "g\(index + 1)")
                try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(version))/")
                try fs.waitForStatus("projects/p1/generations/g\(index + 1)/v1", "uploaded") { uploadState($0) == "uploaded" }
            }
            try fs.waitForStatus("projects/p1/generations/g1/v1", "cleaned up") { $0["local_copy"] as? Bool == false }
            sleep(6)  // another clean-up pass: the newer version stays, the limit is met
            #expect(try fs.status("projects/p1/generations/g2/v1")["local_copy"] as? Bool == true)
            let used = (try fs.status("")["cache"] as? [String: Any])?["bytes_used"] as? Int ?? -1
            #expect(used > 24_000_000 && used <= 30_000_000, "bytes_used \(used)")

            // Reading g1 back puts 12 MiB in the cache, used more recently than g2's copy: g2 goes.
            try Shell.check("diff -r \(Shell.quote(sources[0])) \(Shell.quote(fs.path("projects/p1/generations/g1/v1"))) -x status.json -x download_url")
            try fs.waitForStatus("projects/p1/generations/g2/v1", "cleaned up") { $0["local_copy"] as? Bool == false }
            #expect(try Self.regularFiles(under: fs.dataDir + "/cache") == 6)
        }
    }

    @Test func dataNotYetUploadedIsNeverCleanedUp() throws {
        let server = try StorageServerProcess()
        let source = try makeTemporaryDirectory(prefix: "mt-rr-keep")
        defer { removeTree(source) }
        try withMount(start: false) { fs in
            fs.environmentOverrides = server.environment.merging(["CACHE_TTL_HOURS": "0", "CACHE_MAX_BYTES": "0"]) { $1 }
            try fs.start()
            server.stop()
            _ = try Self.writeLargeVersion(fs, into: source)
            try fs.waitForStatus(Self.v1, "snapshotted") { $0["status"] as? String == "completed" }
            sleep(11)  // two clean-up passes
            let status = try fs.status(Self.v1)
            #expect(status["local_copy"] as? Bool == true)
            #expect(["pending", "uploading"].contains(uploadState(status)), "\(status)")
            #expect(try fs.contentBlobs().count == 14)
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(fs.path(Self.v1))) -x status.json -x download_url")
        }
    }

    @Test func anOpenReaderKeepsItsFetchedCopyWhileCleanUpRuns() throws {
        let server = try StorageServerProcess()
        try Self.withCleanedUpVersion(server: server) { fs, source, version in
            let handle = try Foundation.FileHandle(forReadingFrom: URL(fileURLWithPath: version + "/big3.bin"))
            defer { try? handle.close() }
            sleep(7)  // more than one clean-up interval (5 s) with a TTL of 0
            #expect(try Self.regularFiles(under: fs.dataDir + "/cache") == 1)
            let read = try handle.readToEnd() ?? Data()
            #expect(read == FileManager.default.contents(atPath: source + "/big3.bin"))
        }
    }

    @Test func aWriteToACleanedUpVersionBringsItBackAndUploadsItAgain() throws {
        let server = try StorageServerProcess()
        try Self.withCleanedUpVersion(server: server) { fs, source, version in

            try Shell.check("echo appended >> \(Shell.quote(version))/small.txt && echo appended >> \(Shell.quote(source))/small.txt")
            try Shell.check("mv \(Shell.quote(version))/big2.bin \(Shell.quote(version))/sub/moved.bin")
            try Shell.check("mv \(Shell.quote(source))/big2.bin \(Shell.quote(source))/sub/moved.bin")
            try Shell.check("truncate -s 100 \(Shell.quote(version))/big5.bin && truncate -s 100 \(Shell.quote(source))/big5.bin")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(version)) -x status.json -x download_url")

            // The next snapshot holds every file again, including those never read since clean-up.
            try fs.waitForStatus(Self.v1, "uploaded again") {
                uploadState($0) == "uploaded" && $0["status"] as? String == "completed"
                    && ($0["upload"] as? [String: Any])?["attempts"] as? Int == 1
            }
            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout.trimmingCharacters(in: .newlines)
            let extracted = try makeTemporaryDirectory(prefix: "mt-rr-x")
            defer { removeTree(extracted) }
            try Shell.check("curl -sf \(Shell.quote(url)) | tar -xz -C \(Shell.quote(extracted))")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(extracted))")
        }
    }

    @Test func anArchiveDamagedInTheBucketFailsTheReadWithEIOInsteadOfWrongBytes() throws {
        let server = try StorageServerProcess()
        try Self.withCleanedUpVersion(server: server) { fs, source, version in
            // Same size, other bytes: the ranges in the TOC now point at garbage.
            let archive = Int(try fs.status(Self.v1)["archive_bytes"] as? Int ?? 0)
            let garbage = fs.root + "/garbage.bin"
            try Shell.check("head -c \(archive) /dev/urandom > \(Shell.quote(garbage))")
            try Shell.check(
                "curl -sf -X PUT -H 'Authorization: Bearer \(server.key)' -H 'x-upsert: true' --data-binary @\(Shell.quote(garbage)) "
                    + "\(server.url)/storage/v1/object/codebegen-projects/\(Self.v1).tar.gz")
            let failed = try Shell.run("cat \(Shell.quote(version))/small.txt")
            #expect(!failed.succeeded && failed.stderr.contains("Input/output error"), "\(failed.stderr)")
            #expect(failed.stdout.isEmpty, "no byte of the damaged member reaches the reader")
            let error = try fs.status(Self.v1)["last_read_error"] as? [String: Any]
            #expect((error?["message"] as? String)?.contains("small.txt") == true, "\(String(describing: error))")
            #expect(try Self.regularFiles(under: fs.dataDir + "/cache") == 0, "nothing damaged is cached")
        }
    }

    @Test func aReadThatCannotReachTheBucketFailsWithEIOAndSaysWhy() throws {
        let server = try StorageServerProcess()
        try Self.withCleanedUpVersion(server: server) { fs, source, version in
            server.stop()

            let failed = try Shell.run("cat \(Shell.quote(version))/small.txt")
            #expect(!failed.succeeded)
            #expect(failed.stderr.contains("Input/output error"), "\(failed.stderr)")
            let error = try fs.status(Self.v1)["last_read_error"] as? [String: Any]
            #expect((error?["message"] as? String)?.contains("small.txt") == true, "\(String(describing: error))")
            #expect(fs.logTail(100_000).contains("reading small.txt of projects/p1/generations/g1/v1.tar.gz from the bucket failed"))

            // Nothing is remembered as broken: once the server is back, the same read works.
            try server.start()
            try Shell.check("cmp \(Shell.quote(source))/small.txt \(Shell.quote(version))/small.txt")
            #expect(try fs.status(Self.v1)["last_read_error"] is NSNull)
        }
    }
}
