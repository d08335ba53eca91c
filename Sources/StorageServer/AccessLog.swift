// The optional access log: one JSON line per request, appended with a single write(2) as its response ends.
import Foundation
import Hummingbird

/// An append-only file of JSON lines, one per HTTP request. Holds no request secrets: the path is logged
/// without its query string (signed-URL tokens) and no header but `Range` is written.
final class AccessLog: Sendable {
    private let descriptor: Int32

    /// Opens (creating 0600 when missing) `path` for appending.
    init(path: String) throws(AccessLogError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AccessLogError(path: path, errno: errno) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    struct Entry {
        var method: String
        var path: String
        var range: String?
        var status: Int
        var bytesSent: Int
        var bytesReceived: Int

        /// The JSON line, keys in a fixed order so that the log reads the same line after line.
        var line: String {
            "{\"method\":\(Self.quoted(method)),\"path\":\(Self.quoted(path)),"
                + "\"range\":\(range.map(Self.quoted) ?? "null"),\"status\":\(status),"
                + "\"bytes_sent\":\(bytesSent),\"bytes_received\":\(bytesReceived)}\n"
        }

        private static func quoted(_ text: String) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            guard let data = try? encoder.encode(text) else { return "null" }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Appends one line. O_APPEND and one write per line keep concurrent lines whole.
    func append(_ entry: Entry) {
        let bytes = Array(entry.line.utf8)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = write(descriptor, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}

/// The access log file could not be opened for appending.
public struct AccessLogError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32

    public var description: String {
        "cannot open the access log \(path) for appending: \(String(cString: strerror(errno)))"
    }
}

/// Counts bytes flowing through a request or response body.
final class ByteCounter: @unchecked Sendable {
    /// `lock` protects `count`.
    private let lock = NSLock()
    private var count = 0

    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}

extension Request {
    /// The same request whose body counts the bytes read from it into `counter`.
    func countingBody(into counter: ByteCounter) -> Request {
        var copy = self
        copy.body = RequestBody(
            asyncSequence: body.map { buffer in
                counter.add(buffer.readableBytes)
                return buffer
            }
        )
        return copy
    }
}

extension Response {
    /// The same response whose body counts the bytes the connection accepted into `counter`.
    func countingBody(into counter: ByteCounter) -> Response {
        var copy = self
        let original = body
        copy.body = ResponseBody(contentLength: original.contentLength) { writer in
            try await original.write(CountingBodyWriter(parent: writer, counter: counter))
        }
        return copy
    }
}

/// Forwards to `parent`, counting each buffer once its write has returned (a dropped connection stops the count).
private struct CountingBodyWriter: ResponseBodyWriter {
    var parent: any ResponseBodyWriter
    let counter: ByteCounter

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await parent.write(buffer)
        counter.add(buffer.readableBytes)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await parent.finish(trailingHeaders)
    }
}
