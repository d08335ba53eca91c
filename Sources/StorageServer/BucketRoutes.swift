// `/bucket` routes: list, get, create, update, delete, empty.
import Foundation
import Hummingbird

extension StorageService {
    func bucketRoute(_ request: Request, _ rest: [String], relativePath: String) async throws -> Response {
        try auth.requireService(authorization: request.headers[.authorization])
        switch (request.method, rest.count) {
        case (.get, 0):
            return JSONResponse.make(try await metadata.buckets().map { bucketJSON($0, withType: true) })
        case (.get, 1):
            return JSONResponse.make(bucketJSON(try await requireBucket(rest[0]), withType: false))
        case (.post, 0):
            return try await createBucket(request)
        case (.put, 1):
            return try await updateBucket(request, id: rest[0])
        case (.delete, 1):
            do {
                try await metadata.deleteBucket(rest[0])
            } catch MetadataConflict.missing {
                throw APIError.noSuchBucket
            } catch MetadataConflict.notEmpty {
                throw APIError.bucketNotEmpty
            }
            return JSONResponse.message("Successfully deleted")
        case (.post, 2) where rest[1] == "empty":
            _ = try await requireBucket(rest[0])
            // Done synchronously here; the real service queues it.
            for row in try await metadata.deleteAllObjects(bucket: rest[0]) { blobs.remove(id: row.id) }
            return JSONResponse.message("Empty bucket has been queued. Completion may take up to an hour.")
        default:
            throw APIError.routeNotFound(request.method.rawValue, relativePath)
        }
    }

    private func bucketJSON(_ b: BucketRow, withType: Bool) -> [String: Any] {
        var json: [String: Any] = [
            "id": b.id, "name": b.name, "owner": b.owner ?? "", "public": b.isPublic,
            "created_at": b.createdAt, "updated_at": b.updatedAt,
            "file_size_limit": b.fileSizeLimit.map { $0 as Any } ?? NSNull(),
            "allowed_mime_types": b.mimeTypes.map { $0 as Any } ?? NSNull(),
        ]
        if withType { json["type"] = "STANDARD" }
        return json
    }

    /// `file_size_limit` as bytes: an integer, or a string such as "20MB" (decimal units).
    private func sizeLimit(_ value: Any?) throws -> Int64? {
        guard let value, !(value is NSNull) else { return nil }
        if let n = JSONBody.int(value) { return Int64(n) }
        guard let s = value as? String else { throw APIError.invalidRequest("body/file_size_limit must be integer") }
        let units: [(String, Int64)] = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]
        let upper = s.uppercased().trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where upper.hasSuffix(suffix) {
            if let n = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)) {
                return Int64(n * Double(factor))
            }
        }
        throw APIError.invalidRequest("body/file_size_limit must be integer")
    }

    private func createBucket(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request)
        guard let name = body["name"] as? String else {
            throw APIError.invalidRequest("body must have required property 'name'")
        }
        let id = body["id"] as? String ?? name
        guard NameRules.isValidBucketName(name), NameRules.isValidBucketName(id) else {
            throw APIError.invalidBucketName
        }
        let limit = try sizeLimit(body["file_size_limit"])
        if let limit, let global = configuration.fileSizeLimit, limit > global { throw APIError.tooLarge }
        let mimes = (body["allowed_mime_types"] as? [String]).flatMap {
            try? JSONSerialization.data(withJSONObject: $0)
        }.map { String(decoding: $0, as: UTF8.self) }
        let now = Timestamp.iso()
        do {
            try await metadata.createBucket(
                BucketRow(
                    id: id,
                    name: name,
                    owner: nil,
                    isPublic: JSONBody.bool(body["public"]) ?? false,
                    fileSizeLimit: limit,
                    allowedMimeTypes: mimes,
                    createdAt: now,
                    updatedAt: now
                )
            )
        } catch MetadataConflict.duplicate {
            throw APIError.duplicateBucket
        }
        return JSONResponse.make(["name": id])
    }

    private func updateBucket(_ request: Request, id: String) async throws -> Response {
        let body = try await JSONBody.object(request)
        var bucket = try await requireBucket(id)
        guard body["public"] != nil || body["file_size_limit"] != nil || body["allowed_mime_types"] != nil else {
            throw APIError.invalidRequest("body must have at least 1 properties")
        }
        if let p = JSONBody.bool(body["public"]) { bucket.isPublic = p }
        if body.keys.contains("file_size_limit") { bucket.fileSizeLimit = try sizeLimit(body["file_size_limit"]) }
        if body.keys.contains("allowed_mime_types") {
            bucket.allowedMimeTypes = (body["allowed_mime_types"] as? [String]).flatMap {
                try? JSONSerialization.data(withJSONObject: $0)
            }.map { String(decoding: $0, as: UTF8.self) }
        }
        bucket.updatedAt = Timestamp.iso()
        try await metadata.updateBucket(bucket)
        return JSONResponse.message("Successfully updated")
    }
}
