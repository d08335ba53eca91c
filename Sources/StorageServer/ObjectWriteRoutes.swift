// Object writes: upload (POST/PUT, raw or multipart), delete one or many, move, copy.
import Foundation
import Hummingbird

extension StorageService {
    func upload(_ request: Request, bucket bucketID: String, key: String, upsert: Bool) async throws -> Response {
        let bucket = try await requireBucket(bucketID)
        let limits = [configuration.fileSizeLimit, bucket.fileSizeLimit].compactMap { $0 }
        let received = try await UploadReceiver.receive(request, directory: blobs.tmpDirectory, limit: limits.min())
        let blob = received.blob
        if let allowed = bucket.mimeTypes, !Self.mimeAllowed(received.mimetype, allowed) {
            blob.discard()
            throw APIError(
                "415",
                "invalid_mime_type",
                "mime type \(received.mimetype) is not supported",
                code: "InvalidMimeType"
            )
        }
        if key.hasSuffix(".emptyFolderPlaceholder") && blob.size > 0 {
            blob.discard()
            throw APIError.tooLarge
        }
        let row = try await commitObject(
            blob,
            bucket: bucketID,
            key: key,
            mimetype: received.mimetype,
            cacheControl: received.cacheControl,
            userMetadata: received.userMetadata,
            upsert: upsert
        )
        return JSONResponse.make(["Id": row.id, "Key": "\(bucketID)/\(key)"])
    }

    /// Makes a received blob the object `key` of the bucket: the file goes into place, then its row (size, MD5
    /// ETag, mimetype, cache control, user metadata). Shared by standard uploads and finished resumable ones.
    /// Without `upsert` an existing object fails with the Duplicate error; with it the old object is replaced.
    func commitObject(
        _ blob: TempBlob,
        bucket bucketID: String,
        key: String,
        mimetype: String,
        cacheControl: String,
        userMetadata: String?,
        upsert: Bool
    ) async throws -> ObjectRow {
        let id = UUID().uuidString.lowercased()
        let etag = blob.etag
        let size = blob.size
        try await blobs.commit(tmp: blob, as: id)
        let now = Timestamp.iso()
        let row = ObjectRow(
            id: id,
            bucketID: bucketID,
            name: key,
            size: size,
            mimetype: mimetype,
            cacheControl: cacheControl,
            etag: etag,
            userMetadata: userMetadata,
            createdAt: now,
            updatedAt: now,
            lastAccessedAt: now
        )
        do {
            if let old = try await metadata.putObject(row, upsert: upsert) { blobs.remove(id: old.id) }
        } catch MetadataConflict.duplicate {
            blobs.remove(id: id)
            throw APIError.duplicateKey
        } catch {
            blobs.remove(id: id)
            throw error
        }
        return row
    }

    /// `image/*` matches any image type; otherwise an exact match, parameters included.
    static func mimeAllowed(_ type: String, _ allowed: [String]) -> Bool {
        allowed.contains { pattern in
            if pattern.hasSuffix("/*") { return type.hasPrefix(pattern.dropLast()) }
            return pattern == type
        }
    }

    func deleteOne(bucket: String, key: String) async throws -> Response {
        _ = try await requireBucket(bucket)
        let rows = try await metadata.deleteObjects(bucket: bucket, names: [key])
        guard !rows.isEmpty else { throw APIError.noSuchKey }
        for row in rows { blobs.remove(id: row.id) }
        return JSONResponse.message("Successfully deleted")
    }

    /// `prefixes` are exact keys; missing ones (and a missing bucket) give fewer rows, not an error.
    func deleteMany(_ request: Request, bucket: String) async throws -> Response {
        let body = try await JSONBody.object(request)
        guard let names = body["prefixes"] as? [String], !names.isEmpty else {
            throw APIError.invalidRequest("body/prefixes must NOT have fewer than 1 items")
        }
        guard names.count <= 1000 else {
            throw APIError.invalidRequest("body/prefixes must NOT have more than 1000 items")
        }
        let rows = try await metadata.deleteObjects(bucket: bucket, names: names)
        for row in rows { blobs.remove(id: row.id) }
        return JSONResponse.make(rows.map { objectJSON($0, includeBucket: true) })
    }

