// SupabaseObjectStore's resumable uploads against the bundled server: 6 MiB chunks, dropped connections that
// never make it resend acknowledged bytes, resumption after a restart (same port or another), expired URLs,
// the reading of TUS answers, and a key that shows up nowhere.
import Foundation
import Logging
import Testing

@testable import SupabaseStorage

@Suite struct ResumableClientTests {
    private let mib: Int64 = 1 << 20
    private let quickRetry = RetryPolicy(maxAttempts: 30, baseDelay: .milliseconds(1), maxDelay: .milliseconds(20))

    /// Whether the object `key` holds exactly the bytes of the file at `path`.
    private func objectEquals(_ h: Harness, key: String, file path: String) async throws -> Bool {
        let copy = h.directory.file("download-\(UUID().uuidString)")
        try await h.store.get(key: key, range: nil, toFile: copy)
        return FileManager.default.contentsEqual(atPath: copy, andPath: path)
    }

    private func patchBytes(_ log: String) throws -> (received: Int, failed: Int, sizes: [Int]) {
        let lines = try resumableLogLines(log, method: "PATCH")
        let sizes = lines.map { $0["bytes_received"] as? Int ?? 0 }
        let failed = lines.filter { $0["status"] as? Int != 204 }.count
        return (sizes.reduce(0, +), failed, sizes)
    }

    @Test func twentyMegabytesGoUpInSixMiBChunks() async throws {
        let dir = try TemporaryDirectory()
        let log = dir.file("access.log")
        let h = try await Harness.resumable(directory: dir, accessLogPath: log)
        defer { Task { await h.stop() } }
        let size = 20_000_000
        let file = try dir.write("archive", patternBytes(size, seed: 20))
        let progress = AcknowledgedOffsets()
        let info = try await h.store.uploadResumably(
            key: "big/v1.tar.gz",
            fromFile: file,
            contentType: "application/gzip",
            onProgress: { progress.add($0, $1) }
        )
        #expect(info.size == Int64(size))
        #expect(progress.all.map { $0.offset } == [0, 6 * mib, 12 * mib, 18 * mib, Int64(size)])
        #expect(Set(progress.all.map { $0.url }).count == 1)
        #expect(try await objectEquals(h, key: "big/v1.tar.gz", file: file))
        let stored = try await h.store.info(key: "big/v1.tar.gz")
        #expect(stored.size == Int64(size) && stored.contentType == "application/gzip")
        try await Task.sleep(for: .milliseconds(200))  // the last log line is written after its answer
        let patches = try patchBytes(log)
        #expect(patches.sizes == [6 << 20, 6 << 20, 6 << 20, size - 18 * (1 << 20)])
    }

    @Test func droppedConnectionsNeverMakeItResendAcknowledgedBytes() async throws {
        for chunk in [6 * mib, mib / 2] {
            let dir = try TemporaryDirectory()
            let log = dir.file("access.log")
            let h = try await Harness.resumable(directory: dir, faultResetRate: 0.2, accessLogPath: log)
            let size = 20_000_000
            let file = try dir.write("archive", patternBytes(size, seed: 21))
            let progress = AcknowledgedOffsets()
            _ = try await h.store.uploadResumably(
                key: "faulty.bin",
                fromFile: file,
                chunkSize: chunk,
                retry: quickRetry,
                onProgress: { progress.add($0, $1) }
            )
            await h.stop()
            let check = try await Harness.resumable(directory: dir)
            #expect(try await objectEquals(check, key: "faulty.bin", file: file))
            await check.stop()
            let acknowledged = progress.all.map { $0.offset }
            #expect(acknowledged == acknowledged.sorted(), "acknowledged offsets only grow")
            let patches = try patchBytes(log)
            #expect(
                patches.received <= size + Int(chunk) * patches.failed,
                "\(patches.received) bytes received for a \(size)-byte file, \(patches.failed) failed PATCHes"
            )
            // 40 PATCHes of 512 KiB at a 20 % reset rate: some certainly failed.
            if chunk < mib { #expect(patches.failed > 0) }
        }
    }

