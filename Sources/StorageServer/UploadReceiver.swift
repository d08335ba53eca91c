// Streams an upload request body (raw or multipart/form-data) into a temporary blob, with bounded memory.
import Foundation
import Hummingbird

/// A received upload, not yet committed.
struct ReceivedUpload {
    var blob: TempBlob
    var mimetype: String
    var cacheControl: String
    var userMetadata: String?
}

enum UploadReceiver {
    /// Reads the whole body of `request` into a new temporary blob in `directory`.
    /// Throws `APIError.tooLarge` (after draining the body) when it exceeds `limit` bytes.
    static func receive(_ request: Request, directory: String, limit: Int64?) async throws -> ReceivedUpload {
        if let limit, let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > limit {
            try await drain(request)
            throw APIError.tooLarge
        }
        let contentType = request.headers[.contentType] ?? ""
        let blob = try TempBlob(directory: directory)
        do {
            var upload: ReceivedUpload
            if contentType.lowercased().hasPrefix("multipart/form-data") {
                upload = try await receiveMultipart(request, contentType: contentType, blob: blob, limit: limit)
            } else {
                upload = ReceivedUpload(
                    blob: blob,
                    mimetype: contentType.isEmpty ? "application/octet-stream" : contentType,
                    cacheControl: request.headers[.cacheControl] ?? "no-cache",
                    userMetadata: nil
                )
                var over = false
                for try await buffer in request.body {
                    if over { continue }
                    try buffer.withUnsafeReadableBytes { try blob.append($0) }
                    if let limit, blob.size > limit { over = true }
                }
                if over { throw APIError.tooLarge }
                if let meta = request.headers.value(of: "x-metadata"),
                    let data = Data(base64Encoded: meta), (try? JSONSerialization.jsonObject(with: data)) != nil
                {
                    upload.userMetadata = String(decoding: data, as: UTF8.self)
                }
            }
            return upload
        } catch {
            blob.discard()
            throw error
        }
    }

    private static func receiveMultipart(
        _ request: Request,
        contentType: String,
        blob: TempBlob,
        limit: Int64?
    ) async throws -> ReceivedUpload {
        guard let boundary = MultipartParser.boundary(fromContentType: contentType) else {
            try await drain(request)
            throw APIError.invalidRequest("Invalid Content-Type header")
        }
        var parser = MultipartParser(boundary: boundary)
        var fields: [String: String] = [:]
        var partType: String?
        var sawFile = false
        var inFile = false
        var over = false
        for try await buffer in request.body {
            try buffer.withUnsafeReadableBytes { bytes in
                try parser.feed(bytes) { event in
                    switch event {
                    case .field(let name, let value):
                        if fields.count < 10 { fields[name] = value }
                    case .fileStart(_, _, let type):
                        // Only the first file part counts; later ones are read and dropped.
                        inFile = !sawFile
                        if inFile { partType = type }
                        sawFile = true
                    case .fileData(let chunk):
                        guard inFile, !over else { return }
                        try chunk.withUnsafeBytes { try blob.append($0) }
                        if let limit, blob.size > limit { over = true }
                    case .fileEnd:
                        inFile = false
                    }
                }
            }
        }
        if over { throw APIError.tooLarge }
        guard sawFile, parser.isDone else {
            throw APIError.invalidRequest(sawFile ? "Unexpected end of form" : "No file found in request")
        }
        // busboy: the part type lower-cased without parameters, else text/plain; a contentType field wins.
        let stripped = partType.map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        let mimetype = fields["contentType"] ?? ((stripped?.isEmpty ?? true) ? "text/plain" : stripped ?? "text/plain")
        let cache = fields["cacheControl"].map { "max-age=\($0)" } ?? "no-cache"
        let meta = fields["metadata"] ?? fields["userMetadata"]
        return ReceivedUpload(blob: blob, mimetype: mimetype, cacheControl: cache, userMetadata: meta)
    }

    /// Reads and drops the rest of a body, so the connection stays usable after an early answer.
    static func drain(_ request: Request) async throws {
        for try await _ in request.body {}
    }
}
