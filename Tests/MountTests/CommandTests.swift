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