    @Test func resumesAfterARestartOnTheSamePortAndOnAnother() async throws {
        let dir = try TemporaryDirectory()
        let size = 3 * Int(mib) + 12_345
        let file = try dir.write("archive", patternBytes(size, seed: 22))
        let first = try await Harness.resumable(directory: dir)
        let port = first.port
        let url = try await first.store.createResumableUpload(
            key: "resumed",
            length: Int64(size),
            contentType: "x/y",
            cacheControl: nil,
            upsert: false
        )
        var offset: Int64 = 0
        for _ in 0..<2 {
            offset = try await first.store.uploadChunk(
                uploadURL: url,
                fromFile: file,
                offset: offset,
                length: mib,
                upsert: false
            )
        }
        #expect(offset == 2 * mib)
        // A second upload, left at 1 MiB, for the move to another port.
        let moved = try await first.store.createResumableUpload(
            key: "moved",
            length: Int64(size),
            contentType: "x/y",
            cacheControl: nil,
            upsert: false
        )
        _ = try await first.store.uploadChunk(uploadURL: moved, fromFile: file, offset: 0, length: mib, upsert: false)
        await first.stop()

        // Same data, same port: the URL works as it is and only the rest is sent.
        let log = dir.file("after-restart.log")
        let second = try await Harness.resumable(directory: dir, port: port, accessLogPath: log)
        let progress = AcknowledgedOffsets()
        _ = try await second.store.uploadResumably(
            key: "resumed",
            fromFile: file,
            contentType: "x/y",
            chunkSize: mib,
            resumeFrom: url,
            onProgress: { progress.add($0, $1) }
        )
        #expect(progress.all.first?.url == url)
        #expect(progress.all.first?.offset == 2 * mib)
        #expect(try await objectEquals(second, key: "resumed", file: file))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try patchBytes(log).received == size - 2 * Int(mib))
        await second.stop()

        // Same data, another port: the client sends the upload's id to its own base URL.
        let third = try await Harness.resumable(directory: dir)
        defer { Task { await third.stop() } }
        #expect(third.port != port)
        let resumed = AcknowledgedOffsets()
        _ = try await third.store.uploadResumably(
            key: "moved",
            fromFile: file,
            contentType: "x/y",
            chunkSize: mib,
            resumeFrom: moved,
            onProgress: { resumed.add($0, $1) }
        )
        #expect(resumed.all.first?.offset == mib)
        #expect(try await objectEquals(third, key: "moved", file: file))
    }

    @Test func anExpiredOrForeignUploadURLStartsANewUpload() async throws {
        // Every upload of this server expires: long enough that a fresh one finishes while 160 tests
        // share two cores (at 3 s one expired mid-upload once), short enough to wait out once.
        let h = try await Harness.resumable(expiry: .seconds(8))
        defer { Task { await h.stop() } }
        let size = Int(mib) + 100
        let file = try h.directory.write("archive", patternBytes(size, seed: 23))
        let old = try await h.store.createResumableUpload(
            key: "expiring",
            length: Int64(size),
            contentType: "x/y",
            cacheControl: nil,
            upsert: false
        )
        _ = try await h.store.uploadChunk(uploadURL: old, fromFile: file, offset: 0, length: 1000, upsert: false)
        try await Task.sleep(for: .milliseconds(8300))
        let progress = AcknowledgedOffsets()
        _ = try await h.store.uploadResumably(
            key: "expiring",
            fromFile: file,
            resumeFrom: old,
            onProgress: { progress.add($0, $1) }
        )
        let fresh = try #require(progress.all.first)
        #expect(fresh.url != old && fresh.offset == 0)
        #expect(try await objectEquals(h, key: "expiring", file: file))
        let gone = await storageError { _ = try await h.store.resumableOffset(uploadURL: old) }
        #expect(gone == .notFound("upload not found (HTTP 404)"))

        // An upload of another key is not resumed either.
        let other = try await h.store.createResumableUpload(
            key: "someone-else",
            length: Int64(size),
            contentType: "x/y",
            cacheControl: nil,
            upsert: false
        )
        let second = AcknowledgedOffsets()
        _ = try await h.store.uploadResumably(
            key: "mine",
            fromFile: file,
            resumeFrom: other,
            onProgress: { second.add($0, $1) }
        )
        #expect(second.all.first?.url != other)
        #expect(try await objectEquals(h, key: "mine", file: file))
    }

