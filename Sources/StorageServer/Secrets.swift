// The service key and the JWT secret: from the configuration, the environment, or generated once into 0600 files.
import Crypto
import Foundation

struct Secrets: Sendable {
    var serviceKey: String
    var jwtSecret: String

    /// Resolution order, for each: configuration field, environment variable, file in the data directory, new.
    static func load(
        configuration: StorageServerConfiguration,
        environment env: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Secrets {
        let dir = configuration.dataDirectory
        let secret =
            try configuration.jwtSecret ?? nonEmpty(env["STORAGE_JWT_SECRET"])
            ?? stored(dir + "/jwt_secret") {
                SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
            }
        let key =
            try configuration.serviceKey ?? nonEmpty(env["SUPABASE_SERVICE_KEY"])
            ?? stored(dir + "/service_key") {
                // Shaped like a Supabase service-role key: an HS256 JWT with role service_role.
                HS256(secret: secret).sign([
                    "iss": "codebegenfs", "role": "service_role", "iat": Int(Date().timeIntervalSince1970),
                ])
            }
        return Secrets(serviceKey: key, jwtSecret: secret)
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    /// Reads the file, or creates it (0600, fsync'd) holding `make()`.
    private static func stored(_ path: String, make: () -> String) throws -> String {
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
        }
        let value = make()
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError.io(tmp, errno) }
        let bytes = Array((value + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(tmp, path) == 0 else { throw BlobError.io(path, errno) }
        return value
    }
}

/// Who sent a request, as the storage service sees it.
enum Caller {
    case serviceRole
    /// A valid JWT with another role (anon, authenticated): no RLS policies exist here, so it may read public
    /// buckets only.
    case otherRole
    case anonymous
    case invalid(JWTError)

    var isService: Bool {
        if case .serviceRole = self { return true }
        return false
    }
}

struct Authenticator: Sendable {
    let secrets: Secrets

    func caller(authorization: String?) -> Caller {
        guard let authorization else { return .anonymous }
        let token = authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : authorization
        // Constant-time comparison of the configured key.
        let a = Array(token.utf8)
        let b = Array(secrets.serviceKey.utf8)
        if a.count == b.count && zip(a, b).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 { return .serviceRole }
        do {
            let claims = try HS256(secret: secrets.jwtSecret).verify(token)
            return claims["role"] as? String == "service_role" ? .serviceRole : .otherRole
        } catch {
            return .invalid(error)
        }
    }

    /// For routes that need a JWT: a missing header fails schema validation, a bad one is AccessDenied.
    func requireService(authorization: String?) throws(APIError) {
        switch caller(authorization: authorization) {
        case .serviceRole: return
        case .anonymous: throw APIError.invalidRequest("headers must have required property 'authorization'")
        case .invalid(let e): throw APIError.accessDenied(e.message)
        case .otherRole: throw APIError.rlsDenied
        }
    }
}
