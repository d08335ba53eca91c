// Typed storage errors, and the decoding of Supabase error answers (HTTP status plus JSON body) into them.
import Foundation

/// An object-store failure. Each case carries the server's (or libcurl's) message; none carries the API key.
public enum StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Bucket or object missing (body statusCode "404").
    case notFound(String)
    /// The key or bucket already exists (body statusCode "409").
    case conflict(String)
    /// The key was refused: bad or expired JWT, access denied (body statusCode "401"/"403", InvalidJWT).
    case unauthorized(String)
    /// The object exceeds the allowed size (body statusCode "413").
    case tooLarge(String)
    /// Worth retrying: connection errors, timeouts, resets, HTTP 5xx/429/544, body statusCode "503"/"423".
    case transient(String)
    /// Any other refusal; `statusCode` is the body's statusCode (or the HTTP status), `code` the body's code.
    case permanent(statusCode: Int, code: String, message: String)
    /// A local file could not be read or written.
    case localFile(path: String, errno: Int32)
    /// The calling task was cancelled; the transfer was aborted.
    case cancelled

    /// Whether retrying the same request may succeed.
    public var isTransient: Bool {
        if case .transient = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let m): return "not found: \(m)"
        case .conflict(let m): return "conflict: \(m)"
        case .unauthorized(let m): return "unauthorized: \(m)"
        case .tooLarge(let m): return "too large: \(m)"
        case .transient(let m): return "transient: \(m)"
        case .permanent(let s, let c, let m): return "error \(s) \(c): \(m)"
        case .localFile(let p, let e): return "local file \(p): \(String(cString: strerror(e)))"
        case .cancelled: return "cancelled"
        }
    }
}

/// The JSON error body Supabase Storage sends: `statusCode` is a string; `code` is missing on old servers.
struct ErrorBody: Decodable {
    var statusCode: String?
    var error: String?
    var message: String?
    var code: String?

    private enum CodingKeys: String, CodingKey { case statusCode, error, message, code }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The reference says string; accept a number too, in case a gateway answers with one.
        if let s = try? c.decodeIfPresent(String.self, forKey: .statusCode) {
            statusCode = s
        } else if let n = try? c.decodeIfPresent(Int.self, forKey: .statusCode) {
            statusCode = String(n)
        }
        error = try? c.decodeIfPresent(String.self, forKey: .error)
        message = try? c.decodeIfPresent(String.self, forKey: .message)
        code = try? c.decodeIfPresent(String.self, forKey: .code)
    }
}

extension StorageError {
    /// Body codes with statusCode "503" that mean misconfiguration, not load: not worth retrying.
    private static let permanent503Codes: Set<String> = ["DatabaseSchemaMismatch", "DatabaseInvalidObjectDefinition"]

    /// Maps a non-2xx answer to an error. The body's `statusCode` decides, since most errors arrive as HTTP 400.
    static func from(httpStatus: Int, body: [UInt8]) -> StorageError {
        let parsed = try? JSONDecoder().decode(ErrorBody.self, from: Data(body))
        let message = parsed?.message ?? parsed?.error ?? "HTTP \(httpStatus)"
        let code = parsed?.code ?? parsed?.error ?? ""
        // Gateway 5xx/429 bodies are UNCONFIRMED (maybe HTML): the HTTP status alone decides for these.
        if httpStatus >= 500 || httpStatus == 429 {
            return .transient("HTTP \(httpStatus): \(message)")
        }
        let bodyStatus = parsed?.statusCode.flatMap { Int($0) } ?? httpStatus
        switch bodyStatus {
        case 503, 423:
            if permanent503Codes.contains(code) {
                return .permanent(statusCode: bodyStatus, code: code, message: message)
            }
            return .transient("\(bodyStatus) \(code): \(message)")
        case 429, 500...599:
            return .transient("\(bodyStatus) \(code): \(message)")
        case 404: return .notFound(message)
        case 409: return .conflict(message)
        case 413: return .tooLarge(message)
        case 401, 403: return .unauthorized(message)
        default:
            if code == "InvalidJWT" || code == "InvalidSignature" || code == "AccessDenied" {
                return .unauthorized(message)
            }
            return .permanent(statusCode: bodyStatus, code: code, message: message)
        }
    }
}
