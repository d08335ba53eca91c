// The server's state (metadata, blobs, resumable uploads, secrets) and the dispatch of `/storage/v1` requests.
import Foundation
import Hummingbird
import Logging

/// Everything a request handler needs. Immutable after start; the database and files do their own locking.
final class StorageService: Sendable {
    let configuration: StorageServerConfiguration
    let metadata: MetadataStore
    let blobs: BlobFiles
    let resumable: ResumableUploads
    let auth: Authenticator
    let signer: HS256
    let logger: Logger
    /// Resumable PATCH requests so far (for `faultCutEveryPatch`).
    let patches = RequestCounter()

    init(configuration: StorageServerConfiguration, secrets: Secrets, logger: Logger) throws {
        self.configuration = configuration
        self.metadata = try MetadataStore(path: configuration.dataDirectory + "/storage.sqlite")
        self.blobs = try BlobFiles(dataDirectory: configuration.dataDirectory)
        self.resumable = try ResumableUploads(
            dataDirectory: configuration.dataDirectory,
            expiry: configuration.resumableUploadExpiry,
            lockDrainTimeout: configuration.resumableLockDrainTimeout
        )
        self.auth = Authenticator(secrets: secrets)
        self.signer = HS256(secret: secrets.jwtSecret)
        self.logger = logger
    }

    /// Routes a request whose path (after `/storage/v1`) is `segments`, already percent-decoded.
    func route(_ request: Request, _ segments: [String], relativePath: String) async throws -> Response {
        let method = request.method
        let authorization = request.headers[.authorization]
        guard let first = segments.first else { throw APIError.routeNotFound(method.rawValue, relativePath) }
        let rest = Array(segments.dropFirst())
        switch (first, method) {
        case ("bucket", _):
            return try await bucketRoute(request, rest, relativePath: relativePath)
        case ("object", .post) where rest == ["move"]:
            try auth.requireService(authorization: authorization)
            return try await moveObject(request)
        case ("object", .post) where rest == ["copy"]:
            try auth.requireService(authorization: authorization)
            return try await copyObject(request)
        case ("object", .post) where rest.count >= 4 && rest[0] == "upload" && rest[1] == "sign":
            try auth.requireService(authorization: authorization)
            return try await signUpload(request, bucket: rest[2], key: try key(rest.dropFirst(3)))
        case ("object", .put) where rest.count >= 4 && rest[0] == "upload" && rest[1] == "sign":
            return try await uploadSigned(request, bucket: rest[2], key: try key(rest.dropFirst(3)))
        case ("object", .post) where rest.first == "list" && rest.count == 2:
            try auth.requireService(authorization: authorization)
            return try await listObjects(request, bucket: rest[1])
        case ("object", .post) where rest.first == "sign" && rest.count == 2:
            try auth.requireService(authorization: authorization)
            return try await signMany(request, bucket: rest[1])
        case ("object", .post) where rest.first == "sign" && rest.count >= 3:
            try auth.requireService(authorization: authorization)
            return try await signOne(request, bucket: rest[1], key: try key(rest.dropFirst(2)))
        case ("object", .get) where rest.first == "sign" && rest.count >= 3,
            ("object", .head) where rest.first == "sign" && rest.count >= 3:
            return try await getSigned(request, bucket: rest[1], key: try key(rest.dropFirst(2)))
        case ("object", .get) where rest.first == "info" && rest.count >= 3,
            ("object", .head) where rest.first == "info" && rest.count >= 3:
            var r = rest.dropFirst()
            let access = readAccess(&r, authorization: authorization)
            guard r.count >= 2, let bucket = r.first else {
                throw APIError.routeNotFound(method.rawValue, relativePath)
            }
            return try await objectInfo(bucket: bucket, key: try key(r.dropFirst()), access: try access())
        case ("object", .get) where rest.count >= 2, ("object", .head) where rest.count >= 2:
            var r = rest[...]
            let access = readAccess(&r, authorization: authorization)
            guard r.count >= 2, let bucket = r.first else {
                throw APIError.routeNotFound(method.rawValue, relativePath)
            }
            return try await getObject(
                request,
                bucket: bucket,
                key: try key(r.dropFirst()),
                access: try access(),
                head: method == .head
            )
        case ("object", .post) where rest.count >= 2, ("object", .put) where rest.count >= 2:
            try auth.requireService(authorization: authorization)
            let upsert = method == .put || request.headers.value(of: "x-upsert") == "true"
            return try await upload(request, bucket: rest[0], key: try key(rest.dropFirst()), upsert: upsert)
        case ("object", .delete) where rest.count == 1:
            try auth.requireService(authorization: authorization)
            return try await deleteMany(request, bucket: rest[0])
        case ("object", .delete) where rest.count >= 2:
            try auth.requireService(authorization: authorization)
            return try await deleteOne(bucket: rest[0], key: try key(rest.dropFirst()))
        case ("status", .get), ("version", .get):
            return JSONResponse.make(["status": "ok"])
        default:
            throw APIError.routeNotFound(method.rawValue, relativePath)
        }
    }

    /// Which callers may read through a GET route: `/authenticated/` needs a JWT, `/public/` needs a public
    /// bucket, the plain route takes a JWT when one is valid and acts as anon otherwise.
    enum ReadAccess {
        case service
        case publicOnly
    }

    private func readAccess(_ r: inout ArraySlice<String>, authorization: String?) -> () throws -> ReadAccess {
        let caller = auth.caller(authorization: authorization)
        switch r.first {
        case "authenticated":
            r = r.dropFirst()
            return { [auth] in
                try auth.requireService(authorization: authorization)
                return .service
            }
        case "public":
            r = r.dropFirst()
            return { .publicOnly }
        default:
            return { caller.isService ? .service : .publicOnly }
        }
    }

    /// Joins key segments and checks the key alphabet.
    func key(_ segments: ArraySlice<String>) throws(APIError) -> String {
        let k = segments.joined(separator: "/")
        guard NameRules.isValidKey(k) else { throw APIError.invalidKey(k) }
        return k
    }

    /// The bucket, or NoSuchBucket. With `.publicOnly` access, a private bucket is reported as missing.
    func requireBucket(_ id: String, access: ReadAccess = .service) async throws -> BucketRow {
        guard let bucket = try await metadata.bucket(id) else { throw APIError.noSuchBucket }
        if case .publicOnly = access, !bucket.isPublic { throw APIError.noSuchBucket }
        return bucket
    }

    func requireObject(bucket: String, key: String) async throws -> ObjectRow {
        guard let row = try await metadata.object(bucket: bucket, name: key) else { throw APIError.noSuchKey }
        return row
    }

    /// Creates the configured bucket when missing.
    func ensureDefaultBucket() async throws {
        if try await metadata.bucket(configuration.bucket) != nil { return }
        let now = Timestamp.iso()
        do {
            try await metadata.createBucket(
                BucketRow(
                    id: configuration.bucket,
                    name: configuration.bucket,
                    owner: nil,
                    isPublic: false,
                    fileSizeLimit: nil,
                    allowedMimeTypes: nil,
                    createdAt: now,
                    updatedAt: now
                )
            )
        } catch MetadataConflict.duplicate {
            return
        }
    }
}

/// Counts requests across the server's threads.
final class RequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0  // guarded by `lock`

    /// The number of this request: 1 for the first.
    func next() -> Int { lock.withLock { count += 1; return count } }
}
