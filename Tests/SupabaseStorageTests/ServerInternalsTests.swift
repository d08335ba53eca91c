// Server pieces without HTTP: the streaming multipart parser, Range parsing, the HS256 tokens, name rules.
import Foundation
import Testing

@testable import StorageServer

@Suite struct ServerInternalsTests {
    private func parse(_ body: [UInt8], boundary: String, chunk: Int) throws -> (
        fields: [String: String], file: [UInt8], done: Bool
    ) {
        var parser = MultipartParser(boundary: boundary)
        var fields: [String: String] = [:]
        var file: [UInt8] = []
        var i = 0
        while i < body.count {
            let j = min(body.count, i + chunk)
            try body[i..<j].withUnsafeBytes { bytes in
                try parser.feed(bytes) { event in
                    switch event {
                    case .field(let n, let v): fields[n] = v
                    case .fileData(let d): file += d
                    case .fileStart, .fileEnd: break
                    }
                }
            }
            i = j
        }
        return (fields, file, parser.isDone)
    }

    @Test(arguments: [1, 2, 7, 64, 100_000])
    func multipartSplitAnywhere(chunk: Int) throws {
        // File content that nearly contains the delimiter, to catch off-by-one buffering.
        let content = Array("--XYZ\r\n--XY\r\n-- data \r".utf8) + patternBytes(3000)
        let body =
            Array("preamble\r\n--XYZ\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n".utf8)
            + Array("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n".utf8)
            + Array("Content-Type: text/plain;charset=UTF-8\r\n\r\n".utf8) + content + Array("\r\n--XYZ--\r\n".utf8)
        let r = try parse(body, boundary: "XYZ", chunk: chunk)
        #expect(r.fields == ["cacheControl": "3600"])
        #expect(r.file == content)
        #expect(r.done)
    }

    @Test func multipartBoundaryParameter() {
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data; boundary=\"a b\"") == "a b")
        #expect(MultipartParser.boundary(fromContentType: "multipart/form-data") == nil)
    }

    @Test func truncatedMultipartIsNotDone() throws {
        let body = Array("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nabc".utf8)
        #expect(try parse(body, boundary: "B", chunk: 5).done == false)
        #expect(throws: MultipartError.self) {
            _ = try parse(Array("--Bxx".utf8), boundary: "B", chunk: 100)
        }
    }

    @Test func rangeForms() {
        #expect(ResolvedRange.parse("bytes=0-0", size: 10).map { [$0.start, $0.end] } == [0, 0])
        #expect(ResolvedRange.parse("bytes=5-", size: 10).map { [$0.start, $0.end] } == [5, 9])
        #expect(ResolvedRange.parse("bytes=-3", size: 10).map { [$0.start, $0.end] } == [7, 9])
        #expect(ResolvedRange.parse("bytes=-30", size: 10).map { [$0.start, $0.end] } == [0, 9])
        #expect(ResolvedRange.parse("bytes=8-100", size: 10).map { [$0.start, $0.end] } == [8, 9])
        #expect(ResolvedRange.parse("bytes=10-", size: 10) == nil)
        #expect(ResolvedRange.parse("bytes=5-2", size: 10) == nil)
        #expect(ResolvedRange.parse("bytes=0-1,3-4", size: 10) == nil)
        #expect(ResolvedRange.parse("items=0-1", size: 10) == nil)
        #expect(ResolvedRange.parse("bytes=0-0", size: 0) == nil)
    }

    @Test func tokensVerifyAndFailWithJoseMessages() throws {
        let signer = HS256(secret: "s1")
        let now = Date()
        let token = signer.sign(["url": "b/k", "exp": Int(now.timeIntervalSince1970) + 60])
        #expect(try signer.verify(token)["url"] as? String == "b/k")
        #expect(throws: JWTError.badSignature) { try HS256(secret: "s2").verify(token) }
        #expect(throws: JWTError.expired) { try signer.verify(token, now: now.addingTimeInterval(61)) }
        #expect(throws: JWTError.malformed) { try signer.verify("a.b") }
        #expect(throws: JWTError.malformed) { try signer.verify("not a token at all") }
        #expect(JWTError.expired.message == "\"exp\" claim timestamp check failed")
    }

    @Test func nameRules() {
        #expect(NameRules.isValidKey("a/b c!*'()&$=@;:+,?-_.txt"))
        #expect(!NameRules.isValidKey(""))
        for bad in ["é", "a%b", "a#b", "a[b", "a{b", "a\"b", "a\\b", "a~b", "a|b", "a<b", "a>b"] {
            #expect(!NameRules.isValidKey(bad), "\(bad)")
        }
        #expect(NameRules.isValidBucketName("codebegen-projects"))
        #expect(!NameRules.isValidBucketName("a/b"))
        #expect(!NameRules.isValidBucketName(" lead"))
        #expect(!NameRules.isValidBucketName(String(repeating: "a", count: 101)))
    }
}
