// The server's access log, driven by the real client and curl over loopback: one JSON line per request with
// the range, status and body bytes moved, and never a query string, token, service key or JWT secret.
import Foundation
import StorageServer
import SupabaseStorage
import Testing

@Suite struct AccessLogTests {
    /// Lines of the access log, parsed; waits up to 5 s for one that `matches` (a line is appended just after
    /// its response is written, so the client may see the answer first).
    private func logLines(_ path: String, until matches: ([String: Any]) -> Bool) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(5)
        while true {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            var lines: [[String: Any]] = []
            for line in text.split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                lines.append(try #require(object, "not a JSON object: \(line)"))
            }
            if lines.contains(where: matches) || Date() > deadline { return lines }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private func putObject(_ h: Harness, key: String, bytes: [UInt8]) async throws {
        _ = try await h.store.put(
            key: key,
            fromFile: try h.directory.write("src-\(bytes.count)", bytes),
            contentType: "application/octet-stream",
            upsert: false,
            progress: nil
        )
    }

    @Test func aRangedGetLogsItsRangeA206AndExactlyTheRangeLength() async throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("access.log")
        let h = try await Harness.start(directory: dir, accessLogPath: log)
        defer { Task { await h.stop() } }
        let bytes = patternBytes(10_000, seed: 3)
        try await putObject(h, key: "logged/r.bin", bytes: bytes)
        #expect(try await h.store.get(key: "logged/r.bin", range: .closed(100, 1099)) == Array(bytes[100..<1100]))

        let path = "/storage/v1/object/codebegen-projects/logged/r.bin"
        let lines = try await logLines(log) { $0["method"] as? String == "GET" && $0["path"] as? String == path }
        let get = try #require(lines.first { $0["method"] as? String == "GET" && $0["path"] as? String == path })
        #expect(get["range"] as? String == "bytes=100-1099")
        #expect(get["status"] as? Int == 206)
        #expect(get["bytes_sent"] as? Int == 1000)
        #expect(get["bytes_received"] as? Int == 0)
        let raw = try String(contentsOfFile: log, encoding: .utf8)
        #expect(
            raw.contains(
                #"{"method":"GET","path":"\#(path)","range":"bytes=100-1099","status":206,"bytes_sent":1000,"#
                    + #""bytes_received":0}"# + "\n"),
            "\(raw)")
        // The upload before it: no range (an explicit null), the whole body received.
        let upload = try #require(lines.first { $0["method"] as? String != "GET" && $0["path"] as? String == path })
        #expect(upload["range"] is NSNull)
        #expect(upload["status"] as? Int == 200)
        #expect(upload["bytes_received"] as? Int == 10_000)
    }

    @Test func aPutThroughCurlLogsTheBytesReceived() async throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("access.log")
        let h = try await Harness.start(directory: dir, accessLogPath: log)
        defer { Task { await h.stop() } }
        let body = try h.directory.write("body", patternBytes(123_457, seed: 9))
        let r = try await curlFetch(
            h.storageURL + "/object/codebegen-projects/logged/put.bin",
            extraArgs: ["-X", "PUT", "-H", "Authorization: Bearer \(h.server.serviceKey)", "--data-binary", "@" + body]
        )
        #expect(r.status == 200, "\(r.body)")
        let lines = try await logLines(log) { $0["method"] as? String == "PUT" }
        let put = try #require(lines.first { $0["method"] as? String == "PUT" })
        #expect(put["path"] as? String == "/storage/v1/object/codebegen-projects/logged/put.bin")
        #expect(put["status"] as? Int == 200)
        #expect(put["bytes_received"] as? Int == 123_457)
        #expect((put["bytes_sent"] as? Int ?? 0) > 0, "the JSON answer's body")
    }

    @Test func aSignedURLDownloadLogsNoTokenAndNoSecret() async throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("access.log")
        let h = try await Harness.start(directory: dir, accessLogPath: log)
        defer { Task { await h.stop() } }
        let bytes = patternBytes(5_000, seed: 5)
        try await putObject(h, key: "logged/s.bin", bytes: bytes)
        let signed = try await h.store.sign(key: "logged/s.bin", expiresIn: 60)
        let token = try #require(signed.url.components(separatedBy: "token=").last)
        let r = try await runTool("/usr/bin/curl", ["-sf", "-o", dir.file("got"), signed.url])
        #expect(r.status == 0)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("got")))) == bytes)

        let path = "/storage/v1/object/sign/codebegen-projects/logged/s.bin"
        // Signing is a POST to the same path; the download is the GET.
        let isDownload: ([String: Any]) -> Bool = { $0["method"] as? String == "GET" && $0["path"] as? String == path }
        let lines = try await logLines(log, until: isDownload)
        let download = try #require(lines.first(where: isDownload))
        #expect(download["status"] as? Int == 200)
        #expect(download["bytes_sent"] as? Int == 5_000)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let jwtSecret = try String(contentsOfFile: dir.path + "/server/jwt_secret", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!text.contains("?") && !text.contains("token"))
        for secret in [token, h.server.serviceKey, jwtSecret] {
            #expect(secret.count >= 16 && !text.contains(secret))
        }
    }

    @Test func anAccessLogThatCannotBeOpenedIsAStartupError() async throws {
        let dir = try TemporaryDirectory()
        #expect(throws: AccessLogError.self) {
            _ = try StorageServer(
                configuration: StorageServerConfiguration(dataDirectory: dir.file("server"), accessLogPath: dir.path)
            )
        }
        do {
            _ = try StorageServer(
                configuration: StorageServerConfiguration(dataDirectory: dir.file("server"), accessLogPath: dir.path)
            )
        } catch {
            #expect("\(error)".contains("cannot open the access log \(dir.path)"), "\(error)")
            #expect("\(error)".contains("directory"), "\(error)")
        }
    }
}
