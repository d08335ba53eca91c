// Signed upload URLs over plain HTTP: one object, only with its own token, upsert decided by the token.
import Foundation
import Testing

@Suite struct SignedUploadTests {
    @Test func signedUploadURLAcceptsOneObjectAndOnlyWithItsToken() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let auth = ["-H", "Authorization: Bearer \(h.server.serviceKey)"]
        var r = try await curlFetch(
            h.storageURL + "/object/upload/sign/codebegen-projects/up/a.txt",
            extraArgs: ["-X", "POST"] + auth
        )
        let answer = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: String]
        let url = try #require(answer?["url"])
        #expect(url.hasPrefix("/object/upload/sign/codebegen-projects/up/a.txt?token="))
        r = try await curlFetch(h.storageURL + url, extraArgs: ["-X", "PUT", "--data-binary", "signed upload"])
        #expect(r.status == 200 && r.body.contains("\"Key\":\"codebegen-projects/up/a.txt\""))
        #expect(try await h.store.get(key: "up/a.txt", range: nil) == Array("signed upload".utf8))
        // The token carries upsert=false: a second upload is a duplicate, whatever x-upsert says.
        r = try await curlFetch(
            h.storageURL + url,
            extraArgs: ["-X", "PUT", "-H", "x-upsert: true", "--data-binary", "again"]
        )
        #expect(r.body.contains("KeyAlreadyExists"))
        // Signing again without upsert fails right away; another key with this token is refused.
        r = try await curlFetch(
            h.storageURL + "/object/upload/sign/codebegen-projects/up/a.txt",
            extraArgs: ["-X", "POST"] + auth
        )
        #expect(r.body.contains("KeyAlreadyExists"))
        let token = url.components(separatedBy: "?token=")[1]
        r = try await curlFetch(
            h.storageURL + "/object/upload/sign/codebegen-projects/up/b.txt?token=" + token,
            extraArgs: ["-X", "PUT", "--data-binary", "x"]
        )
        #expect(r.body.contains("InvalidSignature"))
        // An upload token is not a download token.
        r = try await curlFetch(h.storageURL + "/object/sign/codebegen-projects/up/a.txt?token=" + token)
        #expect(r.body.contains("InvalidSignature"))
    }
}
