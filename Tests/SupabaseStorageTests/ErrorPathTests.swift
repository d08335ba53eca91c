// Every error the client can get from the server, and the documented bodies raw HTTP clients see.
import Foundation
import StorageServer
import SupabaseStorage
import Testing

@Suite struct ErrorPathTests {
    private func put(_ h: Harness, _ key: String, _ bytes: [UInt8] = [1, 2, 3], upsert: Bool = false) async throws {
        _ = try await h.store.put(
            key: key,
            fromFile: try h.directory.write(UUID().uuidString, bytes),
            contentType: "x/y",
            upsert: upsert,
            progress: nil
        )
    }

    @Test func duplicateUploadIsConflict() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        try await put(h, "dup")
        let error = await storageError { try await put(h, "dup", [4, 5]) }
        #expect(error == .conflict("The resource already exists"))
        #expect(error?.isTransient == false)
        #expect(try await h.store.get(key: "dup", range: nil) == [1, 2, 3])
    }

    @Test func missingObjectIsNotFoundEverywhere() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let expected = StorageError.notFound("Object not found")
        #expect(await storageError { _ = try await h.store.get(key: "nope", range: nil) } == expected)
        #expect(
            await storageError { try await h.store.get(key: "nope", range: nil, toFile: h.directory.file("o")) }
                == expected
        )
        #expect(await storageError { _ = try await h.store.info(key: "nope") } == expected)
        #expect(await storageError { try await h.store.delete(key: "nope") } == expected)
        #expect(await storageError { _ = try await h.store.sign(key: "nope", expiresIn: 60) } == expected)
        #expect(await storageError { try await h.store.move(from: "nope", to: "b") } == expected)
        #expect(await storageError { try await h.store.copy(from: "nope", to: "b") } == expected)
        // The failed download did not leave the error body in the destination.
        #expect((try? Data(contentsOf: URL(fileURLWithPath: h.directory.file("o"))))?.count ?? 0 == 0)
    }

    @Test func missingBucketIsNotFound() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let other = h.client(bucket: "no-such-bucket")
        let src = try h.directory.write("s", [1])
        let expected = StorageError.notFound("Bucket not found")
        #expect(
            await storageError {
                _ = try await other.put(key: "k", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
            } == expected
        )
        #expect(await storageError { _ = try await other.get(key: "k", range: nil) } == expected)
        #expect(await storageError { _ = try await other.info(key: "k") } == expected)
        // Listing or bulk-deleting in a missing bucket gives an empty answer, as the real service does.
        #expect(try await other.list(prefix: "", limit: 10, offset: 0).isEmpty)
        #expect(try await other.delete(keys: ["k"]).isEmpty)
    }

    @Test func moveOntoExistingKeyIsConflict() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        try await put(h, "m/a")
        try await put(h, "m/b")
        #expect(
            await storageError { try await h.store.move(from: "m/a", to: "m/b") }
                == .conflict("The resource already exists")
        )
        #expect(
            await storageError { try await h.store.copy(from: "m/a", to: "m/b") }
                == .conflict("The resource already exists")
        )
        try await h.store.copy(from: "m/a", to: "m/b", upsert: true)
    }

    @Test func wrongKeyIsUnauthorizedAndMalformedJWTMessageIsKept() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        try await put(h, "secret")
        let bad = h.client(key: "not-the-key")
        let src = try h.directory.write("s", [1])
        let e1 = await storageError {
            _ = try await bad.put(key: "x", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        #expect(e1 == .unauthorized("Invalid Compact JWS"))
        #expect(
            await storageError { _ = try await bad.list(prefix: "", limit: 1, offset: 0) }
                == .unauthorized("Invalid Compact JWS")
        )
        #expect(
            await storageError { _ = try await bad.sign(key: "secret", expiresIn: 60) }
                == .unauthorized("Invalid Compact JWS")
        )
        #expect(
            await storageError { _ = try await bad.createBucketIfMissing(name: "zz", public: false) }
                == .unauthorized("Invalid Compact JWS")
        )
        // A JWT signed with another secret.
        let forged = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"
        #expect(
            await storageError { try await h.client(key: forged).delete(key: "secret") }
                == .unauthorized("signature verification failed")
        )
        // The public GET route treats a bad key as anon: a private bucket looks missing.
        #expect(
            await storageError { _ = try await bad.get(key: "secret", range: nil) } == .notFound("Bucket not found")
        )
    }

    @Test func missingAuthorizationHeaderGetsTheValidationBody() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let r = try await curlFetch(h.storageURL + "/bucket")
        #expect(r.status == 400)
        let body = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: String]
        #expect(body?["statusCode"] == "400")
        #expect(body?["code"] == "InvalidRequest")
        #expect(body?["message"] == "headers must have required property 'authorization'")
    }

    @Test func tooLargeUploadsAreRefused() async throws {
        let h = try await Harness.start(fileSizeLimit: 1000)
        defer { Task { await h.stop() } }
        let big = try h.directory.write("big", patternBytes(1001))
        let e = await storageError {
            _ = try await h.store.put(key: "big", fromFile: big, contentType: "x/y", upsert: false, progress: nil)
        }
        // The server's message, then what the client learnt of the limit (it asks the bucket and the server).
        #expect(
            e == .tooLarge(
                "The object exceeded the maximum allowed size: the object is 1001 bytes, over the 1000-byte limit "
                    + "(the server's global upload limit); raise the limit or store smaller objects"))
        #expect(try await h.store.exists(key: "big") == false)
        // Exactly at the limit is fine, and the connection is still usable after the refusal.
        _ = try await h.store.put(
            key: "ok",
            fromFile: try h.directory.write("ok", patternBytes(1000)),
            contentType: "x/y",
            upsert: false,
            progress: nil
        )
        // A chunked body (no Content-Length) over the limit is caught while streaming.
        let r = try await runTool(
            "/usr/bin/curl",
            [
                "-s", "-X", "POST", "-H", "Authorization: Bearer \(h.server.serviceKey)", "-H",
                "Transfer-Encoding: chunked",
                "--data-binary", "@" + big, h.storageURL + "/object/codebegen-projects/chunked",
            ]
        )
        #expect(r.stdout.contains("\"statusCode\":\"413\""))
        #expect(r.stdout.contains("EntityTooLarge"))
    }

    @Test func invalidKeyIsPermanentWithServerMessage() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let src = try h.directory.write("s", [1])
        let e = await storageError {
            _ = try await h.store.put(key: "bad#key", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        #expect(e == .permanent(statusCode: 400, code: "InvalidKey", message: "Invalid key: bad#key"))
        #expect(e?.isTransient == false)
    }

    @Test func unsatisfiableRangeIs416() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        try await put(h, "small", [1, 2, 3])
        let e = await storageError { _ = try await h.store.get(key: "small", range: .closed(10, 20)) }
        #expect(e == .permanent(statusCode: 416, code: "InvalidRange", message: "invalid range provided"))
    }

    @Test func connectionRefusedIsTransient() async throws {
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: "http://127.0.0.1:1", serviceKey: "k", connectTimeoutSeconds: 2)
        )
        let e = await storageError { _ = try await store.info(key: "x") }
        #expect(e?.isTransient == true)
    }

    @Test func localFileProblemsAreLocalErrors() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let e = await storageError {
            _ = try await h.store.put(
                key: "x",
                fromFile: "/nonexistent/file",
                contentType: "x/y",
                upsert: false,
                progress: nil
            )
        }
        #expect(e == .localFile(path: "/nonexistent/file", errno: ENOENT))
        try await put(h, "x")
        let e2 = await storageError { try await h.store.get(key: "x", range: nil, toFile: "/nonexistent/dir/out") }
        #expect(e2 == .localFile(path: "/nonexistent/dir/out", errno: ENOENT))
    }

    @Test func unknownRouteIsRealHTTP404() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let r = try await curlFetch(
            h.storageURL + "/nothing/here",
            extraArgs: ["-H", "Authorization: Bearer \(h.server.serviceKey)"]
        )
        #expect(r.status == 404)
        #expect(r.body.contains("Route GET:/nothing/here not found"))
    }
}

