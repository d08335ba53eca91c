// Uploads to the bundled Supabase-compatible server (DESIGN §2, §3, §5, §7): with no SUPABASE_URL
// the mount starts the server on loopback, uploads every snapshot, and download_url answers a
// signed URL that curl can fetch.
import Foundation
import Testing

@Suite(.serialized) struct UploadTests {
    static let cloud = ["USE_CLOUD_STORAGE": "true", "SUPABASE_URL": "", "SUPABASE_SERVICE_KEY": ""]

    private func waitForUpload(_ fs: MountedFS, _ version: String, timeout: Double = 60) throws {
        try fs.waitForStatus(version, "uploaded", timeout: timeout) { uploadState($0) == "uploaded" }
    }

    private func localArchive(_ fs: MountedFS, _ generation: String, _ version: Int) -> String {
        fs.dataDir + "/archives/projects/p1/generations/\(generation)/v\(version).tar.gz"
    }

    @Test func signedURLServesTheArchiveByteForByteAndItExtractsToTheTree() throws {
        let source = try makeTemporaryDirectory(prefix: "mt-up-src")
        defer { removeTree(source) }
        try Shell.check("git -C /opt/swift-packages/apple/swift-log.git archive 1.16.2 | tar -x -C \(Shell.quote(source))")
        try withMount(start: false) { fs in
            fs.environmentOverrides = Self.cloud
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(version))/")
            try waitForUpload(fs, "projects/p1/generations/g1/v1")

            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout
                .trimmingCharacters(in: .newlines)
            #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("/storage/v1/object/sign/"), "\(url)")
            let status = try fs.status("projects/p1/generations/g1/v1")
            #expect(status["download_url"] as? String == url)
            #expect(status["download_url_expires_at"] is String)
            #expect(status["cloud_storage_enabled"] as? Bool == true)

            let downloaded = fs.root + "/downloaded.tar.gz"
            try Shell.check("curl -sf \(Shell.quote(url)) -o \(Shell.quote(downloaded))")
            try Shell.check("cmp \(Shell.quote(downloaded)) \(Shell.quote(localArchive(fs, "g1", 1)))")
            let extracted = try makeTemporaryDirectory(prefix: "mt-up-x")
            defer { removeTree(extracted) }
            try Shell.check("tar -xzf \(Shell.quote(downloaded)) -C \(Shell.quote(extracted))")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(extracted))")

            let root = try fs.status("")
            let remote = root["remote"] as? [String: Any]
            #expect((remote?["url"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
            #expect(remote?["bucket"] as? String == "codebegen-projects")
            #expect((root["upload_queue"] as? [String: Any])?["uploaded"] as? Int == 1)
            // A sealed, uploaded generation is no longer active.
            try fs.mkdirP("projects/p1/generations/g1/v2")
            #expect(Sys.list(fs.path("active"))?.contains("g1") == true, "v2 is open")

            // Secrets (DESIGN §7): the generated key and signing secret appear in no virtual file,
            // no log line and no command line.
            for secretFile in ["service_key", "jwt_secret"] {
                let secret = try String(contentsOfFile: fs.dataDir + "/storage/" + secretFile, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(secret.count >= 16)
                let haystack = [
                    try Shell.check("cat \(Shell.quote(fs.path("status.json"))) \(Shell.quote(version))/status.json "
                        + "\(Shell.quote(version))/download_url \(Shell.quote(fs.path("projects/p1/generations/g1/status.json")))").stdout,
                    fs.logTail(10_000_000),
                    try Shell.check("ps -eo args").stdout,
                ].joined(separator: "\n")
                #expect(!haystack.contains(secret), "\(secretFile) leaked")
            }
        }
    }

    @Test func uploadsInterruptedByKill9CompleteAfterRestart() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = Self.cloud
            try fs.start()
            var versions: [String] = []
            for index in 1...6 {
                let version = try fs.makeVersion(generation: "k\(index)")
                try Shell.check("head -c 3000000 /dev/urandom > \(Shell.quote(version))/blob.bin && echo \(index) > \(Shell.quote(version))/n.txt")
                versions.append("projects/p1/generations/k\(index)/v1")
            }
            // Seal them all: a sealed version is snapshotted and queued at once.
            for index in 1...6 { try fs.mkdirP("projects/p1/generations/k\(index)/v2") }
            usleep(300_000)
            fs.kill9()
            fs.lazyUnmount()
            try fs.start()
            for version in versions { try waitForUpload(fs, version) }
            for index in 1...6 {
                let url = try Shell.check("cat \(Shell.quote(fs.path(versions[index - 1])))/download_url").stdout
                    .trimmingCharacters(in: .newlines)
                #expect(url.hasPrefix("http://"), "\(url)")
                let listed = try Shell.check("curl -sf \(Shell.quote(url)) | tar -xzO n.txt").stdout
                #expect(listed == "\(index)\n")
                try Shell.check("curl -sf \(Shell.quote(url)) | cmp - \(Shell.quote(localArchive(fs, "k\(index)", 1)))")
            }
        }
    }

    @Test func withCloudStorageOffNothingIsUploadedAndURLsAreLocal() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            try Shell.check("echo local > \(Shell.quote(version))/a.txt")
            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout
            #expect(url.hasPrefix("file:///"))
            let status = try fs.status("projects/p1/generations/g1/v1")
            #expect((status["upload"] as? [String: Any])?["state"] as? String == "disabled")
            #expect(status["cloud_storage_enabled"] as? Bool == false)
            #expect(try fs.status("")["remote"] is NSNull)
            // No bundled server was started: it would keep its objects under <data>/storage.
            #expect(!FileManager.default.fileExists(atPath: fs.dataDir + "/storage"))
        }
    }

    /// Cloud storage turned on later: what was packed while it was off is uploaded then.
    @Test func versionsPackedWithCloudStorageOffAreUploadedOnceItIsOn() throws {
        let server = try StorageServerProcess()
        try withMount(start: false) { fs in
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("echo packed-offline > \(Shell.quote(version))/a.txt")
            try fs.waitForStatus("projects/p1/generations/g1/v1", "packed") { $0["status"] as? String == "completed" }
            #expect(try fs.stop() == 0)

            fs.environmentOverrides = TwoMountsTests.environment(server)
            try fs.start()
            try fs.waitForStatus("projects/p1/generations/g1/v1", "uploaded") { uploadState($0) == "uploaded" }
            #expect(fs.logTail(100_000).contains("queued 1 versions packed while cloud storage was off for upload"))
            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.hasPrefix("http://"))
            #expect(try Shell.check("curl -sf \(Shell.quote(url)) | tar -xzO a.txt").stdout == "packed-offline\n")
        }
    }
}
