// SupabaseObjectStore's resumable uploads: the TUS requests over libcurl, and the reading of their answers
// (plain-text errors with real HTTP statuses, unlike the REST routes).
import Foundation

extension SupabaseObjectStore: ResumableObjectStore {
    private static let tusHeader = "Tus-Resumable: 1.0.0"

    public func createResumableUpload(
        key: String,
        length: Int64,
        contentType: String,
        cacheControl: String?,
        upsert: Bool
    ) async throws -> String {
        var fields = [
            ("bucketName", configuration.bucket), ("objectName", ResumableURL.objectName(key)),
            ("contentType", contentType),
        ]
        if let cacheControl { fields.append(("cacheControl", cacheControl)) }
        let metadata = fields.map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
        let path = "/upload/resumable"
        let response = try await send(
            HTTPRequest(
                method: "POST",
                url: url(path),
                headers: authHeaders + [
                    Self.tusHeader, "Upload-Length: \(length)", "Upload-Metadata: \(metadata)",
                    "x-upsert: \(upsert ? "true" : "false")",
                ],
                body: .bytes([])
            ),
            logPath: path
        )
        guard response.status == 201 else {
            let error = TusAnswer.error(status: response.status, body: response.body)
            if case .tooLarge(let message) = error { throw await tooLarge(length: length, serverMessage: message) }
            throw error
        }
        guard let location = response.headers["location"], !location.isEmpty else {
            throw StorageError.permanent(statusCode: 201, code: "BadResponse", message: "no Location in the answer")
        }
        return location
    }

    public func resumableStatus(uploadURL: String) async throws -> ResumableUploadStatus {
        let path = try ResumableURL.path(of: uploadURL)
        let response = try await send(
            HTTPRequest(method: "HEAD", url: url(path), headers: authHeaders + [Self.tusHeader], sink: .discard),
            logPath: path
        )
        guard response.status == 200 else { throw TusAnswer.error(status: response.status, body: response.body) }
        guard let offset = response.headers["upload-offset"].flatMap({ Int64($0) }),
            let length = response.headers["upload-length"].flatMap({ Int64($0) })
        else {
            throw StorageError.permanent(statusCode: 200, code: "BadResponse", message: "no Upload-Offset/Length")
        }
        return ResumableUploadStatus(
            offset: offset,
            length: length,
            metadata: TusAnswer.metadata(response.headers["upload-metadata"])
        )
    }

    public func uploadChunk(
        uploadURL: String,
        fromFile path: String,
        offset: Int64,
        length: Int64,
        upsert: Bool
    ) async throws -> Int64 {
        let urlPath = try ResumableURL.path(of: uploadURL)
        let response = try await send(
            HTTPRequest(
                method: "PATCH",
                url: url(urlPath),
                headers: authHeaders + [
                    Self.tusHeader, "Upload-Offset: \(offset)", "Content-Type: application/offset+octet-stream",
                    "x-upsert: \(upsert ? "true" : "false")",
                ],
                body: .fileRange(path: path, offset: offset, length: length)
            ),
            logPath: urlPath
        )
        guard response.status == 204 || response.status == 200 else {
            throw TusAnswer.error(status: response.status, body: response.body)
        }
        guard let newOffset = response.headers["upload-offset"].flatMap({ Int64($0) }),
            (offset...(offset + length)).contains(newOffset)
        else {
            throw StorageError.permanent(
                statusCode: response.status,
                code: "BadResponse",
                message: "missing or impossible Upload-Offset after sending \(length) bytes at \(offset)"
            )
        }
        return newOffset
    }

    /// Sends `x-upsert: true`: Supabase runs its duplicate check on DELETE too, which means nothing for a termination.
    public func terminateResumableUpload(uploadURL: String) async throws {
        let path = try ResumableURL.path(of: uploadURL)
        let response = try await send(
            HTTPRequest(
                method: "DELETE",
                url: url(path),
                headers: authHeaders + [Self.tusHeader, "x-upsert: true"]
            ),
            logPath: path
        )
        guard response.status == 204 else { throw TusAnswer.error(status: response.status, body: response.body) }
    }

