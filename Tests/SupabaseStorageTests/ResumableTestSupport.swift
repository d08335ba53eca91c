// Fixtures of the resumable-upload tests: a server with a chosen port, expiry and limits; raw TUS calls
// through curl; a hand-driven PATCH that sends its body slowly or stalls; access-log reading.
import Foundation
import StorageServer
import SupabaseStorage
import Testing

extension Harness {
    /// A server on `port` (0: a free one) over `directory`'s data, with the resumable-upload settings.
    static func resumable(
        directory: TemporaryDirectory? = nil,
        port: Int = 0,
        expiry: Duration = .seconds(24 * 3600),
        fileSizeLimit: Int64? = nil,
        faultRate: Double = 0,
        faultResetRate: Double = 0,
        accessLogPath: String? = nil,
        lockDrainTimeout: Duration = .seconds(3)
    ) async throws -> Harness {
        try await start(
            port: port, fileSizeLimit: fileSizeLimit, faultRate: faultRate, faultResetRate: faultResetRate,
            directory: directory, accessLogPath: accessLogPath, resumableUploadExpiry: expiry,
            resumableLockDrainTimeout: lockDrainTimeout)
    }

    var resumableEndpoint: String { storageURL + "/upload/resumable" }
}

/// One HTTP answer: status, headers (lower-cased names) and body.
struct TusReply {
    var status: Int
    var headers: [String: String]
    var body: String

    var json: [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String]) ?? [:]
    }
}

/// A request through curl. `key` nil sends no Authorization; `data` is a file sent as the body.
func tusCall(
    _ url: String,
    _ method: String,
    key: String?,
    headers: [String] = [],
    data: String? = nil
) async throws -> TusReply {
    // -I prints the head of a HEAD; otherwise -D - puts the head before the body on stdout.
    var args = ["-s", "-g", "-H", "Expect:"]
    args += method == "HEAD" ? ["-I"] : ["-D", "-", "-o", "-", "-X", method]
    if let key { args += ["-H", "Authorization: Bearer \(key)"] }
    for h in headers { args += ["-H", h] }
    if let data { args += ["--data-binary", "@\(data)"] }
    let r = try await runTool("/usr/bin/curl", args + [url])
    // With -D - the head comes first on stdout, then the body.
    let text = r.stdout
    guard let split = text.range(of: "\r\n\r\n") else { return TusReply(status: -1, headers: [:], body: r.stderr) }
    let lines = text[..<split.lowerBound].split(separator: "\r\n")
    let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? -1
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return TusReply(status: status, headers: fields, body: String(text[split.upperBound...]))
}

/// Unpadded base64url, as upload ids are written.
func base64url(_ text: String) -> String {
    Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

/// `Upload-Metadata` for the pairs given.
func uploadMetadata(_ pairs: [(String, String)]) -> String {
    pairs.map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
}

/// Creates an upload through curl; returns the reply (Location in its headers).
func createTusUpload(
    _ h: Harness,
    key: String,
    length: Int,
    bucket: String = "codebegen-projects",
    contentType: String = "application/octet-stream",
    upsert: Bool = false,
    extra: [String] = []
) async throws -> TusReply {
    try await tusCall(
        h.resumableEndpoint,
        "POST",
        key: h.server.serviceKey,
        headers: [
            "Tus-Resumable: 1.0.0", "Upload-Length: \(length)",
            "Upload-Metadata: "
                + uploadMetadata([
                    ("bucketName", bucket), ("objectName", key), ("contentType", contentType), ("cacheControl", "3600"),
                ]),
            "x-upsert: \(upsert)",
        ] + extra
    )
}

/// PATCHes the file `data` at `offset` through curl.
func patchTusUpload(_ h: Harness, _ location: String, offset: Int, data: String, upsert: Bool = false) async throws
    -> TusReply
{
    try await tusCall(
        location,
        "PATCH",
        key: h.server.serviceKey,
        headers: [
            "Tus-Resumable: 1.0.0", "Upload-Offset: \(offset)", "Content-Type: application/offset+octet-stream",
            "x-upsert: \(upsert)",
        ],
        data: data
    )
}

/// A PATCH written by hand on a socket: the head, then the body in pieces at a chosen pace, or a stall.
/// Blocking socket calls run on threads of their own.
final class HandDrivenPatch: @unchecked Sendable {
    private let fd: Int32
    /// `lock` protects `stopped`.
    private let lock = NSLock()
    private var stopped = false

    /// Connects and sends the request head of a PATCH of `length` bytes at `offset`.
    init(port: Int, path: String, key: String, offset: Int, length: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        let head =
            "PATCH \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(key)\r\n"
            + "Tus-Resumable: 1.0.0\r\nUpload-Offset: \(offset)\r\n"
            + "Content-Type: application/offset+octet-stream\r\nContent-Length: \(length)\r\n\r\n"
        try sendBytes(Array(head.utf8))
    }

    deinit { close(fd) }

    func sendBytes(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return send(fd, base + done, raw.count - done, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            done += n
        }
    }

    /// Sends `pieces` pieces of `pieceSize` bytes, one every `interval` seconds, on a thread, until ``stop()``.
    func trickle(pieceSize: Int, pieces: Int, interval: Double) {
        let thread = Thread { [self] in
            let piece = [UInt8](repeating: 7, count: pieceSize)
            for _ in 0..<pieces {
                if lock.withLock({ stopped }) { return }
                guard (try? sendBytes(piece)) != nil else { return }
                Thread.sleep(forTimeInterval: interval)
            }
        }
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }

    /// Reads until the end of a response head (or 10 s); returns the status and the head's text.
    func readAnswer() async throws -> (status: Int, head: String) {
        let fd = self.fd
        return try await blockingIO {
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            let head = String(decoding: received, as: UTF8.self)
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? -1
            return (status, head)
        }
    }
}

/// Sizes of the data files of the server's unfinished uploads.
func dataFileSizes(_ h: Harness) throws -> [Int] {
    let dir = h.directory.path + "/server/uploads"
    return try FileManager.default.contentsOfDirectory(atPath: dir).map { name in
        (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int) ?? 0
    }
}

/// Polls `condition` every 20 ms for up to 10 s; records an issue when it never holds.
func waitUntil(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition never held", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The access log's lines for `method` on resumable-upload URLs, parsed.
func resumableLogLines(_ path: String, method: String) throws -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return nil
        }
        let path = object["path"] as? String ?? ""
        return object["method"] as? String == method && path.hasPrefix("/storage/v1/upload/resumable") ? object : nil
    }
}

/// Progress reports of `uploadResumably`, kept in order. `lock` protects `reports`.
final class AcknowledgedOffsets: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [(url: String, offset: Int64)] = []

    func add(_ url: String, _ offset: Int64) { lock.withLock { reports.append((url, offset)) } }
    var all: [(url: String, offset: Int64)] { lock.withLock { reports } }
}