@Suite struct SignedURLErrorTests {
    private func signed(_ h: Harness, key: String = "s.txt", expiresIn: Int = 60) async throws -> SignedURL {
        if try await !h.store.exists(key: key) {
            _ = try await h.store.put(
                key: key,
                fromFile: try h.directory.write(UUID().uuidString, Array("data".utf8)),
                contentType: "text/plain",
                upsert: false,
                progress: nil
            )
        }
        return try await h.store.sign(key: key, expiresIn: expiresIn)
    }

    private func body(_ s: String) throws -> [String: String] {
        try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: String] ?? [:]
    }

    @Test func expiredTokenIsRefused() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let url = try await signed(h, expiresIn: 1)
        // Wait until the token's exp has passed (the check is exp <= now, in whole seconds).
        while Date() < url.expiresAt.addingTimeInterval(0.05) { try await Task.sleep(for: .milliseconds(100)) }
        let r = try await curlFetch(url.url)
        #expect(r.status == 400)
        #expect(
            try body(r.body) == [
                "statusCode": "400", "error": "InvalidJWT", "message": "\"exp\" claim timestamp check failed",
                "code": "InvalidJWT",
            ]
        )
    }

    @Test func tamperedTokenIsRefused() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let url = try await signed(h).url
        // Change the first character of the signature (the last one may only hold padding bits).
        let signatureStart = try #require(url.lastIndex(of: ".")).utf16Offset(in: url) + 1
        var chars = Array(url)
        chars[signatureStart] = chars[signatureStart] == "A" ? "B" : "A"
        let r = try await curlFetch(String(chars))
        #expect(r.status == 400)
        #expect(
            try body(r.body) == [
                "statusCode": "400", "error": "InvalidJWT", "message": "signature verification failed",
                "code": "InvalidJWT",
            ]
        )
        let garbage = try await curlFetch(url.components(separatedBy: "?token=")[0] + "?token=garbage")
        #expect(try body(garbage.body)["message"] == "Invalid Compact JWS")
        let none = try await curlFetch(url.components(separatedBy: "?token=")[0])
        #expect(none.status == 400)
        #expect(try body(none.body)["message"] == "querystring must have required property 'token'")
    }

    @Test func tokenForAnotherObjectIsRefused() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let a = try await signed(h, key: "a.txt").url
        _ = try await signed(h, key: "b.txt")
        let token = a.components(separatedBy: "?token=")[1]
        let r = try await curlFetch(h.storageURL + "/object/sign/codebegen-projects/b.txt?token=" + token)
        #expect(r.status == 400)
        #expect(
            try body(r.body) == [
                "statusCode": "400", "error": "InvalidSignature", "message": "Invalid signature",
                "code": "InvalidSignature",
            ]
        )
    }

    @Test func deletedObjectGivesNoSuchKey() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let url = try await signed(h, key: "gone.txt").url
        try await h.store.delete(key: "gone.txt")
        let r = try await curlFetch(url)
        #expect(r.status == 400)
        #expect(try body(r.body)["code"] == "NoSuchKey")
        #expect(try body(r.body)["statusCode"] == "404")
    }
}
