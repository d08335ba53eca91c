// Percent-encoding of object keys and bucket names for URL paths (each segment encoded, `/` kept).

enum KeyEncoding {
    /// RFC 3986 unreserved characters; everything else in a segment is percent-encoded.
    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Encodes one path segment (a `/` inside it is encoded too).
    static func encodeSegment(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes a key: leading `/` stripped, each segment encoded, `/` kept.
    static func encodeKey(_ key: String) -> String {
        var k = Substring(key)
        while k.hasPrefix("/") { k = k.dropFirst() }
        return k.split(separator: "/", omittingEmptySubsequences: false)
            .map { encodeSegment(String($0)) }
            .joined(separator: "/")
    }
}