    @Test func tusAnswersMapToTypedErrors() throws {
        func map(_ status: Int, _ body: String) -> StorageError {
            TusAnswer.error(status: status, body: Array(body.utf8))
        }
        #expect(map(409, "Upload-Offset conflict\n") == .transient("409 Upload-Offset conflict"))
        #expect(map(409, "The resource already exists") == .conflict("The resource already exists"))
        #expect(map(503, "acquiring lock timeout").isTransient)
        #expect(map(410, "") == .notFound("upload expired (HTTP 410)"))
        #expect(map(404, "Bucket not found") == .notFound("Bucket not found"))
        #expect(map(413, "Maximum size exceeded\n") == .tooLarge("Maximum size exceeded"))
        #expect(
            map(412, "Tus-Resumable Required\n")
                == .permanent(statusCode: 412, code: "TusError", message: "Tus-Resumable Required")
        )
        #expect(map(400, #"{"statusCode":"403","error":"Unauthorized","message":"no"}"#) == .unauthorized("no"))
        #expect(throws: StorageError.self) { try ResumableURL.path(of: "http://h/upload/resumable/a%2Fb") }
        let elsewhere = "https://other.example/storage/v1/upload/resumable/abc_-9/"
        #expect(try ResumableURL.path(of: elsewhere) == "/upload/resumable/abc_-9")
    }

    @Test func theServiceKeyAppearsInNoLogLineErrorOrUploadURL() async throws {
        let key = "resumable-secret-\(UUID().uuidString)"
        let storage = CollectingLogHandler.Storage()
        var logger = Logger(label: "redaction") { _ in CollectingLogHandler(storage: storage) }
        logger.logLevel = .trace
        let h = try await Harness.start(serviceKey: key, fileSizeLimit: 100)
        defer { Task { await h.stop() } }
        let store = h.client(logger: logger)
        let wrong = h.client(key: key + "-wrong", logger: logger)
        let file = try h.directory.write("f", patternBytes(50, seed: 1))
        var texts: [String] = []
        func collect(_ body: () async throws -> Void) async {
            do { try await body() } catch { texts += ["\(error)", String(reflecting: error)] }
        }
        func create(_ client: SupabaseObjectStore, _ name: String, _ length: Int64) async throws -> String {
            try await client.createResumableUpload(
                key: name,
                length: length,
                contentType: "x/y",
                cacheControl: nil,
                upsert: false
            )
        }
        func chunk(_ url: String) async throws {
            _ = try await store.uploadChunk(uploadURL: url, fromFile: file, offset: 0, length: 10, upsert: false)
        }
        var url = ""
        await collect { url = try await create(store, "r", 50) }
        await collect { try await chunk(url) }
        await collect { try await chunk(url) }  // offset conflict
        await collect { _ = try await store.resumableOffset(uploadURL: url) }
        await collect { _ = try await create(store, "big", 101) }  // too large
        await collect { _ = try await create(wrong, "w", 5) }
        await collect { _ = try await wrong.resumableOffset(uploadURL: url) }
        await collect { try await wrong.terminateResumableUpload(uploadURL: url) }
        await collect { _ = try await store.uploadResumably(key: "r2", fromFile: file) }
        #expect(!url.isEmpty && !url.contains(key))
        #expect(texts.count >= 8, "\(texts)")
        let lines = storage.all
        #expect(lines.count >= 10)
        for text in lines + texts { #expect(!text.contains(key), "key leaked in: \(text)") }
    }
}
