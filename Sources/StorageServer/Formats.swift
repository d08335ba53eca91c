// Small wire formats: timestamps, key and bucket-name rules, JSON request bodies, Range headers.
import Foundation
import Hummingbird

enum Timestamp {
    /// ISO-8601 with milliseconds, as the API returns timestamps.
    static func iso(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func parse(_ s: String) -> Date? {
        try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// RFC 1123, for Last-Modified and Expires.
    static func http(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

enum NameRules {
    private static let keyPunctuation = Set("_/!.*'() &$=@;:+,?-")
    private static let bucketPunctuation = Set("_!.*'() &$=@;:+,?-")

    /// Allowed key characters: `A-Z a-z 0-9 _ / ! . * ' ( ) space & $ = @ ; : + , ? -`; non-empty.
    /// No length limit: the reference found none in the server source (the S3 limit is UNCONFIRMED).
    static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.allSatisfy { c in c.isASCII && (c.isLetter || c.isNumber || keyPunctuation.contains(c)) }
    }

    static func isValidBucketName(_ name: String) -> Bool {
        guard (1...100).contains(name.count), name.first != " ", name.last != " " else { return false }
        return name.allSatisfy { c in c.isASCII && (c.isLetter || c.isNumber || bucketPunctuation.contains(c)) }
    }
}

enum JSONBody {
    /// Collects a small JSON body (≤ 1 MiB) into a dictionary; anything else is a validation error.
    static func object(_ request: Request) async throws -> [String: Any] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 1 << 20)
        } catch {
            throw APIError.invalidRequest("body too large")
        }
        if buffer.readableBytes == 0 { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
        else { throw APIError.invalidRequest("body must be object") }
        return object
    }

    /// An integer that may arrive as a JSON number or a numeric string (the server coerces types).
    static func int(_ value: Any?) -> Int? {
        // On Linux a JSON 1 also casts to Bool, so numbers are tried first.
        if let n = value as? Int { return n }
        if let d = value as? Double, d == d.rounded() { return Int(d) }
        if let s = value as? String { return Int(s) }
        return nil
    }

    static func bool(_ value: Any?) -> Bool? {
        if let b = value as? Bool { return b }
        if let s = value as? String { return s == "true" ? true : (s == "false" ? false : nil) }
        return nil
    }
}

/// A resolved byte range: offsets `start...end` (inclusive) of an object of `total` bytes.
struct ResolvedRange {
    var start: Int64
    var end: Int64

    /// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range. nil: not satisfiable or malformed.
    static func parse(_ header: String, size: Int64) -> ResolvedRange? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.hasPrefix("bytes="), !h.contains(",") else { return nil }
        let spec = h.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        let a = spec[0].trimmingCharacters(in: .whitespaces)
        let b = spec[1].trimmingCharacters(in: .whitespaces)
        if a.isEmpty {
            guard let n = Int64(b), n > 0, size > 0 else { return nil }
            return ResolvedRange(start: max(0, size - n), end: size - 1)
        }
        guard let start = Int64(a), start >= 0, start < size else { return nil }
        if b.isEmpty { return ResolvedRange(start: start, end: size - 1) }
        guard let end = Int64(b), end >= start else { return nil }
        return ResolvedRange(start: start, end: min(end, size - 1))
    }
}