    private struct Transfer {
        var bucket: String
        var source: String
        var destinationBucket: String
        var destination: String
        var body: [String: Any]
    }

    private func transferRequest(_ request: Request) async throws -> Transfer {
        let body = try await JSONBody.object(request)
        for field in ["bucketId", "sourceKey", "destinationKey"] where !(body[field] is String) {
            throw APIError.invalidRequest("body must have required property '\(field)'")
        }
        let bucket = body["bucketId"] as? String ?? ""
        let source = body["sourceKey"] as? String ?? ""
        let destination = body["destinationKey"] as? String ?? ""
        guard NameRules.isValidKey(source) else { throw APIError.invalidKey(source) }
        guard NameRules.isValidKey(destination) else { throw APIError.invalidKey(destination) }
        let destinationBucket = body["destinationBucket"] as? String ?? bucket
        _ = try await requireBucket(bucket)
        _ = try await requireBucket(destinationBucket)
        return Transfer(
            bucket: bucket,
            source: source,
            destinationBucket: destinationBucket,
            destination: destination,
            body: body
        )
    }

    func moveObject(_ request: Request) async throws -> Response {
        let t = try await transferRequest(request)
        do {
            try await metadata.moveObject(
                bucket: t.bucket,
                from: t.source,
                toBucket: t.destinationBucket,
                to: t.destination,
                now: Timestamp.iso()
            )
        } catch MetadataConflict.missing {
            throw APIError.noSuchKey
        } catch MetadataConflict.duplicate {
            throw APIError.duplicateKey
        }
        return JSONResponse.message("Successfully moved")
    }

    func copyObject(_ request: Request) async throws -> Response {
        let t = try await transferRequest(request)
        let upsert = request.headers.value(of: "x-upsert") == "true"
        let source = try await requireObject(bucket: t.bucket, key: t.source)
        let id = UUID().uuidString.lowercased()
        try await blobs.copy(id: source.id, to: id)
        let now = Timestamp.iso()
        var row = source
        row.id = id
        row.bucketID = t.destinationBucket
        row.name = t.destination
        row.createdAt = now
        row.updatedAt = now
        row.lastAccessedAt = now
        if JSONBody.bool(t.body["copyMetadata"]) == false { row.userMetadata = nil }
        if let meta = t.body["metadata"] as? [String: Any] {
            if let cc = meta["cacheControl"] as? String { row.cacheControl = cc }
            if let mt = meta["mimetype"] as? String { row.mimetype = mt }
        }
        do {
            if let old = try await metadata.putObject(row, upsert: upsert) { blobs.remove(id: old.id) }
        } catch MetadataConflict.duplicate {
            blobs.remove(id: id)
            throw APIError.duplicateKey
        }
        var json = objectJSON(row, includeBucket: true)
        json["Id"] = id
        json["Key"] = "\(t.destinationBucket)/\(t.destination)"
        return JSONResponse.make(json)
    }

    /// The object row as list and delete answers show it, with the upload's `metadata` object.
    func objectJSON(_ row: ObjectRow, includeBucket: Bool, name: String? = nil) -> [String: Any] {
        var json: [String: Any] = [
            "name": name ?? row.name, "id": row.id, "updated_at": row.updatedAt, "created_at": row.createdAt,
            "last_accessed_at": row.lastAccessedAt,
            "metadata": [
                "eTag": row.etag, "size": row.size, "mimetype": row.mimetype, "cacheControl": row.cacheControl,
                "lastModified": row.updatedAt, "contentLength": row.size, "httpStatusCode": 200,
            ] as [String: Any],
        ]
        if includeBucket { json["bucket_id"] = row.bucketID }
        return json
    }
}
