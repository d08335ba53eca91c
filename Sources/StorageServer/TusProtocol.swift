// TUS 1.0.0 wire details as Supabase Storage answers them (it runs @tus/server): header names and values, the
// plain-text error answers, `Upload-Metadata` parsing and the header checks made before any handler runs.
import Foundation
import HTTPTypes
import Hummingbird

enum Tus {
    static let version = "1.0.0"
    /// What the bundled server implements (Supabase's S3 store also offers creation-defer-length).
    static let extensions = "creation,creation-with-upload,termination,expiration"
    static let offsetContentType = "application/offset+octet-stream"
    /// @tus/server's Access-Control-Max-Age for OPTIONS.
    static let corsMaxAge = "86400"
    static let allowedMethods = "POST, HEAD, PATCH, OPTIONS, DELETE"
    static let allowedHeaders =
        "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable, Tus-Version, "
        + "Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, Upload-Offset, "
        + "X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host, X-Forwarded-Proto, Forwarded, "
        + "X-Upsert, Upload-Expires, ApiKey, x-signature"
}

extension HTTPField.Name {
    // Literal, valid token names: the initialiser cannot fail for them.
    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let tusVersion = HTTPField.Name("Tus-Version")!
    static let tusExtension = HTTPField.Name("Tus-Extension")!
    static let tusMaxSize = HTTPField.Name("Tus-Max-Size")!
    static let tusComplete = HTTPField.Name("Tus-Complete")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadLength = HTTPField.Name("Upload-Length")!
    static let uploadMetadata = HTTPField.Name("Upload-Metadata")!
    static let uploadExpires = HTTPField.Name("Upload-Expires")!
    static let uploadDeferLength = HTTPField.Name("Upload-Defer-Length")!
    static let uploadConcat = HTTPField.Name("Upload-Concat")!
}

/// A refusal on a TUS route: the real HTTP status and a plain-text body. @tus/server writes its own errors
/// this way, and Supabase maps its storage errors (bucket missing, duplicate, mime type) to the same shape
/// (`onResponseError`: status = the error's statusCode, body = its message).
struct TusError: Error, Sendable, Equatable {
    var status: Int
    var body: String
    /// Extra headers (Tus-Version on a 412).
    var headers: [String: String] = [:]

    init(_ status: Int, _ body: String, headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    static let tusResumableRequired = TusError(412, "Tus-Resumable Required\n", headers: ["Tus-Version": Tus.version])
    /// The TUS specification asks for 412 plus Tus-Version here; @tus/server answers 400 "Invalid tus-resumable".
    static let unsupportedVersion = TusError(412, "Invalid tus-resumable\n", headers: ["Tus-Version": Tus.version])
    static let fileNotFound = TusError(404, "The file for this url was not found\n")
    static let fileNoLongerExists = TusError(410, "The file for this url no longer exists\n")
    static let offsetConflict = TusError(409, "Upload-Offset conflict\n")
    static let missingOffset = TusError(403, "Upload-Offset header required\n")
    static let missingContentType = TusError(403, "Content-Type header required\n")
    /// The body would take the upload past its Upload-Length.
    static let sizeExceeded = TusError(413, "upload's size exceeded\n")
    /// Upload-Length over the bucket's or the global limit (or a body over the room left).
    static let maxSizeExceeded = TusError(413, "Maximum size exceeded\n")
    static let invalidLength = TusError(400, "Upload-Length or Upload-Defer-Length header required\n")
    static let deferLengthUnsupported = TusError(501, "creation-defer-length extension is not (yet) supported.\n")
    static let concatenationUnsupported = TusError(
        501,
        "Concatenation extension is not (yet) supported. Disable parallel uploads in the tus client.\n"
    )
    static let invalidTermination = TusError(400, "Cannot terminate an already completed upload")
    /// Supabase's LockTimeout (HTTP 503) when another request keeps the upload locked for 5 s.
    static let lockTimeout = TusError(503, "acquiring lock timeout")
    static let metadataRequired = TusError(400, "Metadata header is required")
    static let invalidUploadID = TusError(400, "Invalid upload id")

    static func invalidHeaders(_ names: [String]) -> TusError {
        TusError(400, "Invalid \(names.joined(separator: " "))\n")
    }

    /// A Supabase storage error rendered the TUS way: its statusCode becomes the HTTP status, its message the body.
    init(_ error: APIError) {
        self.init(Int(error.statusCode) ?? error.httpStatus, error.message)
    }

    func response(head: Bool) -> Response {
        var fields = HTTPFields()
        fields[.tusResumable] = Tus.version
        for (name, value) in headers {
            if let n = HTTPField.Name(name) { fields[n] = value }
        }
        if head { return Response(status: .init(code: status), headers: fields) }
        let bytes = Array(body.utf8)
        fields[.contentType] = "text/plain; charset=utf-8"
        fields[.contentLength] = String(bytes.count)
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// `Upload-Metadata`: comma-separated `key base64value` (or bare `key`) pairs, keys unique and free of spaces
/// and commas, values strict base64 (length a multiple of 4), as @tus/server's `Metadata.parse` accepts them.
enum UploadMetadata {
    static func parse(_ header: String) -> [String: String?]? {
        guard !header.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        var result: [String: String?] = [:]
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let tokens = pair.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(tokens.count), isValidKey(tokens[0]), result[tokens[0]] == nil else { return nil }
            if tokens.count == 1 {
                result[tokens[0]] = .some(nil)
                continue
            }
            guard tokens[1].count % 4 == 0, let data = Data(base64Encoded: tokens[1]) else { return nil }
            result[tokens[0]] = .some(String(decoding: data, as: UTF8.self))
        }
        return result
    }

    private static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && $0 != " " && $0 != "," }
    }
}

/// The checks @tus/server makes on every non-OPTIONS request before its handler runs.
enum TusHeaders {
    /// A non-negative integer written canonically ("007" and "+7" are refused, as `String(Number(v)) === v` does).
    static func integer(_ value: String) -> Int64? {
        guard let n = Int64(value), n >= 0, String(n) == value else { return nil }
        return n
    }

    /// Throws the 412 for a missing or unsupported Tus-Resumable, or the 400 naming every malformed header.
    static func validate(_ request: Request) throws(TusError) {
        guard let resumable = request.headers[.tusResumable] else { throw .tusResumableRequired }
        guard resumable == Tus.version else { throw .unsupportedVersion }
        var invalid: [String] = []
        for field in request.headers {
            let name = field.name.canonicalName
            let value = field.value
            let ok: Bool
            switch name {
            case "upload-offset", "upload-length": ok = integer(value) != nil
            case "upload-defer-length": ok = value == "1"
            case "upload-metadata": ok = UploadMetadata.parse(value) != nil
            case "upload-concat": ok = value == "partial" || value.hasPrefix("final;")
            // Only a PATCH's Content-Type is checked (some clients put a default one on every request).
            case "content-type": ok = request.method != .patch || value == Tus.offsetContentType
            default: ok = true
            }
            if !ok { invalid.append(name) }
        }
        if !invalid.isEmpty { throw .invalidHeaders(invalid) }
    }

    /// Whether the request carries a body (a Content-Length above 0, or chunked).
    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return (Int64(length) ?? 0) > 0 }
        return request.headers[.transferEncoding] != nil
    }

    /// The media type of Content-Type, lower-cased, without parameters.
    static func mediaType(_ request: Request) -> String? {
        request.headers[.contentType].map {
            ($0.split(separator: ";").first.map(String.init) ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        }
    }
}
