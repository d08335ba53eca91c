// Uploads against a separate `codebegenfs serve-storage` process that fails on purpose
// (DESIGN §5: transient failures are retried without limit; nothing is lost).
import Foundation
import Testing

/// A `serve-storage` process on a free loopback port, with a known service key.
final class StorageServerProcess {
    /// Picked by the server at its first start (a fixed random one collided with the ephemeral
    /// ports of mounts' bundled servers); a restart listens on the same one.
    private(set) var port = 0
    let key = "test-service-key-\(UUID().uuidString)"
    let data: String
    private var pid: pid_t = 0
    private let arguments: [String]

    init(
        faultRate: Double = 0, faultResetRate: Double = 0, faultCutEveryPatch: Int = 0, latencyMs: Int = 0,
        fileSizeLimit: Int64? = nil
    ) throws {
        data = try makeTemporaryDirectory(prefix: "mt-server")
        arguments = ["--data", data + "/objects", "--fault-rate", String(faultRate),
                     "--fault-reset-rate", String(faultResetRate), "--fault-cut-every-patch", String(faultCutEveryPatch),
                     "--fault-latency-ms", String(latencyMs), "--access-log", data + "/access.log"]
            + (fileSizeLimit.map { ["--file-size-limit", String($0)] } ?? [])
        try start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Puts a local file into the bucket at `key`, as another mount or an earlier release would have.
    func upload(_ file: String, as key: String, contentType: String) throws {
        try Shell.check(
            "curl -sf -X POST -H 'Authorization: Bearer \(self.key)' -H 'Content-Type: \(contentType)' "
                + "--data-binary @\(Shell.quote(file)) \(url)/storage/v1/object/codebegen-projects/\(key)")
    }

    /// The requests the server answered so far, one parsed access-log line each.
    func accessLog() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: data + "/access.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func start() throws {
        let bin = try MountedFS.binaryPath()
        let command = ([bin, "serve-storage", "--port", String(port)] + arguments).map(Shell.quote).joined(separator: " ")
        let log = data + "/server.log"
        let result = try Shell.check("SUPABASE_SERVICE_KEY=\(Shell.quote(key)) nohup \(command) > \(Shell.quote(log)) 2>&1 & echo $!")
        pid = pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if port == 0 {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("storage server listening on 127.0.0.1:") }),
                    let found = line.split(separator: ":").last.flatMap({ Int($0) })
                {
                    port = found
                }
            }
            if port != 0, (try? Shell.run("curl -s -o /dev/null \(url)/storage/v1/bucket", timeout: 5))?.succeeded == true { return }
            usleep(100_000)
        }
        throw TestFailure("serve-storage did not answer on \(url): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// Stops the server process (SIGSTOP): connections stay open and requests wait unanswered.
    func pause() { if pid > 0 { kill(pid, SIGSTOP) } }
    func resume() { if pid > 0 { kill(pid, SIGCONT) } }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit {
        stop()
        removeTree(data)
    }

    var environment: [String: String] {
        ["USE_CLOUD_STORAGE": "true", "SUPABASE_URL": url, "SUPABASE_SERVICE_KEY": key]
    }
}

@Suite(.serialized) struct UploadFaultTests {
    private func waitForAll(_ fs: MountedFS, _ versions: [String], timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var pending = versions
        while !pending.isEmpty, Date() < deadline {
            pending = try pending.filter { version in
                uploadState(try fs.status(version)) != "uploaded"
            }
            if !pending.isEmpty { usleep(300_000) }
        }
        if let first = pending.first {
            throw TestFailure("\(pending.count) versions not uploaded, e.g. \(first): \(try fs.status(first))")
        }
    }

    @Test func fiftyVersionsAllUploadThrough503sAndResets() throws {
        let server = try StorageServerProcess(faultRate: 0.3, faultResetRate: 0.1)
        try withMount(timeout: 300, start: false) { fs in
            fs.environmentOverrides = server.environment
            try fs.start()
            var versions: [String] = []
            for index in 1...50 {
                let version = try fs.makeVersion(generation: "f\(index)")
                try Shell.check("echo \(index) > \(Shell.quote(version))/n.txt")
                try fs.mkdirP("projects/p1/generations/f\(index)/v2")  // seals v1: snapshotted and queued now
                versions.append("projects/p1/generations/f\(index)/v1")
            }
            try waitForAll(fs, versions, timeout: 240)
            // The faults were real: of 40 plain requests, some were refused or dropped (p ≈ 0.67^40 otherwise).
            // The missing object answers 400, and so does half of the injected 503s (the API's "HTTP 400
            // with body 503" shape), which only their "(injected)" message tells apart.
            let replies = try Shell.run(
                "for i in $(seq 40); do curl -s -w ' %{http_code}\\n' -H 'apikey: \(server.key)' "
                    + "-H 'Authorization: Bearer \(server.key)' \(server.url)/storage/v1/object/info/codebegen-projects/none; done"
            ).stdout
            let faults = replies.split(separator: "\n").filter { $0.contains("(injected)") || !$0.hasSuffix(" 400") }
            #expect(!faults.isEmpty, "no injected fault seen: \(replies)")
            // Objects read back identical to the local archives (curl retries the injected faults).
            for index in [1, 17, 50] {
                // Signing can hit an injected fault too; download_url then answers the local archive
                // and the next read signs again.
                var url = ""
                for _ in 0..<10 where !url.hasPrefix(server.url) {
                    url = try Shell.check("cat \(Shell.quote(fs.path("projects/p1/generations/f\(index)/v1/download_url")))")
                        .stdout.trimmingCharacters(in: .newlines)
                }
                #expect(url.hasPrefix(server.url), "\(url)")
                let local = fs.dataDir + "/archives/projects/p1/generations/f\(index)/v1.tar.gz"
                // Each try downloads the whole object afresh: an injected reset mid-body fails that try only.
                try Shell.check(
                    "for i in $(seq 30); do curl -sf -H 'apikey: \(server.key)' -H 'Authorization: Bearer \(server.key)' "
                        + "\(server.url)/storage/v1/object/codebegen-projects/projects/p1/generations/f\(index)/v1.tar.gz "
                        + "-o \(Shell.quote(fs.root))/fetched && cmp \(Shell.quote(fs.root))/fetched \(Shell.quote(local)) && exit 0; done; exit 1")
            }
        }
    }

    @Test func versionsWrittenWhileTheServerIsDownUploadOnceItIsBack() throws {
        let server = try StorageServerProcess()
        try withMount(timeout: 240, start: false) { fs in
            fs.environmentOverrides = server.environment
            try fs.start()
            server.stop()
            var versions: [String] = []
            for index in 1...5 {
                let version = try fs.makeVersion(generation: "d\(index)")
                try Shell.check("head -c 200000 /dev/urandom > \(Shell.quote(version))/r.bin")
                try fs.mkdirP("projects/p1/generations/d\(index)/v2")
                versions.append("projects/p1/generations/d\(index)/v1")
            }
            sleep(30)
            for version in versions {
                let upload = try fs.status(version)["upload"] as? [String: Any]
                #expect(upload?["state"] as? String == "pending", "\(version): \(upload ?? [:])")
                #expect((upload?["last_error"] as? String) != nil, "the reason is shown while retrying")
            }
            #expect(Sys.list(fs.path("active"))?.count == 5, "generations with pending uploads are active")
            try server.start()
            try waitForAll(fs, versions, timeout: 120)
        }
    }
}
