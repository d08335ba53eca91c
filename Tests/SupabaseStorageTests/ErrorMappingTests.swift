// Decoding of Supabase error answers into StorageError, without a server: the body's statusCode decides.
import Foundation
import Testing

@testable import SupabaseStorage

@Suite struct ErrorMappingTests {
    private func map(_ http: Int, _ json: String) -> StorageError {
        StorageError.from(httpStatus: http, body: Array(json.utf8))
    }

    @Test func bodyStatusCodeDecidesForHTTP400() {
        #expect(
            map(400, #"{"statusCode":"404","error":"not_found","message":"Object not found"}"#)
                == .notFound("Object not found")
        )
        #expect(
            map(400, #"{"statusCode":"409","error":"Duplicate","message":"dup","code":"KeyAlreadyExists"}"#)
                == .conflict("dup")
        )
        #expect(map(400, #"{"statusCode":"413","error":"Payload too large","message":"big"}"#) == .tooLarge("big"))
        #expect(
            map(400, #"{"statusCode":"403","error":"Unauthorized","message":"no","code":"AccessDenied"}"#)
                == .unauthorized("no")
        )
        #expect(
            map(400, #"{"statusCode":"400","error":"InvalidJWT","message":"exp","code":"InvalidJWT"}"#)
                == .unauthorized("exp")
        )
        #expect(
            map(400, #"{"statusCode":"415","error":"invalid_mime_type","message":"m","code":"InvalidMimeType"}"#)
                == .permanent(statusCode: 415, code: "InvalidMimeType", message: "m")
        )
    }

    @Test func transientAnswers() {
        #expect(map(400, #"{"statusCode":"503","error":"x","message":"ro","code":"DatabaseReadOnly"}"#).isTransient)
        #expect(
            map(400, #"{"statusCode":"423","error":"acquiring_lock_timeout","message":"l","code":"LockTimeout"}"#)
                .isTransient
        )
        #expect(map(503, "<html>gateway</html>").isTransient)
        #expect(map(502, "").isTransient)
        #expect(map(500, #"{"statusCode":"500","error":"internal","message":"x","code":"InternalError"}"#).isTransient)
        #expect(map(429, #"{"statusCode":"429","error":"SlowDown","message":"s","code":"SlowDown"}"#).isTransient)
        #expect(map(544, #"{"statusCode":"544","error":"DatabaseTimeout","message":"t"}"#).isTransient)
        // Misconfiguration reported as 503 is not worth retrying.
        #expect(
            !map(400, #"{"statusCode":"503","error":"x","message":"m","code":"DatabaseSchemaMismatch"}"#).isTransient
        )
    }

    @Test func oldServersAndOddBodies() {
        // No `code` (before 2024): `error` stands in.
        #expect(
            map(400, #"{"statusCode":"400","error":"InvalidKey","message":"Invalid key: x"}"#)
                == .permanent(statusCode: 400, code: "InvalidKey", message: "Invalid key: x")
        )
        #expect(map(400, #"{"statusCode":404,"error":"not_found","message":"n"}"#) == .notFound("n"))
        #expect(map(404, "not json") == .notFound("HTTP 404"))
        #expect(map(400, "") == .permanent(statusCode: 400, code: "", message: "HTTP 400"))
    }

    @Test func keyEncodingKeepsSlashesAndEncodesTheRest() {
        #expect(KeyEncoding.encodeKey("/a b/c?d#e/f+g") == "a%20b/c%3Fd%23e/f%2Bg")
        #expect(KeyEncoding.encodeKey("plain/Key-1._~") == "plain/Key-1._~")
        #expect(
            SignedURLBuilder.absolute(base: "http://h/storage/v1", returnedPath: "/object/sign/b/x y?.txt?token=a.b.c")
                == "http://h/storage/v1/object/sign/b/x%20y%3F.txt?token=a.b.c"
        )
    }
}
