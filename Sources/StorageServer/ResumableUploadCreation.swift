// POST /upload/resumable: creates an upload (TUS creation, and creation-with-upload when a body comes along),
// checked in the order Supabase checks it (@tus/server PostHandler with Supabase's naming, size and
// onIncomingRequest/onCreate hooks).
import Foundation
import Hummingbird

extension StorageService {
    func createUpload(_ request: Request, fault: ResumableFault) async throws -> Response {
        let headers = request.headers
        if headers[.uploadConcat] != nil { throw TusError.concatenationUnsupported }
        // The bundled server does not offer creation-defer-length; @tus/server answers 501 for a store without it.
        if headers[.uploadDeferLength] != nil { throw TusError.deferLengthUnsupported }
        guard let length = headers[.uploadLength].flatMap(TusHeaders.integer) else { throw TusError.invalidLength }
        guard let rawMetadata = headers[.uploadMetadata], let fields = UploadMetadata.parse(rawMetadata) else {
            throw TusError.metadataRequired
        }
        let bucketName = (fields["bucketName"] ?? nil) ?? ""
        let key = (fields["objectName"] ?? nil) ?? ""
        guard NameRules.isValidBucketName(bucketName) else { throw APIError.invalidBucketName }
        guard NameRules.isValidKey(key) else { throw APIError.invalidKey(key) }
        // The size limit needs the bucket: a missing bucket is reported first (404 "Bucket not found").
        let bucket = try await requireBucket(bucketName)
        if let limit = uploadLimit(bucket), length > limit { throw TusError.maxSizeExceeded }
        let upsert = headers.value(of: "x-upsert") == "true"
        if !upsert, try await metadata.object(bucket: bucketName, name: key) != nil { throw APIError.duplicateKey }
        let contentType = fields["contentType"] ?? nil
        if let contentType, let allowed = bucket.mimeTypes, !Self.mimeAllowed(contentType, allowed) {
            throw APIError(
                "415",
                "invalid_mime_type",
                "mime type \(contentType) is not supported",
                code: "InvalidMimeType"
            )
        }
        let version = UUID().uuidString.lowercased()
        var row = ResumableUploadRow(
            id: ResumableUploadID.make(bucket: bucketName, key: key, version: version),
            version: version,
            bucketID: bucketName,
            name: key,
            length: length,
            offset: 0,
            mimetype: contentType ?? "application/octet-stream",
            cacheControl: Self.tusCacheControl(fields["cacheControl"] ?? nil),
            userMetadata: Self.userMetadata(fields["metadata"] ?? nil),
            uploadMetadata: rawMetadata,
            createdAt: Date().timeIntervalSince1970,
            completed: false
        )
        try await metadata.insertUpload(row)

        var answer = HTTPFields()
        answer[.tusResumable] = Tus.version
        answer[.location] = uploadURL(request, id: row.id)
        try await resumable.locks.withLock(row.id) { lease in
            // creation-with-upload: a body in the offset media type is stored at once.
            if TusHeaders.mediaType(request) == Tus.offsetContentType {
                row = try await storeBody(request, upload: row, lease: lease, fault: fault)
                answer[.uploadOffset] = String(row.offset)
            }
            if row.offset == row.length {
                try await finishUpload(row)
                answer[.tusComplete] = "1"
            } else {
                answer[.uploadExpires] = Timestamp.http(resumable.expiresAt(row))
            }
        }
        answer[.contentLength] = "0"
        return Response(status: .created, headers: answer)
    }

    /// `<proto>://<host>/storage/v1/upload/resumable/<id>`, from the forwarded headers or the Host header.
    private func uploadURL(_ request: Request, id: String) -> String {
        let forwardedProto = request.headers.value(of: "x-forwarded-proto")
        let proto = forwardedProto == "https" || forwardedProto == "http" ? forwardedProto ?? "http" : "http"
        let host =
            request.headers.value(of: "x-forwarded-host") ?? request.head.authority
            ?? "\(configuration.host):\(configuration.port)"
        return "\(proto)://\(host)/storage/v1/upload/resumable/\(id)"
    }

    /// Supabase's onCreate: a number of seconds becomes `max-age=<n>`, anything else `no-cache`.
    static func tusCacheControl(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "no-cache" }
        let digits = value.hasPrefix("-") ? value.dropFirst() : Substring(value)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return "no-cache" }
        return "max-age=\(value)"
    }

    /// The `metadata` entry when it is a JSON object (kept as user metadata), else nil (Supabase ignores it).
    private static func userMetadata(_ value: String?) -> String? {
        guard let value, (try? JSONSerialization.jsonObject(with: Data(value.utf8))) is [String: Any] else {
            return nil
        }
        return value
    }
}
