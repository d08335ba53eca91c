// Signed download URLs with short and medium SIGNED_URL_TTL (DESIGN §3, SEMANTICS "download_url"): a URL is
// reused while more than min(300 s, TTL/2) of it remain, then re-signed; a short TTL never falls back to file://.
import Foundation
import Testing

@Suite(.serialized) struct SignedURLLifetimeTests {
    private static func cloud(ttl: Int) -> [String: String] {
        ["USE_CLOUD_STORAGE": "true", "SUPABASE_URL": "", "SUPABASE_SERVICE_KEY": "", "SIGNED_URL_TTL": "\(ttl)"]
    }

    private let version = "projects/p1/generations/g1/v1"

    /// Writes one file into v1 and waits until the version is uploaded.
    private func writeAndUpload(_ fs: MountedFS, content: String) throws -> String {
        let directory = try fs.makeVersion()
        try Shell.check("printf %s \(Shell.quote(content)) > \(Shell.quote(directory))/a.txt")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let upload = try fs.status(version)["upload"] as? [String: Any]
            if upload?["state"] as? String == "uploaded" { return directory }
            usleep(200_000)
        }
        throw TestFailure("\(version) not uploaded within 60 s: \(try fs.status(version))\n\(fs.logTail())")
    }

    private func readURL(_ directory: String) throws -> String {
        try Shell.check("cat \(Shell.quote(directory))/download_url").stdout.trimmingCharacters(in: .newlines)
    }

    private func expiry(_ fs: MountedFS) throws -> Date {
        let text = try #require(try fs.status(version)["download_url_expires_at"] as? String)
        return try #require(ISO8601DateFormatter().date(from: text), "\(text)")
    }

    /// The URL works without headers and serves an archive holding what was written.
    private func expectServesArchive(_ url: String, content: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("/storage/v1/object/sign/"), "\(url)",
            sourceLocation: sourceLocation)
        let extracted = try Shell.check("curl -sf \(Shell.quote(url)) | tar -xzO a.txt").stdout
        #expect(extracted == content, sourceLocation: sourceLocation)
    }

    // Async, and not in `withMount`, so that the half-minute wait sleeps instead of holding one of the
    // few cooperative threads the in-process servers of other suites run on.
    @Test func aSixtySecondTTLAnswersFreshHTTPURLsAndReSignsAfterHalfItsLife() async throws {
        let fs = try MountedFS(label: #function)
        defer { fs.cleanup() }
        fs.armWatchdog(seconds: 240)
        fs.environmentOverrides = Self.cloud(ttl: 60)
        do {
            try fs.start()
            let directory = try writeAndUpload(fs, content: "short-lived\n")

            let status = try fs.status(version)
            let first = try readURL(directory)
            #expect(status["download_url"] as? String == first)
            let firstExpiry = try expiry(fs)
            let remaining = firstExpiry.timeIntervalSinceNow
            #expect(remaining > 40 && remaining <= 61, "expires in \(remaining) s")
            try expectServesArchive(first, content: "short-lived\n")
            #expect(try readURL(directory) == first, "reused while more than 30 s remain")

            // Past the reuse window (30 s left) by 2 s: the next read signs a new URL for a full minute.
            let wait = firstExpiry.timeIntervalSinceNow - 30 + 2
            if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
            let second = try readURL(directory)
            #expect(second != first)
            try expectServesArchive(second, content: "short-lived\n")
            let secondRemaining = try expiry(fs).timeIntervalSinceNow
            #expect(secondRemaining > 50 && secondRemaining <= 61, "expires in \(secondRemaining) s")
            #expect(try fs.status(version)["download_url"] as? String == second)
        } catch {
            print("[\(fs.label)] failed: \(error)\n\(fs.logTail())")
            throw error
        }
        if fs.timedOut { Issue.record("watchdog killed the daemon after 240 s\n\(fs.logTail())") }
    }

    @Test func aFourHundredSecondTTLReusesTheURL() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = Self.cloud(ttl: 400)
            try fs.start()
            let directory = try writeAndUpload(fs, content: "medium\n")
            let first = try readURL(directory)
            let second = try readURL(directory)
            #expect(first == second)
            try expectServesArchive(first, content: "medium\n")
            let remaining = try expiry(fs).timeIntervalSinceNow
            #expect(remaining > 380 && remaining <= 401, "expires in \(remaining) s")
        }
    }
}