    /// A size refusal (at a resumable upload's creation or of a one-request upload), with the limit
    /// that applies when it can be learnt: the bucket's
    /// `file_size_limit` (GET /bucket) and the server's global one (OPTIONS, Tus-Max-Size).
    func tooLarge(length: Int64, serverMessage: String) async -> StorageError {
        var limits: [(Int64, String)] = []
        if let bucketLimit = try? await bucketFileSizeLimit() {
            limits.append((bucketLimit, "the file_size_limit of bucket \(configuration.bucket)"))
        }
        if let global = try? await globalSizeLimit() { limits.append((global, "the server's global upload limit")) }
        guard let (limit, source) = limits.min(by: { $0.0 < $1.0 }) else {
            return .tooLarge("\(serverMessage): the object is \(length) bytes; the limit could not be read")
        }
        return .tooLarge(
            "\(serverMessage): the object is \(length) bytes, over the \(limit)-byte limit (\(source)); "
                + "raise the limit or store smaller objects"
        )
    }

    /// The bucket's `file_size_limit` in bytes, nil when it has none; throws when the bucket
    /// cannot be read (`codebegenfs doctor` says so).
    public func bucketFileSizeLimit() async throws -> Int64? {
        let path = "/bucket/\(bucketPath)"
        let response = try await send(HTTPRequest(method: "GET", url: url(path), headers: authHeaders), logPath: path)
        guard response.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else {
            throw StorageError.permanent(
                statusCode: response.status, code: "BucketUnreadable", message: "GET /bucket answered HTTP \(response.status)")
        }
        return (object["file_size_limit"] as? NSNumber)?.int64Value
    }

    /// `Tus-Max-Size` from OPTIONS: the global limit, nil when the server states none.
    public func globalSizeLimit() async throws -> Int64? {
        let path = "/upload/resumable"
        let response = try await send(HTTPRequest(method: "OPTIONS", url: url(path), headers: []), logPath: path)
        return response.headers["tus-max-size"].flatMap { Int64($0) }
    }
}

/// Upload URLs: only their last segment (the upload id) is used, joined to the configured base.
enum ResumableURL {
    /// `/upload/resumable/<id>` for an upload URL (or a bare id).
    static func path(of uploadURL: String) throws(StorageError) -> String {
        var text = Substring(uploadURL)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        while text.hasSuffix("/") { text = text.dropLast() }
        let id = text.split(separator: "/").last.map(String.init) ?? ""
        let allowed = id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        guard !id.isEmpty, allowed else {
            let message = "not a resumable upload URL: \(uploadURL)"
            throw .permanent(statusCode: 0, code: "InvalidUploadURL", message: message)
        }
        return "/upload/resumable/\(id)"
    }

    /// The key as the server names the object: leading `/` removed, as the standard path does.
    static func objectName(_ key: String) -> String {
        var k = Substring(key)
        while k.hasPrefix("/") { k = k.dropFirst() }
        return String(k)
    }
}

/// Reading TUS answers.
enum TusAnswer {
    /// A refusal: Supabase JSON bodies (key checks, gateway errors) keep the REST mapping; the plain-text answers
    /// of the TUS handler carry the real status. An offset conflict and a lock timeout are transient (ask the
    /// offset again, retry); 404 and 410 mean the upload is gone.
    static func error(status: Int, body: [UInt8]) -> StorageError {
        if body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{") {
            return StorageError.from(httpStatus: status, body: body)
        }
        let text = String(decoding: body.prefix(1024), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // HEAD answers have no body: say what the status means.
        let message =
            !text.isEmpty ? text
            : status == 404 ? "upload not found (HTTP 404)"
            : status == 410 ? "upload expired (HTTP 410)" : "HTTP \(status)"
        switch status {
        case 404, 410: return .notFound(message)
        case 409 where message.hasPrefix("Upload-Offset conflict"): return .transient("409 \(message)")
        case 409: return .conflict(message)
        case 413: return .tooLarge(message)
        case 401: return .unauthorized(message)
        case 423, 429, 500...599: return .transient("\(status) \(message)")
        default: return .permanent(statusCode: status, code: "TusError", message: message)
        }
    }

    /// Decoded `Upload-Metadata` (`key base64,...`); entries that do not decode are left out.
    static func metadata(_ header: String?) -> [String: String] {
        var result: [String: String] = [:]
        for pair in (header ?? "").split(separator: ",") {
            let tokens = pair.split(separator: " ")
            guard let key = tokens.first.map(String.init) else { continue }
            if tokens.count == 1 {
                result[key] = ""
            } else if let data = Data(base64Encoded: String(tokens[1])) {
                result[key] = String(decoding: data, as: UTF8.self)
            }
        }
        return result
    }
}
