// JSON shapes of Supabase Storage answers, and the signed-URL path helpers.
import Foundation

struct WireObjectInfo: Decodable {
    var size: Int64?
    var etag: String?
    var content_type: String?
    var last_modified: String?
    var created_at: String?
}

struct WireSignedURL: Decodable {
    var signedURL: String?
}

struct WireBucket: Decodable {
    var id: String
    var name: String
}

struct WireListItem: Decodable {
    struct Metadata: Decodable {
        var size: Int64?
        var eTag: String?
        var mimetype: String?
    }
    var name: String
    var id: String?
    var updated_at: String?
    var metadata: Metadata?

    /// Folder entries have a null id.
    var entry: ListEntry {
        ListEntry(
            name: name,
            isFolder: id == nil,
            size: metadata?.size,
            etag: metadata?.eTag,
            contentType: metadata?.mimetype,
            updatedAt: WireDate.parse(updated_at)
        )
    }
}

enum WireDate {
    /// ISO-8601 with or without fractional seconds.
    static func parse(_ s: String?) -> Date? {
        guard let s else { return nil }
        if let d = try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return d }
        return try? Date(s, strategy: Date.ISO8601FormatStyle())
    }
}

enum SignedURLBuilder {
    /// The server answers `/object/sign/<bucket>/<key>?token=<jwt>` with the key *decoded*; encode it and
    /// prepend the storage base. The token (base64url and dots) needs no encoding.
    static func absolute(base: String, returnedPath: String) -> String {
        let (path, query) = split(returnedPath)
        let encoded = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { KeyEncoding.encodeSegment(String($0)) }
            .joined(separator: "/")
        return base + encoded + (query.map { "?" + $0 } ?? "")
    }

    /// The `exp` claim of the token in a returned path.
    static func expiry(ofReturnedPath returned: String) -> Date? {
        guard let query = split(returned).1, let tokenStart = query.range(of: "token=") else { return nil }
        let token = query[tokenStart.upperBound...].prefix { $0 != "&" }
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64),
            let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let exp = claims["exp"] as? Double
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }

    /// Splits at the last `?token=` (a key may itself contain `?`).
    private static func split(_ s: String) -> (String, String?) {
        guard let r = s.range(of: "?token=", options: .backwards) else { return (s, nil) }
        return (String(s[..<r.lowerBound]), String(s[s.index(after: r.lowerBound)...]))
    }
}
