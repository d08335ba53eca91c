// Local first (issue: mount lifecycle): a mount with cloud storage configured starts and serves
// everything local while the storage is down or refuses the key, says why uploads wait, and
// catches up on its own (bucket check, listing other mounts' versions, the queue) once it answers.
import Foundation
import Testing

@Suite(.serialized) struct OfflineStartTests {
    private static func remote(_ fs: MountedFS) throws -> [String: Any] {
        try #require(try fs.status("")["remote"] as? [String: Any])
    }

    @Test func aMountStartsWhileStorageIsDownAndUploadsOnceItAnswers() throws {
        let server = try StorageServerProcess()
        // Another mount's version is in the bucket before the outage.
        try withMount("OfflineOther", start: false) { other in
            other.environmentOverrides = TwoMountsTests.environment(server)
            try other.start()
            let theirs = try other.makeVersion(project: "p2", generation: "theirs")
            #expect(Sys.writeFile(theirs + "/t.txt", "from another mount\n") == .ok)
            try other.waitForStatus("projects/p2/generations/theirs/v1", "uploaded") { uploadState($0) == "uploaded" }
        }
        server.stop()
        try withMount(start: false) { fs in
            fs.environmentOverrides = TwoMountsTests.environment(server)
            try fs.start()
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/a.txt", "written offline\n") == .ok)
            #expect(try Sys.readText(v1 + "/a.txt") == "written offline\n")
            try fs.waitForStatus("", "the storage reported unreachable", timeout: 30) {
                ($0["remote"] as? [String: Any])?["state"] as? String == "unreachable"
            }
            let remote = try Self.remote(fs)
            #expect((remote["error"] as? String)?.contains("Couldn't connect") == true, "\(remote)")
            #expect(remote["attempts"] as? Int ?? 0 >= 1)
            try fs.waitForStatus("projects/p1/generations/g1/v1", "snapshotted", timeout: 30) { $0["status"] as? String == "completed" }
            let upload = try fs.status("projects/p1/generations/g1/v1")["upload"] as? [String: Any]
            #expect(upload?["state"] as? String == "pending")
            #expect((upload?["last_error"] as? String)?.hasPrefix("waiting for the storage to answer: transient") == true, "\(upload ?? [:])")
            #expect(Sys.list(fs.path("projects"))?.contains("p2") == false, "nothing listed while the bucket is unreachable")

            let status = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(fs.mountpoint))")
            #expect(status.status == 0, "\(status)")
            #expect(status.stdout.contains("storage: UNREACHABLE since"), "\(status)")
            #expect(status.stdout.contains("local versions are served, uploads wait"), "\(status)")
            #expect(status.stdout.contains("uploads: 1 pending, 0 uploading"), "\(status)")
            #expect(fs.logTail().contains("does not answer"), "the log says why uploads wait")

            try server.start()
            try fs.waitForStatus("projects/p1/generations/g1/v1", "uploaded", timeout: 60) { uploadState($0) == "uploaded" }
            #expect(try Self.remote(fs)["state"] as? String == "connected")
            #expect(fs.logTail().contains("answers again: uploads and listings resume"))
            let tocFile = fs.dataDir + "/downloaded.toc.json"
            let toc = try Shell.run(
                "curl -sf -o \(Shell.quote(tocFile)) -H 'Authorization: Bearer \(server.key)' "
                    + "\(server.url)/storage/v1/object/codebegen-projects/projects/p1/generations/g1/v1.toc.json"
                    + " && \(Shell.quote(try MountedFS.binaryPath())) toc \(Shell.quote(tocFile))")
            #expect(toc.succeeded && toc.stdout.contains("\"path\":\"a.txt\""), "the TOC is in the bucket: \(toc)")
            // The other mount's version is listed now, and reads through.
            let deadline = Date().addingTimeInterval(30)
            while Sys.list(fs.path("projects"))?.contains("p2") != true, Date() < deadline { usleep(200_000) }
            #expect(try Sys.readText(fs.path("projects/p2/generations/theirs/v1/t.txt")) == "from another mount\n")
        }
    }

    @Test func aRefusedKeyStillMountsAndSaysWhyUploadsWait() throws {
        let server = try StorageServerProcess()
        try withMount(start: false) { fs in
            fs.environmentOverrides = TwoMountsTests.environment(server).merging(["SUPABASE_SERVICE_KEY": "not-the-key"]) { $1 }
            try fs.start()
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/a.txt", "local\n") == .ok)
            try fs.waitForStatus("", "the key reported refused", timeout: 30) {
                ($0["remote"] as? [String: Any])?["state"] as? String == "unreachable"
            }
            let error = try Self.remote(fs)["error"] as? String ?? ""
            #expect(error.contains("the service key was refused") && error.contains("SUPABASE_SERVICE_KEY"), "\(error)")
            #expect(!error.contains("not-the-key"), "the key itself is never shown")
            let status = try Shell.check("\(Shell.quote(try MountedFS.binaryPath())) status \(Shell.quote(fs.mountpoint))")
            #expect(status.stdout.contains("the service key was refused"), "\(status)")
            #expect(!fs.logTail(1_000_000).contains("not-the-key"))
            #expect(try Sys.readText(v1 + "/a.txt") == "local\n")
        }
    }
}
