// The bundled server's TUS endpoint seen through curl: every answer it gives on `/upload/resumable`, with the
// statuses and bodies Supabase Storage gives (@tus/server plain-text errors, Supabase's mapped errors).
import Foundation
import SupabaseStorage
import Testing

@Suite struct ResumableProtocolTests {
    private let bucket = "codebegen-projects"

    @Test func optionsAdvertisesVersionExtensionsAndTheGlobalLimit() async throws {
        let h = try await Harness.resumable(fileSizeLimit: 5_000_000)
        defer { Task { await h.stop() } }
        let r = try await tusCall(h.resumableEndpoint, "OPTIONS", key: nil)
        #expect(r.status == 204)
        #expect(r.headers["tus-resumable"] == "1.0.0")
        #expect(r.headers["tus-version"] == "1.0.0")
        #expect(r.headers["tus-extension"] == "creation,creation-with-upload,termination,expiration")
        #expect(r.headers["tus-max-size"] == "5000000")
        #expect(r.headers["access-control-allow-methods"]?.contains("PATCH") == true)

        let unlimited = try await Harness.resumable()
        defer { Task { await unlimited.stop() } }
        let u = try await tusCall(unlimited.resumableEndpoint + "/anything", "OPTIONS", key: nil)
        #expect(u.status == 204)
        #expect(u.headers["tus-max-size"] == nil)
    }

    @Test func createHeadPatchCommitsLikeAStandardUpload() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let bytes = patternBytes(300_000, seed: 11)
        let whole = try h.directory.write("whole", bytes)
        let first = try h.directory.write("first", Array(bytes[0..<100_000]))
        let rest = try h.directory.write("rest", Array(bytes[100_000...]))

        let created = try await createTusUpload(h, key: "tus/a b.bin", length: bytes.count, contentType: "x/y")
        #expect(created.status == 201, "\(created.body)")
        #expect(created.headers["tus-resumable"] == "1.0.0")
        #expect(created.headers["upload-expires"]?.hasSuffix("GMT") == true)
        let location = try #require(created.headers["location"])
        #expect(location.hasPrefix(h.resumableEndpoint + "/"))

        var head = try await tusCall(location, "HEAD", key: h.server.serviceKey, headers: ["Tus-Resumable: 1.0.0"])
        #expect(head.status == 200)
        #expect(head.headers["upload-offset"] == "0")
        #expect(head.headers["upload-length"] == "300000")
        #expect(head.headers["cache-control"] == "no-store")
        #expect(head.headers["upload-metadata"]?.contains("objectName ") == true)

        var patch = try await patchTusUpload(h, location, offset: 0, data: first)
        #expect(patch.status == 204)
        #expect(patch.headers["upload-offset"] == "100000")
        #expect(patch.headers["tus-complete"] == nil)
        #expect(patch.headers["upload-expires"] != nil)
        await #expect(throws: StorageError.self) { _ = try await h.store.info(key: "tus/a b.bin") }

        patch = try await patchTusUpload(h, location, offset: 100_000, data: rest)
        #expect(patch.status == 204)
        #expect(patch.headers["upload-offset"] == "300000")
        #expect(patch.headers["tus-complete"] == "1")

        // The object, committed with the same metadata a standard upload of the same bytes gets.
        #expect(try await h.store.get(key: "tus/a b.bin", range: nil) == bytes)
        _ = try await h.store.put(key: "std.bin", fromFile: whole, contentType: "x/y", upsert: false, progress: nil)
        let tus = try await h.store.info(key: "tus/a b.bin")
        let std = try await h.store.info(key: "std.bin")
        #expect(tus.size == 300_000 && tus.contentType == "x/y")
        #expect(tus.etag == std.etag && tus.etag?.count == 34)
        let info = try await tusCall(
            h.storageURL + "/object/info/\(bucket)/tus/a%20b.bin",
            "GET",
            key: h.server.serviceKey
        )
        #expect(info.body.contains(#""cache_control":"max-age=3600""#), "\(info.body)")

