// HS256 compact JWS: signing and verifying the service key and signed-URL tokens, with jose's error messages.
import Crypto
import Foundation

enum JWTError: Error, Equatable {
    /// jose: `Invalid Compact JWS`.
    case malformed
    /// jose: `signature verification failed`.
    case badSignature
    /// jose: `"exp" claim timestamp check failed`.
    case expired

    /// The message Supabase Storage (jose, since v1.22.9) puts in the error body.
    var message: String {
        switch self {
        case .malformed: return "Invalid Compact JWS"
        case .badSignature: return "signature verification failed"
        case .expired: return "\"exp\" claim timestamp check failed"
        }
    }
}

struct HS256: Sendable {
    /// The secret's bytes; `SymmetricKey` is not Sendable, so it is built per use.
    private let secret: [UInt8]

    init(secret: String) { self.secret = Array(secret.utf8) }

    private var key: SymmetricKey { SymmetricKey(data: secret) }

    func sign(_ claims: [String: Any]) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payloadData = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        let input = header + "." + Base64URL.encode(Array(payloadData))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key)
        return input + "." + Base64URL.encode(Array(mac))
    }

    /// Verifies the signature, then `exp` (when present). Returns the claims.
    func verify(_ token: String, now: Date = Date()) throws(JWTError) -> [String: Any] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            let payloadBytes = Base64URL.decode(parts[1]),
            let claims = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any],
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard header["alg"] as? String == "HS256" else { throw .badSignature }
        let input = Array("\(parts[0]).\(parts[1])".utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: key) else {
            throw .badSignature
        }
        if let exp = (claims["exp"] as? NSNumber)?.doubleValue, exp <= now.timeIntervalSince1970 {
            throw .expired
        }
        return claims
    }
}

enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ s: Substring) -> [UInt8]? {
        var b64 = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !b64.contains("=") else { return nil }
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64).map(Array.init)
    }
}
