// The error answers of Supabase Storage: HTTP status (400 for most) plus the JSON body with a string statusCode.
import Foundation
import Hummingbird

/// One error answer, exactly as Supabase Storage sends it.
struct APIError: Error, Sendable {
    var httpStatus: Int
    var statusCode: String
    var error: String
    var message: String
    var code: String

    init(http: Int = 400, _ statusCode: String, _ error: String, _ message: String, code: String) {
        self.httpStatus = http
        self.statusCode = statusCode
        self.error = error
        self.message = message
        self.code = code
    }

    static let noSuchBucket = APIError("404", "Bucket not found", "Bucket not found", code: "NoSuchBucket")
    static let noSuchKey = APIError("404", "not_found", "Object not found", code: "NoSuchKey")
    static let duplicateKey = APIError(
        "409",
        "Duplicate",
        "The resource already exists",
        code: "KeyAlreadyExists"
    )
    static let duplicateBucket = APIError(
        "409",
        "Duplicate",
        "The resource already exists",
        code: "BucketAlreadyExists"
    )
    static let tooLarge = APIError(
        "413",
        "Payload too large",
        "The object exceeded the maximum allowed size",
        code: "EntityTooLarge"
    )
    static let invalidRange = APIError(
        http: 416,
        "416",
        "invalid_range",
        "invalid range provided",
        code: "InvalidRange"
    )
    static let invalidBucketName = APIError(
        "400",
        "Invalid Input",
        "Bucket name invalid",
        code: "InvalidBucketName"
    )
    static let bucketNotEmpty = APIError(
        "409",
        "ResourceNotEmpty",
        "The bucket you tried to delete is not empty",
        code: "ResourceNotEmpty"
    )
    static let invalidSignature = APIError(
        "400",
        "InvalidSignature",
        "Invalid signature",
        code: "InvalidSignature"
    )
    static let rlsDenied = APIError(
        "403",
        "Unauthorized",
        "new row violates row-level security policy",
        code: "AccessDenied"
    )

    static func invalidKey(_ key: String) -> APIError {
        APIError("400", "InvalidKey", "Invalid key: \(key)", code: "InvalidKey")
    }
    /// Schema validation failures (Fastify): own status 400, error "Error", code InvalidRequest. The `error`
    /// string after Fastify 5 is UNCONFIRMED; "Error" is what earlier servers were seen to send.
    static func invalidRequest(_ message: String) -> APIError {
        APIError("400", "Error", message, code: "InvalidRequest")
    }
    static func invalidJWT(_ message: String) -> APIError {
        APIError("400", "InvalidJWT", message, code: "InvalidJWT")
    }
    /// A bad bearer token on an authenticated route.
    static func accessDenied(_ message: String) -> APIError {
        APIError("403", "Unauthorized", message, code: "AccessDenied")
    }
    static func routeNotFound(_ method: String, _ path: String) -> APIError {
        APIError(http: 404, "404", "Not Found", "Route \(method):\(path) not found", code: "InvalidRequest")
    }
    static func internalError(_ message: String) -> APIError {
        APIError(http: 500, "500", "internal", message, code: "InternalError")
    }

    var jsonBody: [UInt8] {
        let object: [String: String] = ["statusCode": statusCode, "error": error, "message": message, "code": code]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            .map(Array.init) ?? []
    }

    func response(head: Bool = false) -> Response {
        var headers = HTTPFields()
        if head {
            return Response(status: .init(code: httpStatus), headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        let body = jsonBody
        headers[.contentLength] = String(body.count)
        return Response(
            status: .init(code: httpStatus),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// JSON answers.
enum JSONResponse {
    static func make(_ object: Any, status: Int = 200, headers extra: HTTPFields = [:]) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
            ?? Data()
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLength] = String(data.count)
        return Response(
            status: .init(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: Array(data)))
        )
    }

    static func message(_ text: String) -> Response { make(["message": text]) }
}
