// Server answers seen by a plain HTTP client (curl): bucket routes, multipart uploads, HEAD, headers, bodies.
import Foundation
import Testing

@Suite struct RawHTTPTests {
    /// curl with the service key; returns status and parsed JSON (or nil).
    private func call(_ h: Harness, _ method: String, _ path: String, json: String? = nil, extra: [String] = [])
        async throws -> (status: Int, body: String, json: Any?)
    {
        var args = [
            "-X", method, "-H", "Authorization: Bearer \(h.server.serviceKey)", "-H", "apikey: \(h.server.serviceKey)",
        ]
        if let json { args += ["-H", "Content-Type: application/json", "--data-binary", json] }
        let r = try await curlFetch(h.storageURL + path, extraArgs: args + extra)
        return (r.status, r.body, try? JSONSerialization.jsonObject(with: Data(r.body.utf8)))
    }

    private func errorBody(_ json: Any?) -> [String: String] { json as? [String: String] ?? [:] }

    @Test func bucketLifecycle() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        var r = try await call(h, "POST", "/bucket", json: #"{"name":"b1","public":true,"file_size_limit":"1KB"}"#)
        #expect(r.status == 200)
        #expect((r.json as? [String: String])?["name"] == "b1")
        r = try await call(h, "GET", "/bucket/b1")
        let bucket = r.json as? [String: Any]
        #expect(bucket?["public"] as? Bool == true)
        #expect(bucket?["file_size_limit"] as? Int == 1000)
        #expect(bucket?["owner"] as? String == "")
        #expect(bucket?["type"] == nil)
        r = try await call(h, "GET", "/bucket")
        #expect((r.json as? [[String: Any]])?.first?["type"] as? String == "STANDARD")

        r = try await call(h, "POST", "/bucket", json: #"{"name":"b1"}"#)
        #expect(r.status == 400)
        #expect(
            errorBody(r.json) == [
                "statusCode": "409", "error": "Duplicate", "message": "The resource already exists",
                "code": "BucketAlreadyExists",
            ]
        )
        r = try await call(h, "POST", "/bucket", json: #"{"name":"bad/name"}"#)
        #expect(errorBody(r.json)["code"] == "InvalidBucketName")
        r = try await call(h, "GET", "/bucket/none")
        #expect(r.status == 400)
        #expect(
            errorBody(r.json) == [
                "statusCode": "404", "error": "Bucket not found", "message": "Bucket not found", "code": "NoSuchBucket",
            ]
        )

        // Public bucket: readable without a key through /object/public/.
        let up = try await call(
            h,
            "POST",
            "/object/b1/pub.txt",
            extra: ["-H", "Content-Type: text/html", "--data-binary", "hi"]
        )
        #expect(up.status == 200)
        #expect((up.json as? [String: String])?["Key"] == "b1/pub.txt")
        let pub = try await curlFetch(h.storageURL + "/object/public/b1/pub.txt", extraArgs: ["-D", "/dev/stderr"])
        #expect(pub.status == 200 && pub.body == "hi")
        let priv = try await curlFetch(h.storageURL + "/object/public/codebegen-projects/x")
        #expect(errorBody(try JSONSerialization.jsonObject(with: Data(priv.body.utf8)))["code"] == "NoSuchBucket")

        // Bucket limit applies to uploads.
        let big = String(repeating: "x", count: 1001)
        r = try await call(h, "POST", "/object/b1/big", extra: ["--data-binary", big])
        #expect(errorBody(r.json)["statusCode"] == "413")

        r = try await call(h, "PUT", "/bucket/b1", json: #"{"public":false}"#)
        #expect((r.json as? [String: String])?["message"] == "Successfully updated")
        r = try await call(h, "DELETE", "/bucket/b1")
        #expect(errorBody(r.json)["code"] == "ResourceNotEmpty")
        r = try await call(h, "POST", "/bucket/b1/empty", json: "{}")
        #expect(r.status == 200)
        r = try await call(h, "DELETE", "/bucket/b1")
        #expect((r.json as? [String: String])?["message"] == "Successfully deleted")
        r = try await call(h, "DELETE", "/bucket/b1")
        #expect(errorBody(r.json)["code"] == "NoSuchBucket")
    }

    @Test func multipartUploadStoresFieldsAndServesHeaders() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let file = try h.directory.write("m.txt", Array("multipart body\r\n--not-a-boundary".utf8))
        var r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/mp/file.txt",
            extra: ["-F", "cacheControl=3600", "-F", "file=@\(file);type=text/plain;charset=UTF-8"]
        )
        #expect(r.status == 200, "\(r.body)")
        let head = try await runTool(
            "/usr/bin/curl",
            [
                "-s", "-D", "-", "-o", h.directory.file("got"), "-H", "Authorization: Bearer \(h.server.serviceKey)",
                h.storageURL + "/object/authenticated/codebegen-projects/mp/file.txt",
            ]
        )
        let headers = head.stdout.lowercased()
        #expect(headers.contains("content-type: text/plain\r\n"))
        #expect(headers.contains("cache-control: max-age=3600"))
        #expect(headers.contains("etag: \""))
        #expect(headers.contains("last-modified: "))
        #expect(headers.contains("x-robots-tag: none"))
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: h.directory.file("got")))
                == Data(contentsOf: URL(fileURLWithPath: file))
        )

        r = try await call(h, "GET", "/object/info/codebegen-projects/mp/file.txt")
        let info = r.json as? [String: Any]
        #expect(info?["size"] as? Int == 32)
        #expect(info?["content_type"] as? String == "text/plain")
        #expect(info?["bucket_id"] as? String == "codebegen-projects")

        // HEAD of a missing object: HTTP 400 and no body.
        let missing = try await curlFetch(
            h.storageURL + "/object/codebegen-projects/mp/none",
            extraArgs: ["-I", "-H", "Authorization: Bearer \(h.server.serviceKey)"]
        )
        #expect(missing.status == 400)
        // Conditional GET.
        let etag = (info?["etag"] as? String) ?? ""
        let cond = try await call(
            h,
            "GET",
            "/object/codebegen-projects/mp/file.txt",
            extra: ["-H", "If-None-Match: \(etag)"]
        )
        #expect(cond.status == 304 && cond.body.isEmpty)
        // PUT replaces (and creates).
        r = try await call(h, "PUT", "/object/codebegen-projects/mp/file.txt", extra: ["--data-binary", "new"])
        #expect(r.status == 200)
        r = try await call(h, "PUT", "/object/codebegen-projects/mp/created-by-put", extra: ["--data-binary", "p"])
        #expect(r.status == 200)
        r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/mp/file.txt",
            extra: ["-H", "x-upsert: true", "--data-binary", "newer"]
        )
        #expect(r.status == 200)
        r = try await call(h, "GET", "/object/codebegen-projects/mp/file.txt")
        #expect(r.body == "newer")
        r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/mp/file.txt",
            extra: ["-H", "x-upsert: TRUE", "--data-binary", "x"]
        )
        #expect(errorBody(r.json)["code"] == "KeyAlreadyExists")
        // A multipart body without a file part.
        r = try await call(h, "POST", "/object/codebegen-projects/mp/nofile", extra: ["-F", "cacheControl=1"])
        #expect(errorBody(r.json)["code"] == "InvalidRequest")
    }

    @Test func listSearchAndBatchSign() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        for key in ["l/Apple", "l/apricot", "l/banana", "l/dir/x"] {
            _ = try await call(h, "POST", "/object/codebegen-projects/\(key)", extra: ["--data-binary", "1"])
        }
        var r = try await call(h, "POST", "/object/list/codebegen-projects", json: #"{"prefix":"l","search":"ap"}"#)
        #expect((r.json as? [[String: Any]])?.map { $0["name"] as? String } == ["Apple", "apricot"])
        r = try await call(
            h,
            "POST",
            "/object/list/codebegen-projects",
            json: #"{"prefix":"l","sortBy":{"column":"name","order":"desc"}}"#
        )
        let items = r.json as? [[String: Any]]
        #expect(items?.map { $0["name"] as? String } == ["dir", "banana", "apricot", "Apple"])
        #expect(items?.first?["id"] is NSNull)
        #expect(items?.first?["metadata"] is NSNull)
        r = try await call(h, "POST", "/object/list/codebegen-projects", json: #"{"limit":1}"#)
        #expect(errorBody(r.json)["code"] == "InvalidRequest")

        r = try await call(
            h,
            "POST",
            "/object/sign/codebegen-projects",
            json: #"{"expiresIn":"60","paths":["l/Apple","l/none"]}"#
        )
        let signed = r.json as? [[String: Any]]
        #expect(signed?.count == 2)
        #expect(signed?[0]["error"] is NSNull)
        #expect(
            (signed?[0]["signedURL"] as? String)?.hasPrefix("/object/sign/codebegen-projects/l/Apple?token=") == true
        )
        #expect(signed?[1]["error"] as? String == "Either the object does not exist or you do not have access to it")
        #expect(signed?[1]["signedURL"] is NSNull)
        r = try await call(h, "POST", "/object/sign/codebegen-projects/l/Apple", json: #"{"expiresIn":0}"#)
        #expect(errorBody(r.json)["code"] == "InvalidRequest")
        r = try await call(h, "POST", "/object/sign/codebegen-projects/l/Apple", json: #"{"expiresIn":"30"}"#)
        let path = (r.json as? [String: String])?["signedURL"] ?? ""
        let fetched = try await curlFetch(
            h.storageURL + path + "&download=a%20b.txt",
            extraArgs: ["-D", "/dev/stderr"]
        )
        #expect(fetched.status == 200 && fetched.body == "1")
    }

    @Test func bucketMimeRulesPlaceholdersAndUserMetadata() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        var r = try await call(
            h,
            "POST",
            "/bucket",
            json: #"{"name":"img","allowed_mime_types":["image/*","text/plain"]}"#
        )
        #expect(r.status == 200)
        r = try await call(
            h,
            "POST",
            "/object/img/a.png",
            extra: ["-H", "Content-Type: image/png", "--data-binary", "p"]
        )
        #expect(r.status == 200)
        r = try await call(
            h,
            "POST",
            "/object/img/a.txt",
            extra: ["-H", "Content-Type: text/plain;charset=UTF-8", "--data-binary", "t"]
        )
        #expect(
            errorBody(r.json) == [
                "statusCode": "415", "error": "invalid_mime_type",
                "message": "mime type text/plain;charset=UTF-8 is not supported", "code": "InvalidMimeType",
            ]
        )
        let text = try h.directory.write("b.txt", Array("text".utf8))
        r = try await call(
            h,
            "POST",
            "/object/img/b.txt",
            extra: ["-F", "file=@\(text);type=text/plain;charset=UTF-8"]
        )
        #expect(r.status == 200, "multipart drops the parameter, so text/plain matches")

        r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/f/.emptyFolderPlaceholder",
            extra: ["--data-binary", "x"]
        )
        #expect(errorBody(r.json)["code"] == "EntityTooLarge")
        r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/f/.emptyFolderPlaceholder",
            extra: ["--data-binary", ""]
        )
        #expect(r.status == 200)

        let meta = Data(#"{"owner":"me"}"#.utf8).base64EncodedString()
        r = try await call(
            h,
            "POST",
            "/object/codebegen-projects/m",
            extra: ["-H", "x-metadata: \(meta)", "--data-binary", "1"]
        )
        #expect(r.status == 200)
        r = try await call(h, "GET", "/object/info/codebegen-projects/m")
        #expect(((r.json as? [String: Any])?["metadata"] as? [String: String]) == ["owner": "me"])

        r = try await call(h, "PUT", "/bucket/img", json: #"{"name":"img"}"#)
        #expect(errorBody(r.json)["code"] == "InvalidRequest")
        r = try await call(
            h,
            "POST",
            "/object/copy",
            json: #"{"bucketId":"codebegen-projects","sourceKey":"m","destinationKey":"n","destinationBucket":"none"}"#
        )
        #expect(errorBody(r.json)["code"] == "NoSuchBucket")
        r = try await call(h, "POST", "/object/move", json: #"{"bucketId":"codebegen-projects","sourceKey":"m"}"#)
        #expect(errorBody(r.json)["message"] == "body must have required property 'destinationKey'")
    }
}
