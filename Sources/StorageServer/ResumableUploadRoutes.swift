// `/upload/resumable`: the TUS 1.0.0 endpoint as Supabase Storage serves it (supabase/storage
// src/http/routes/tus, on @tus/server). Dispatch, OPTIONS, HEAD and DELETE, and the checks they share;
// creation is in ResumableUploadCreation.swift, PATCH in ResumableUploadPatch.swift.
import Foundation
import Hummingbird

/// A fault the responder injects into one resumable-upload request (see StorageResponder).
enum ResumableFault: Sendable {
    case none
    /// Store this fraction of the body, then drop the connection without an answer.
    case cutBody(Double)
    /// Do the work, then drop the connection without an answer.
    case dropAnswer
}

extension StorageService {
    func resumableRoute(
        _ request: Request,
        _ rest: [String],
        relativePath: String,
        fault: ResumableFault
    ) async throws -> Response {
        let method = request.method
        guard rest.first == "resumable", rest.count <= 2 else {
            throw APIError.routeNotFound(method.rawValue, relativePath)
        }
        let id = rest.count == 2 ? rest[1] : nil
        switch (method, id) {
        case (.options, _):
            return tusOptions()  // public, as in Supabase: no key needed
        case (.post, nil), (.head, .some), (.patch, .some), (.delete, .some):
            break
        default:
            throw APIError.routeNotFound(method.rawValue, relativePath)
        }
        // Errors before the TUS handler keep the Supabase JSON shape: the key check, and Fastify's refusal of a
        // body whose Content-Type has no parser (HTTP 400, statusCode "415").
        try auth.requireService(authorization: request.headers[.authorization])
        if method == .post || method == .patch, TusHeaders.hasBody(request),
            TusHeaders.mediaType(request) != Tus.offsetContentType
        {
            throw APIError.invalidContentType
        }
        do {
            try TusHeaders.validate(request)
            switch (method, id) {
            case (.post, _):
                return try await createUpload(request, fault: fault)
            case (.head, let id?):
                return try await uploadStatus(id: id)
            case (.patch, let id?):
                return try await appendToUpload(request, id: id, fault: fault)
            case (.delete, let id?):
                return try await terminateUpload(request, id: id)
            default:
                throw APIError.routeNotFound(method.rawValue, relativePath)
            }
        } catch let error as TusError {
            return error.response(head: method == .head)
        } catch let error as APIError {
            return TusError(error).response(head: method == .head)
        }
    }

    /// 204 with the protocol version, the extensions and (when a global limit applies) Tus-Max-Size.
    private func tusOptions() -> Response {
        var headers = HTTPFields()
        headers[.tusResumable] = Tus.version
        headers[.tusVersion] = Tus.version
        headers[.tusExtension] = Tus.extensions
        if let limit = configuration.fileSizeLimit { headers[.tusMaxSize] = String(limit) }
        headers[.accessControlAllowMethods] = Tus.allowedMethods
        headers[.accessControlAllowHeaders] = Tus.allowedHeaders
        headers[.accessControlMaxAge] = Tus.corsMaxAge
        return Response(status: .noContent, headers: headers)
    }

    /// HEAD: the offset and length (200), 404 for an unknown upload, 410 once it has expired.
    private func uploadStatus(id: String) async throws -> Response {
        try requireWellFormed(id)
        // @tus/server reads the upload under its lock, so a HEAD also waits for (and hurries) a running PATCH.
        let row = try await resumable.locks.withLock(id) { _ in try await liveUpload(id) }
        var headers = HTTPFields()
        headers[.tusResumable] = Tus.version
        headers[.cacheControl] = "no-store"
        headers[.uploadOffset] = String(row.offset)
        headers[.uploadLength] = String(row.length)
        if let meta = row.uploadMetadata { headers[.uploadMetadata] = meta }
        return Response(status: .ok, headers: headers)
    }

    /// DELETE (termination): 204 and the upload is gone; a finished upload cannot be terminated (400).
    private func terminateUpload(_ request: Request, id: String) async throws -> Response {
        try requireWellFormed(id)
        try await checkCanWrite(request, upload: try await knownUpload(id))
        try await resumable.locks.withLock(id) { _ in
            let row = try await knownUpload(id)
            if row.completed { throw TusError.invalidTermination }
            try await removeUpload(row)
        }
        var headers = HTTPFields()
        headers[.tusResumable] = Tus.version
        return Response(status: .noContent, headers: headers)
    }

    // MARK: Shared checks

    /// Supabase decodes the id (base64url of `<bucket>/<key>/<version>`) before anything else: 400 when it is not one.
    func requireWellFormed(_ id: String) throws(TusError) {
        guard ResumableUploadID.parse(id) != nil else { throw .invalidUploadID }
    }

    /// The upload's row, or 404.
    func knownUpload(_ id: String) async throws -> ResumableUploadRow {
        guard let row = try await metadata.upload(id: id) else { throw TusError.fileNotFound }
        return row
    }

    /// The upload's row, or 404; an expired upload is removed and answers 410.
    func liveUpload(_ id: String) async throws -> ResumableUploadRow {
        let row = try await knownUpload(id)
        if resumable.isExpired(row) {
            try await removeUpload(row)
            throw TusError.fileNoLongerExists
        }
        return row
    }

    func removeUpload(_ row: ResumableUploadRow) async throws {
        try await metadata.deleteUpload(id: row.id)
        unlink(resumable.dataPath(row))
    }

    /// Supabase's `canUpload`, run for each POST, PATCH and DELETE with that request's own `x-upsert`: the bucket
    /// must exist, and without upsert the object must not (409 Duplicate), so the first upload of a key to finish
    /// wins and the others fail at their next request.
    func checkCanWrite(_ request: Request, upload row: ResumableUploadRow) async throws {
        _ = try await requireBucket(row.bucketID)
        let upsert = request.headers.value(of: "x-upsert") == "true"
        if !upsert, try await metadata.object(bucket: row.bucketID, name: row.name) != nil {
            throw APIError.duplicateKey
        }
    }

    /// The smaller of the global limit and the bucket's `file_size_limit` (0 counts as none, as in Supabase).
    func uploadLimit(_ bucket: BucketRow) -> Int64? {
        [configuration.fileSizeLimit, bucket.fileSizeLimit].compactMap { $0 }.filter { $0 > 0 }.min()
    }
}

extension APIError {
    /// Fastify's answer, through Supabase's error handler, to a body whose Content-Type has no parser.
    static let invalidContentType = APIError(
        "415",
        "invalid_mime_type",
        "Invalid Content-Type header",
        code: "InvalidMimeType"
    )
}

/// The id in an upload URL: base64url (unpadded) of `<bucket>/<key>/<version>`, as Supabase builds it.
enum ResumableUploadID {
    static func make(bucket: String, key: String, version: String) -> String {
        Data("\(bucket)/\(key)/\(version)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func parse(_ id: String) -> (bucket: String, key: String, version: String)? {
        var base64 = id.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, let bucket = parts.first, let version = parts.last, !version.isEmpty else {
            return nil
        }
        return (bucket, parts.dropFirst().dropLast().joined(separator: "/"), version)
    }
}