        // A finished upload still answers HEAD (offset = length) and cannot be terminated.
        head = try await tusCall(location, "HEAD", key: h.server.serviceKey, headers: ["Tus-Resumable: 1.0.0"])
        #expect(head.status == 200 && head.headers["upload-offset"] == "300000")
        let delete = try await tusCall(
            location,
            "DELETE",
            key: h.server.serviceKey,
            headers: ["Tus-Resumable: 1.0.0", "x-upsert: true"]
        )
        #expect(delete.status == 400)
        #expect(delete.body == "Cannot terminate an already completed upload")
    }

    @Test func creationWithUploadStoresTheBodyAndAnswersItsOffset() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let bytes = patternBytes(70_000, seed: 12)
        let file = try h.directory.write("body", bytes)
        let r = try await tusCall(
            h.resumableEndpoint,
            "POST",
            key: h.server.serviceKey,
            headers: [
                "Tus-Resumable: 1.0.0", "Upload-Length: 70000",
                "Upload-Metadata: " + uploadMetadata([("bucketName", bucket), ("objectName", "cwu.bin")]),
                "Content-Type: application/offset+octet-stream",
            ],
            data: file
        )
        #expect(r.status == 201)
        #expect(r.headers["upload-offset"] == "70000")
        #expect(r.headers["tus-complete"] == "1")
        #expect(r.headers["location"] != nil)
        #expect(try await h.store.get(key: "cwu.bin", range: nil) == bytes)
        #expect(try await h.store.info(key: "cwu.bin").contentType == "application/octet-stream")
    }

    @Test func tusResumableIsRequiredAndMustBeOneZeroZero() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        var r = try await tusCall(
            h.resumableEndpoint,
            "POST",
            key: h.server.serviceKey,
            headers: ["Upload-Length: 5", "Upload-Metadata: " + uploadMetadata([("bucketName", bucket)])]
        )
        #expect(r.status == 412)
        #expect(r.body == "Tus-Resumable Required\n")
        #expect(r.headers["tus-version"] == "1.0.0")
        r = try await tusCall(
            h.resumableEndpoint,
            "POST",
            key: h.server.serviceKey,
            headers: ["Tus-Resumable: 0.2.2", "Upload-Length: 5"]
        )
        #expect(r.status == 412)
        #expect(r.headers["tus-version"] == "1.0.0")
    }

    @Test func creationRefusalsInSupabasesOrder() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let key = h.server.serviceKey
        func post(_ headers: [String]) async throws -> TusReply {
            try await tusCall(h.resumableEndpoint, "POST", key: key, headers: ["Tus-Resumable: 1.0.0"] + headers)
        }
        let meta = "Upload-Metadata: " + uploadMetadata([("bucketName", bucket), ("objectName", "x")])
        var r = try await post([meta])
        #expect(r.status == 400 && r.body == "Upload-Length or Upload-Defer-Length header required\n")
        r = try await post(["Upload-Defer-Length: 1", meta])
        #expect(r.status == 501)
        r = try await post(["Upload-Length: 12x", meta])
        #expect(r.status == 400 && r.body == "Invalid upload-length\n")
        r = try await post(["Upload-Length: 5", "Upload-Metadata: bucketName notbase64!"])
        #expect(r.status == 400 && r.body == "Invalid upload-metadata\n")
        r = try await post(["Upload-Length: 5"])
        #expect(r.status == 400 && r.body == "Metadata header is required")
        let noBucket = uploadMetadata([("bucketName", "nope"), ("objectName", "x")])
        r = try await post(["Upload-Length: 5", "Upload-Metadata: " + noBucket])
        #expect(r.status == 404 && r.body == "Bucket not found")
        let badKey = uploadMetadata([("bucketName", bucket), ("objectName", "a\u{1}b")])
        r = try await post(["Upload-Length: 5", "Upload-Metadata: " + badKey])
        #expect(r.status == 400 && r.body.hasPrefix("Invalid key: "))
        // The key check comes first, in Supabase's JSON shape.
        let anonymous = try await tusCall(
            h.resumableEndpoint,
            "POST",
            key: nil,
            headers: ["Tus-Resumable: 1.0.0", "Upload-Length: 5", meta]
        )
        #expect(anonymous.status == 400)
        #expect(anonymous.json["code"] == "InvalidRequest")
        let wrongKey = try await tusCall(
            h.resumableEndpoint,
            "POST",
            key: "not-the-key",
            headers: ["Tus-Resumable: 1.0.0", "Upload-Length: 5", meta]
        )
        #expect(wrongKey.json["statusCode"] == "403")
    }

    @Test func sizeLimitsApplyToUploadLengthAtCreation() async throws {
        let h = try await Harness.resumable(fileSizeLimit: 10_000)
        defer { Task { await h.stop() } }
        // Over the global limit.
        var r = try await createTusUpload(h, key: "big", length: 10_001)
        #expect(r.status == 413)
        #expect(r.body == "Maximum size exceeded\n")
        #expect(r.headers["location"] == nil)
        #expect(try await createTusUpload(h, key: "fits", length: 10_000).status == 201)
        // Over a bucket's lower file_size_limit.
        let made = try await tusCall(
            h.storageURL + "/bucket",
            "POST",
            key: h.server.serviceKey,
            headers: ["Content-Type: application/json"],
            data: try h.directory.write("b.json", Array(#"{"name":"small","file_size_limit":500}"#.utf8))
        )
        #expect(made.status == 200, "\(made.body)")
        r = try await createTusUpload(h, key: "k", length: 501, bucket: "small")
        #expect(r.status == 413 && r.body == "Maximum size exceeded\n")
        #expect(try await createTusUpload(h, key: "k", length: 500, bucket: "small").status == 201)

        // The client names the limit that applies and classifies the refusal as too large.
        let small = h.client(bucket: "small")
        let error = await storageError {
            _ = try await small.createResumableUpload(
                key: "k",
                length: 501,
                contentType: "x/y",
                cacheControl: nil,
                upsert: false
            )
        }
        guard case .tooLarge(let message) = error else {
            Issue.record("expected tooLarge, got \(String(describing: error))")
            return
        }
        #expect(message.contains("500-byte limit") && message.contains("file_size_limit of bucket small"), "\(message)")
        let global = await storageError {
            _ = try await h.store.createResumableUpload(
                key: "k",
                length: 20_000,
                contentType: "x/y",
                cacheControl: nil,
                upsert: false
            )
        }
        #expect("\(String(describing: global))".contains("10000-byte limit (the server's global upload limit)"))
    }

    @Test func duplicateKeyWithoutUpsertAndOverwriteWithIt() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let old = try h.directory.write("old", [1, 2, 3])
        _ = try await h.store.put(key: "dup", fromFile: old, contentType: "x/y", upsert: false, progress: nil)
        var r = try await createTusUpload(h, key: "dup", length: 4)
        #expect(r.status == 409)
        #expect(r.body == "The resource already exists")
        r = try await createTusUpload(h, key: "dup", length: 4, upsert: true)
        #expect(r.status == 201)
        let location = try #require(r.headers["location"])
        let new = try h.directory.write("new", [9, 8, 7, 6])
        // Supabase checks x-upsert again on each PATCH.
        r = try await patchTusUpload(h, location, offset: 0, data: new)
        #expect(r.status == 409 && r.body == "The resource already exists")
        r = try await patchTusUpload(h, location, offset: 0, data: new, upsert: true)
        #expect(r.status == 204 && r.headers["tus-complete"] == "1")
        #expect(try await h.store.get(key: "dup", range: nil) == [9, 8, 7, 6])
    }

    @Test func patchRefusals() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let key = h.server.serviceKey
        let location = try #require(try await createTusUpload(h, key: "p", length: 10).headers["location"])
        let four = try h.directory.write("four", [1, 2, 3, 4])
        let eleven = try h.directory.write("eleven", Array(repeating: 5, count: 11))
        #expect(try await patchTusUpload(h, location, offset: 0, data: four).headers["upload-offset"] == "4")

        // Offset mismatch: 409, nothing stored.
        var r = try await patchTusUpload(h, location, offset: 0, data: four)
        #expect(r.status == 409 && r.body == "Upload-Offset conflict\n")
        // Past Upload-Length.
        r = try await patchTusUpload(h, location, offset: 4, data: eleven)
        #expect(r.status == 413 && r.body == "upload's size exceeded\n")
        // Another Content-Type: Fastify's refusal through Supabase's handler (HTTP 400, statusCode "415").
        r = try await tusCall(
            location,
            "PATCH",
            key: key,
            headers: ["Tus-Resumable: 1.0.0", "Upload-Offset: 4", "Content-Type: text/plain"],
            data: four
        )
        #expect(r.status == 400)
        #expect(r.json == ["statusCode": "415", "code": "InvalidMimeType", "error": "invalid_mime_type",
                           "message": "Invalid Content-Type header"])
        // No Upload-Offset / no Content-Type (and no body): 403, as @tus/server.
        r = try await tusCall(
            location,
            "PATCH",
            key: key,
            headers: ["Tus-Resumable: 1.0.0", "Content-Type: application/offset+octet-stream"],
            data: four
        )
        #expect(r.status == 403 && r.body == "Upload-Offset header required\n")
        r = try await tusCall(location, "PATCH", key: key, headers: ["Tus-Resumable: 1.0.0", "Upload-Offset: 4"])
        #expect(r.status == 403 && r.body == "Content-Type header required\n")
        r = try await tusCall(location, "PATCH", key: key, headers: ["Upload-Offset: 4"])
        #expect(r.status == 412)
        // Unknown and malformed ids.
        let unknown = h.resumableEndpoint + "/" + base64url("\(bucket)/p/none")
        r = try await patchTusUpload(h, unknown, offset: 0, data: four)
        #expect(r.status == 404 && r.body == "The file for this url was not found\n")
        r = try await tusCall(unknown, "HEAD", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 404)
        r = try await patchTusUpload(h, h.resumableEndpoint + "/AAAA", offset: 0, data: four)
        #expect(r.status == 400 && r.body == "Invalid upload id")
        // Still at 4 after all that.
        r = try await tusCall(location, "HEAD", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.headers["upload-offset"] == "4")
    }

    @Test func terminationRemovesTheUpload() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let key = h.server.serviceKey
        let location = try #require(try await createTusUpload(h, key: "t", length: 10).headers["location"])
        _ = try await patchTusUpload(h, location, offset: 0, data: try h.directory.write("three", [1, 2, 3]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.directory.path + "/server/uploads").count == 1)
        var r = try await tusCall(location, "DELETE", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 204)
        #expect(r.headers["tus-resumable"] == "1.0.0")
        r = try await tusCall(location, "HEAD", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 404)
        r = try await tusCall(location, "DELETE", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 404)
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.directory.path + "/server/uploads").isEmpty)
        // And through the client.
        let url = try await h.store.createResumableUpload(
            key: "t2",
            length: 5,
            contentType: "x/y",
            cacheControl: "60",
            upsert: false
        )
        try await h.store.terminateResumableUpload(uploadURL: url)
        let gone = await storageError { _ = try await h.store.resumableOffset(uploadURL: url) }
        #expect(gone == .notFound("upload not found (HTTP 404)"))
    }
}
