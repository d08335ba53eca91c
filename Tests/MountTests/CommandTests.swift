// The `status` and `doctor` commands, run as a user would.
import Foundation
import Testing

@Suite(.serialized) struct CommandTests {
    @Test func statusShowsTheQueueAndUploadedVersions() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = UploadTests.cloud
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("echo hello > \(Shell.quote(version))/a.txt")
            let bin = try MountedFS.binaryPath()
            let deadline = Date().addingTimeInterval(30)
            var text = ""
            while Date() < deadline {
                text = try Shell.check("\(Shell.quote(bin)) status \(Shell.quote(fs.mountpoint))").stdout
                if text.contains("1 uploaded") { break }
                usleep(200_000)
            }
            #expect(text.contains("cloud storage on (http://127.0.0.1:"), "\(text)")
            #expect(text.contains("projects 1, generations 1, versions 1"), "\(text)")
            #expect(text.contains("0 failed, 0 conflict, 1 uploaded"), "\(text)")
            let json = try Shell.check("\(Shell.quote(bin)) status \(Shell.quote(fs.mountpoint)) --json").stdout
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect((parsed?["upload_queue"] as? [String: Any])?["uploaded"] as? Int == 1)
        }
    }

    @Test func statusCountsARunningUploadAsUploading() throws {
        // Every request waits 2 s at the server, so the upload stays running long enough to be seen.
        let server = try StorageServerProcess(latencyMs: 2000)
        try withMount(start: false) { fs in
            fs.environmentOverrides = server.environment
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("head -c 300000 /dev/urandom > \(Shell.quote(version))/blob.bin")
            let command = "\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(fs.mountpoint))"
            let deadline = Date().addingTimeInterval(60)
            var text = ""
            while Date() < deadline, !text.contains("1 uploading") {
                text = try Shell.check(command).stdout
                usleep(100_000)
            }
            #expect(text.contains("uploads: 0 pending, 1 uploading, 0 failed, 0 conflict, 0 uploaded"), "\(text)")
            #expect(text.contains("% p1/g1/v1"), "a progress bar for the running upload: \(text)")
            try fs.waitForStatus(RemoteReadTests.v1, "uploaded") { uploadState($0) == "uploaded" }
            #expect(try Shell.check(command).stdout.contains("0 uploading, 0 failed, 0 conflict, 1 uploaded"))
        }
    }

    @Test func statusExitsNonZeroWhenAnUploadFailedForGood() throws {
        let server = try StorageServerProcess()
        // A bucket limit smaller than any archive: the upload fails for good (413), without retries.
        try Shell.check(
            "curl -sf -X PUT -H 'Authorization: Bearer \(server.key)' -H 'Content-Type: application/json' "
                + "-d '{\"file_size_limit\": 10}' \(server.url)/storage/v1/bucket/codebegen-projects")
        try withMount(start: false) { fs in
            fs.environmentOverrides = server.environment
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check("echo hello > \(Shell.quote(version))/a.txt")
            try fs.waitForStatus(RemoteReadTests.v1, "failed") { uploadState($0) == "failed" }
            let result = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(fs.mountpoint))")
            #expect(result.status == 3, "\(result)")
            #expect(result.stdout.contains("FAILED p1/g1/v1: the archive ("), "\(result)")
            #expect(result.stdout.contains("over the 10-byte limit (the file_size_limit of bucket codebegen-projects)"), "\(result)")
            #expect(result.stdout.contains("1 failed"), "\(result)")
        }
    }

    @Test func statusWatchRedrawsUntilInterrupted() throws {
        try withMount { fs in
            let command = "timeout -s INT 2.5 \(Shell.quote(try MountedFS.binaryPath())) status --watch \(Shell.quote(fs.mountpoint))"
            let result = try Shell.run(command)
            #expect(result.status == 130 || result.status == 124, "ended by the interrupt: \(result)")
            let frames = result.stdout.components(separatedBy: "codebegenfs at \(fs.mountpoint)").count - 1
            #expect(frames >= 2, "redrawn every second: \(frames) frames\n\(result.stdout)")
        }
    }

    @Test func statusOfSomethingThatIsNotAMountIsAClearError() throws {
        let dir = try makeTemporaryDirectory(prefix: "mt-notmount")
        defer { removeTree(dir) }
        let result = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(dir))")
        #expect(result.status != 0)
        #expect(result.stderr.contains("is it a codebegenfs mount?"), "\(result)")
    }

    @Test func doctorPassesAgainstTheBundledServer() throws {
        let data = try makeTemporaryDirectory(prefix: "mt-doctor")
        defer { removeTree(data) }
        let result = try Shell.run(
            "\(Shell.quote(try MountedFS.binaryPath())) doctor --data \(Shell.quote(data))",
            environment: ["USE_CLOUD_STORAGE": "true", "SUPABASE_URL": "", "SUPABASE_SERVICE_KEY": ""])
        #expect(result.status == 0, "\(result)")
        for check in ["configuration", "connectivity", "auth", "bucket", "round trip"] {
            #expect(result.stdout.contains("PASS  \(check)"), "\(check): \(result.stdout)")
        }
        #expect(!result.stdout.contains("FAIL"))
        #expect(result.stdout.contains("INFO  size limit     bucket codebegen-projects file_size_limit: none"), "\(result.stdout)")
    }

    @Test func doctorPrintsTheLimitsAnArchiveMustFit() throws {
        let server = try StorageServerProcess(fileSizeLimit: 8_000_000)
        try Shell.check(
            "curl -sf -X PUT -H 'Authorization: Bearer \(server.key)' -H 'Content-Type: application/json' "
                + "-d '{\"file_size_limit\": 5000000}' \(server.url)/storage/v1/bucket/codebegen-projects")
        let data = try makeTemporaryDirectory(prefix: "mt-doctor")
        defer { removeTree(data) }
        let result = try Shell.run(
            "\(Shell.quote(try MountedFS.binaryPath())) doctor --data \(Shell.quote(data))", environment: server.environment)
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stdout.contains("file_size_limit: 5000000 bytes; the server's global limit 8000000 bytes"), "\(result.stdout)")
        #expect(!result.stdout.contains(server.key))
    }

    @Test func doctorReportsAnUnreachableRemoteWithoutPrintingTheKey() throws {
        let data = try makeTemporaryDirectory(prefix: "mt-doctor")
        defer { removeTree(data) }
        let key = "doctor-secret-key-\(UUID().uuidString)"
        let result = try Shell.run(
            "\(Shell.quote(try MountedFS.binaryPath())) doctor --data \(Shell.quote(data))",
            environment: ["USE_CLOUD_STORAGE": "true", "SUPABASE_URL": "http://127.0.0.1:1", "SUPABASE_SERVICE_KEY": key],
            timeout: 120)
        #expect(result.status != 0)
        #expect(result.stdout.contains("FAIL  connectivity"), "\(result.stdout)")
        #expect(!result.stdout.contains(key) && !result.stderr.contains(key))
    }
}
