// Archives over 6 MiB go up as resumable (TUS) uploads (issue 15): through connection resets and
// a kill -9 of the mount, the bucket's copy equals the local archive and the server receives at
// most the archive plus one chunk per interruption; an archive over the bucket's limit fails once,
// says why, and keeps its local download_url.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct ResumableUploadTests {
    static let chunk = 6 * 1024 * 1024
    static let v1 = "projects/p1/generations/g1/v1"

    /// A sealed v1 holding `megabytes` of random bytes (the archive is as large: it does not compress).
    static func writeLargeVersion(_ fs: MountedFS, megabytes: Int) throws -> String {
        let version = try fs.makeVersion()
        try Shell.check("head -c \(megabytes * 1_000_000) /dev/urandom > \(Shell.quote(version))/model.bin")
        try Shell.check("chmod a-w \(Shell.quote(version))")
        return version
    }

    /// A mount uploading to `server`, started, for `body`.
    static func withUploadingMount(
        to server: StorageServerProcess, _ label: String, timeout: Double, _ body: (MountedFS) throws -> Void
    ) throws {
        try withMount(label, timeout: timeout, start: false) { fs in
            fs.environmentOverrides = server.environment
            try fs.start()
            try body(fs)
        }
    }

    static func archive(_ fs: MountedFS) -> String { fs.dataDir + "/archives/\(v1).tar.gz" }

    /// Waits until the sealed version's final archive (not an earlier, smaller snapshot) is uploaded.
    static func waitForFinalUpload(_ fs: MountedFS, timeout: Double = 300) throws {
        try fs.waitForStatus(v1, "the final archive uploaded", timeout: timeout) { status in
            let upload = status["upload"] as? [String: Any]
            let size = (try? FileManager.default.attributesOfItem(atPath: archive(fs))[.size] as? Int) ?? -1
            return status["status"] as? String == "completed" && uploadState(status) == "uploaded"
                && upload?["bytes_total"] as? Int == size
        }
    }

    /// What the server logged for resumable uploads: PATCH bodies received, interrupted PATCHes
    /// (any answer but 204, or none), creations; and the standard uploads of the archive.
    static func traffic(_ server: StorageServerProcess) -> (received: Int, interrupted: Int, creations: Int, standard: Int) {
        var (received, interrupted, creations, standard) = (0, 0, 0, 0)
        for entry in server.accessLog() {
            let method = entry["method"] as? String ?? ""
            let path = entry["path"] as? String ?? ""
            if method == "PATCH", path.contains("/upload/resumable/") {
                received += entry["bytes_received"] as? Int ?? 0
                if entry["status"] as? Int != 204 { interrupted += 1 }
            }
            if method == "POST", path.hasSuffix("/upload/resumable") { creations += 1 }
            // (An empty first snapshot of the new version, a few hundred bytes, goes up in one request.)
            if method == "POST", path.hasSuffix("/v1.tar.gz"), path.contains("/object/"),
                entry["bytes_received"] as? Int ?? 0 > chunk { standard += 1 }
        }
        return (received, interrupted, creations, standard)
    }

    /// The object in the bucket equals the local archive, byte for byte.
    static func expectBucketCopyEqualsLocal(_ fs: MountedFS, _ version: String) throws {
        let url = try Sys.readText(version + "/download_url").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("http://"), "a signed URL once uploaded: \(url)")
        // Fetched until one GET gets through whole (the server may be resetting connections on purpose).
        let copy = fs.dataDir + "/bucket-copy.tar.gz"
        try Shell.check("for i in $(seq 30); do curl -sf -o \(Shell.quote(copy)) \(Shell.quote(url)) && break; sleep 0.2; done")
        let remote = try Shell.check("sha256sum \(Shell.quote(copy))").stdout.prefix(64)
        let local = try Shell.check("sha256sum \(Shell.quote(archive(fs)))").stdout.prefix(64)
        #expect(remote == local, "the bucket's archive is the local one")
    }

    @Test func aFiftyMegabyteArchiveGoesUpInChunksThroughResets() throws {
        // Random resets, and every third PATCH cut for certain: the test always sees interruptions.
        let server = try StorageServerProcess(faultResetRate: 0.2, faultCutEveryPatch: 3)
        try Self.withUploadingMount(to: server, "ResumableResets", timeout: 400) { fs in
            let version = try Self.writeLargeVersion(fs, megabytes: 50)
            try Self.waitForFinalUpload(fs)
            try Self.expectBucketCopyEqualsLocal(fs, version)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.archive(fs))[.size] as? Int)
            let traffic = Self.traffic(server)
            #expect(traffic.standard == 0, "an archive over 6 MiB is not sent in one request: \(traffic)")
            #expect(traffic.interrupted > 0, "the resets hit some chunks (else this test proves nothing): \(traffic)")
            #expect(traffic.received <= size + Self.chunk * traffic.interrupted,
                "received \(traffic.received) body bytes for a \(size)-byte archive with \(traffic.interrupted) interruptions")
            let status = try fs.status(Self.v1)
            let upload = status["upload"] as? [String: Any]
            #expect(upload?["bytes_uploaded"] as? Int == size && upload?["bytes_total"] as? Int == size, "\(String(describing: upload))")
        }
    }

    @Test func aKillDashNineMidUploadContinuesFromTheServersOffset() throws {
        // Slow requests, so that the kill lands in the middle of the upload.
        let server = try StorageServerProcess(latencyMs: 400)
        try Self.withUploadingMount(to: server, "ResumableKill", timeout: 400) { fs in
            _ = try Self.writeLargeVersion(fs, megabytes: 40)
            try fs.waitForStatus(Self.v1, "about half uploaded", timeout: 200) { status in
                let upload = status["upload"] as? [String: Any]
                let sent = upload?["bytes_uploaded"] as? Int ?? 0
                let total = upload?["bytes_total"] as? Int ?? 0
                return total > 0 && sent * 5 >= total * 2
            }
            fs.kill9()
            fs.lazyUnmount()
            let before = Self.traffic(server)
            try fs.start()
            try Self.waitForFinalUpload(fs)
            try Self.expectBucketCopyEqualsLocal(fs, fs.path(Self.v1))
            let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.archive(fs))[.size] as? Int)
            let traffic = Self.traffic(server)
            #expect(traffic.creations == 1, "the second mount continued the first upload instead of creating one: \(traffic)")
            #expect(before.received > 0 && before.received < size, "the kill came mid-upload: \(before.received) of \(size)")
            // The chunk in flight at the kill may be lost (one interruption), nothing acknowledged is sent again.
            #expect(traffic.received <= size + Self.chunk * (traffic.interrupted + 1),
                "received \(traffic.received) body bytes for a \(size)-byte archive: \(traffic)")
        }
    }

    @Test func anArchiveOverTheBucketsLimitFailsOnceAndSaysWhy() throws {
        let server = try StorageServerProcess(fileSizeLimit: 8_000_000)
        try Self.withUploadingMount(to: server, "ResumableLimit", timeout: 200) { fs in
            let version = try Self.writeLargeVersion(fs, megabytes: 10)
            try fs.waitForStatus(Self.v1, "failed", timeout: 120) { uploadState($0) == "failed" }
            usleep(3_000_000)
            let upload = try #require(try fs.status(Self.v1)["upload"] as? [String: Any])
            let message = upload["last_error"] as? String ?? ""
            #expect(upload["state"] as? String == "failed" && upload["attempts"] as? Int == 1, "no retry loop: \(upload)")
            #expect(message.contains("8000000"), "the limit is named: \(message)")
            #expect(message.contains("file_size_limit"), "and what to change: \(message)")
            let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.archive(fs))[.size] as? Int)
            #expect(message.contains(String(size)), "and the archive's size: \(message)")
            let url = try Sys.readText(version + "/download_url").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.hasPrefix("file://"), "download_url keeps serving the local archive: \(url)")
            try Shell.check("tar -tzf \(Shell.quote(String(url.dropFirst("file://".count)))) model.bin")
            let status = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(fs.mountpoint))")
            #expect(status.stdout.contains("8000000"), "codebegenfs status shows the reason: \(status.stdout)")
        }
    }
}
