// Resumable uploads over time: two requests on one upload (Supabase's lock hand-over: 409, or 503 after 5 s),
// two uploads of one key, expiry (410, then 404), and state that survives a restart of the server.
import Foundation
import SupabaseStorage
import Testing

@Suite struct ResumableLifecycleTests {
    @Test func aSecondPatchOnALockedUploadGetsAnOffsetConflictOnceTheFirstLetsGo() async throws {
        // The holder lets go 1 s after being asked (3 s in Supabase and by default): with the waiter's 5 s, a
        // loaded machine (the other suites share its two cores) has 4 s to run the hand-over, not 2.
        let h = try await Harness.resumable(lockDrainTimeout: .seconds(1))
        defer { Task { await h.stop() } }
        let length = 16 << 20
        let location = try #require(try await createTusUpload(h, key: "locked", length: length).headers["location"])
        let path = String(location.dropFirst(h.baseURL.count))
        // A slow PATCH holds the upload: 16 KiB every 20 ms, far from done when the second arrives.
        let slow = try HandDrivenPatch(port: h.port, path: path, key: h.server.serviceKey, offset: 0, length: length)
        slow.trickle(pieceSize: 16 << 10, pieces: 1024, interval: 0.02)
        defer { slow.stop() }
        // Its first bytes are on disk (a HEAD would already ask it to let go).
        try await waitUntil { try dataFileSizes(h).contains { $0 > 0 } }
        // The second asks the first to let go; the first stops taking bytes 1 s later and answers with what it
        // stored; the second then finds the offset moved: 409.
        let started = ContinuousClock.now
        let second = try await patchTusUpload(h, location, offset: 0, data: try h.directory.write("b", [1, 2, 3]))
        let waited = ContinuousClock.now - started
        #expect(second.status == 409)
        #expect(second.body == "Upload-Offset conflict\n")
        #expect(waited >= .milliseconds(900), "\(waited)")
        let first = try await slow.readAnswer()
        slow.stop()
        #expect(first.status == 204, "\(first.head)")
        let head = try await tusCall(location, "HEAD", key: h.server.serviceKey, headers: ["Tus-Resumable: 1.0.0"])
        let stored = Int(head.headers["upload-offset"] ?? "") ?? -1
        #expect(stored > 0 && stored < length)
        #expect(first.head.lowercased().contains("upload-offset: \(stored)\r\n"), "\(first.head)")
    }

    @Test func aPatchWaitingOnAStalledHolderTimesOutWith503() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let location = try #require(try await createTusUpload(h, key: "stalled", length: 1000).headers["location"])
        let path = String(location.dropFirst(h.baseURL.count))
        // Ten bytes of a thousand, then nothing: the holder never reaches a point where it could let go.
        let stalled = try HandDrivenPatch(port: h.port, path: path, key: h.server.serviceKey, offset: 0, length: 1000)
        try stalled.sendBytes(Array(repeating: 1, count: 10))
        try await waitUntil { try dataFileSizes(h).contains { $0 > 0 } }
        let started = ContinuousClock.now
        let second = try await patchTusUpload(h, location, offset: 0, data: try h.directory.write("b", [1]))
        #expect(second.status == 503)
        #expect(second.body == "acquiring lock timeout")
        #expect(ContinuousClock.now - started >= .milliseconds(4900))
        stalled.stop()
    }

    @Test func twoUploadsOfOneKeyTheFirstToFinishWinsWithoutUpsert() async throws {
        let h = try await Harness.resumable()
        defer { Task { await h.stop() } }
        let a = try #require(try await createTusUpload(h, key: "race", length: 4).headers["location"])
        let b = try #require(try await createTusUpload(h, key: "race", length: 4).headers["location"])
        #expect(a != b)
        let two = try h.directory.write("two", [1, 2])
        let aFile = try h.directory.write("a", [1, 1, 1, 1])
        #expect(try await patchTusUpload(h, b, offset: 0, data: two).status == 204)
        #expect(try await patchTusUpload(h, a, offset: 0, data: aFile).headers["tus-complete"] == "1")
        let late = try await patchTusUpload(h, b, offset: 2, data: two)
        #expect(late.status == 409 && late.body == "The resource already exists")
        #expect(try await h.store.get(key: "race", range: nil) == [1, 1, 1, 1])
        // With upsert, the last to finish wins.
        #expect(try await patchTusUpload(h, b, offset: 2, data: two, upsert: true).headers["tus-complete"] == "1")
        #expect(try await h.store.get(key: "race", range: nil) == [1, 2, 1, 2])
    }

    @Test func anExpiredUploadAnswers410ThenIsGone() async throws {
        // 3 s: long enough for the first PATCH on a busy machine, short enough to wait for.
        let h = try await Harness.resumable(expiry: .seconds(3))
        defer { Task { await h.stop() } }
        let key = h.server.serviceKey
        let location = try #require(try await createTusUpload(h, key: "exp", length: 10).headers["location"])
        #expect(try await patchTusUpload(h, location, offset: 0, data: try h.directory.write("x", [1])).status == 204)
        try await Task.sleep(for: .milliseconds(3300))
        var r = try await patchTusUpload(h, location, offset: 1, data: try h.directory.write("y", [2]))
        #expect(r.status == 410 && r.body == "The file for this url no longer exists\n")
        r = try await tusCall(location, "HEAD", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 404)
        #expect(try FileManager.default.contentsOfDirectory(atPath: h.directory.path + "/server/uploads").isEmpty)

        let other = try #require(try await createTusUpload(h, key: "exp2", length: 10).headers["location"])
        try await Task.sleep(for: .milliseconds(3300))
        r = try await tusCall(other, "HEAD", key: key, headers: ["Tus-Resumable: 1.0.0"])
        #expect(r.status == 410)
    }

    @Test func uploadsSurviveARestartAndStaleOnesAreRemovedAtStart() async throws {
        let dir = try TemporaryDirectory()
        let before = try await Harness.resumable(directory: dir)
        let port = before.port
        let bytes = patternBytes(50_000, seed: 5)
        let location = try #require(try await createTusUpload(before, key: "kept", length: 50_000).headers["location"])
        let first = try dir.write("first", Array(bytes[0..<20_000]))
        #expect(try await patchTusUpload(before, location, offset: 0, data: first).status == 204)
        await before.stop()
        // A stray file nobody owns is removed at start.
        try dir.write("server/uploads/stray", [1, 2, 3])
        let after = try await Harness.resumable(directory: dir, port: port)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/server/uploads/stray"))
        let head = try await tusCall(location, "HEAD", key: after.server.serviceKey, headers: ["Tus-Resumable: 1.0.0"])
        #expect(head.status == 200 && head.headers["upload-offset"] == "20000")
        let rest = try dir.write("rest", Array(bytes[20_000...]))
        #expect(try await patchTusUpload(after, location, offset: 20_000, data: rest).headers["tus-complete"] == "1")
        #expect(try await after.store.get(key: "kept", range: nil) == bytes)

        // Expired uploads are removed at start: a restart with a 1 s expiry after 1.2 s.
        let old = try #require(try await createTusUpload(after, key: "old", length: 10).headers["location"])
        await after.stop()
        try await Task.sleep(for: .milliseconds(1200))
        let later = try await Harness.resumable(directory: dir, port: port, expiry: .seconds(1))
        defer { Task { await later.stop() } }
        let gone = try await tusCall(old, "HEAD", key: later.server.serviceKey, headers: ["Tus-Resumable: 1.0.0"])
        #expect(gone.status == 404)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/server/uploads").isEmpty)
    }
}
