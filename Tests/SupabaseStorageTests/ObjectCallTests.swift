// The client against the bundled server over loopback: every ObjectStore call on its success path.
import Foundation
import StorageServer
import SupabaseStorage
import Testing

@Suite struct ObjectCallTests {
    @Test func putThenGetWholeObjectToFileAndMemory() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let bytes = patternBytes(100_000)
        let src = try h.directory.write("src", bytes)
        let info = try await h.store.put(
            key: "dir/a b+c.bin",
            fromFile: src,
            contentType: "application/x-test",
            upsert: false,
            progress: nil
        )
        #expect(info.size == 100_000)
        let n = try await h.store.get(key: "dir/a b+c.bin", range: nil, toFile: h.directory.file("dst"))
        #expect(n == 100_000)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: h.directory.file("dst")))) == bytes)
        #expect(try await h.store.get(key: "dir/a b+c.bin", range: nil) == bytes)
    }

    @Test func rangeReadsOfFirstMiddleAndLastBytes() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let bytes = patternBytes(10_000, seed: 7)
        _ = try await h.store.put(
            key: "r.bin",
            fromFile: try h.directory.write("src", bytes),
            contentType: "application/octet-stream",
            upsert: false,
            progress: nil
        )
        #expect(try await h.store.get(key: "r.bin", range: .closed(0, 0)) == [bytes[0]])
        #expect(try await h.store.get(key: "r.bin", range: .closed(0, 99)) == Array(bytes[0..<100]))
        #expect(try await h.store.get(key: "r.bin", range: .closed(4000, 5999)) == Array(bytes[4000..<6000]))
        #expect(try await h.store.get(key: "r.bin", range: .closed(9999, 9999)) == [bytes[9999]])
        #expect(try await h.store.get(key: "r.bin", range: .from(9_990)) == Array(bytes[9990...]))
        #expect(try await h.store.get(key: "r.bin", range: .suffix(10)) == Array(bytes[9990...]))
        // An end past the object is clipped, as HTTP says.
        #expect(try await h.store.get(key: "r.bin", range: .closed(9_995, 20_000)) == Array(bytes[9995...]))
        let n = try await h.store.get(key: "r.bin", range: .closed(100, 199), toFile: h.directory.file("part"))
        #expect(n == 100)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: h.directory.file("part")))) == Array(bytes[100..<200]))
    }

    @Test func rangeAnswerIs206WithContentRange() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        _ = try await h.store.put(
            key: "x",
            fromFile: try h.directory.write("s", patternBytes(1000)),
            contentType: "text/plain",
            upsert: false,
            progress: nil
        )
        let r = try await runTool(
            "/usr/bin/curl",
            [
                "-s", "-D", "-", "-o", "/dev/null", "-H", "Authorization: Bearer \(h.server.serviceKey)", "-H",
                "Range: bytes=10-19", h.storageURL + "/object/codebegen-projects/x",
            ]
        )
        #expect(r.stdout.hasPrefix("HTTP/1.1 206"))
        #expect(r.stdout.lowercased().contains("content-range: bytes 10-19/1000"))
        #expect(r.stdout.lowercased().contains("content-length: 10"))
        #expect(r.stdout.lowercased().contains("accept-ranges: bytes"))
    }

    @Test func upsertReplacesAndProgressReachesTotal() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let first = try h.directory.write("1", patternBytes(50, seed: 1))
        let second = try h.directory.write("2", patternBytes(300_000, seed: 2))
        _ = try await h.store.put(key: "k", fromFile: first, contentType: "a/b", upsert: false, progress: nil)
        let seen = ProgressLog()
        _ = try await h.store.put(key: "k", fromFile: second, contentType: "a/b", upsert: true) { sent, total in
            seen.record(sent, total)
        }
        #expect(try await h.store.get(key: "k", range: nil) == patternBytes(300_000, seed: 2))
        let last = seen.last
        #expect(last?.0 == 300_000 && last?.1 == 300_000)
    }

    @Test func infoAndExists() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        _ = try await h.store.put(
            key: "i/n.txt",
            fromFile: try h.directory.write("s", Array("hello".utf8)),
            contentType: "text/plain",
            upsert: false,
            progress: nil
        )
        let info = try await h.store.info(key: "i/n.txt")
        #expect(info.size == 5)
        #expect(info.contentType == "text/plain")
        #expect(info.etag == "\"5d41402abc4b2a76b9719d911017c592\"")  // md5("hello")
        #expect(info.lastModified != nil)
        #expect(try await h.store.exists(key: "i/n.txt"))
        #expect(try await h.store.exists(key: "i/missing.txt") == false)
    }

    @Test func listHasFolderSemanticsAndPages() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let src = try h.directory.write("s", [1, 2, 3])
        for key in ["p/b.txt", "p/A.txt", "p/sub/x", "p/sub/y", "p/c.txt", "q/other", "top"] {
            _ = try await h.store.put(key: key, fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        let entries = try await h.store.list(prefix: "p", limit: 100, offset: 0)
        #expect(entries.map(\.name) == ["A.txt", "b.txt", "c.txt", "sub"])
        #expect(entries.map(\.isFolder) == [false, false, false, true])
        #expect(entries[0].size == 3)
        let root = try await h.store.list(prefix: "", limit: 100, offset: 0)
        #expect(root.map(\.name) == ["p", "q", "top"])
        let page2 = try await h.store.list(prefix: "p/", limit: 2, offset: 2)
        #expect(page2.map(\.name) == ["c.txt", "sub"])
        #expect(try await h.store.listAll(prefix: "p", pageSize: 1).map(\.name) == ["A.txt", "b.txt", "c.txt", "sub"])
        #expect(try await h.store.list(prefix: "nothing/here", limit: 10, offset: 0).isEmpty)
    }

    @Test func deleteOneAndMany() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let src = try h.directory.write("s", [9])
        for key in ["d/1", "d/2", "d/3"] {
            _ = try await h.store.put(key: key, fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        try await h.store.delete(key: "d/1")
        #expect(try await h.store.exists(key: "d/1") == false)
        let deleted = try await h.store.delete(keys: ["d/2", "d/3", "d/never"])
        #expect(Set(deleted) == ["d/2", "d/3"])
        #expect(try await h.store.list(prefix: "d", limit: 10, offset: 0).isEmpty)
        #expect(try await h.store.delete(keys: []) == [])
    }

    @Test func signedURLServesTheObjectToCurl() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        _ = try await h.store.put(
            key: "s/with space?.txt",
            fromFile: try h.directory.write("s", Array("signed!".utf8)),
            contentType: "text/plain",
            upsert: false,
            progress: nil
        )
        let before = Date()
        let signed = try await h.store.sign(key: "s/with space?.txt", expiresIn: 600)
        #expect(signed.url.hasPrefix(h.storageURL + "/object/sign/codebegen-projects/s/with%20space%3F.txt?token="))
        #expect(abs(signed.expiresAt.timeIntervalSince(before) - 600) < 5)
        let fetched = try await curlFetch(signed.url)
        #expect(fetched.status == 200)
        #expect(fetched.body == "signed!")
    }

    @Test func copyMoveAndBuckets() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        _ = try await h.store.put(
            key: "c/src",
            fromFile: try h.directory.write("s", [1, 2, 3, 4]),
            contentType: "x/y",
            upsert: false,
            progress: nil
        )
        try await h.store.copy(from: "c/src", to: "c/copy")
        try await h.store.move(from: "c/src", to: "c/moved")
        #expect(try await h.store.get(key: "c/copy", range: nil) == [1, 2, 3, 4])
        #expect(try await h.store.get(key: "c/moved", range: nil) == [1, 2, 3, 4])
        #expect(try await h.store.exists(key: "c/src") == false)

        #expect(try await h.store.createBucketIfMissing(name: "codebegen-projects", public: false) == false)
        #expect(try await h.store.createBucketIfMissing(name: "second", public: false))
        #expect(try await h.store.createBucketIfMissing(name: "second", public: false) == false)
        #expect(try await h.store.listBuckets() == ["codebegen-projects", "second"])
        let other = h.client(bucket: "second")
        _ = try await other.put(
            key: "o",
            fromFile: try h.directory.write("o", [5]),
            contentType: "x/y",
            upsert: false,
            progress: nil
        )
        #expect(try await other.get(key: "o", range: nil) == [5])
        #expect(try await h.store.exists(key: "o") == false)
    }

    @Test func restartedServerServesWhatItAcknowledged() async throws {
        let dir = try TemporaryDirectory()
        let h = try await Harness.start(directory: dir)
        let bytes = patternBytes(70_000, seed: 3)
        _ = try await h.store.put(
            key: "durable/x",
            fromFile: try dir.write("s", bytes),
            contentType: "x/y",
            upsert: false,
            progress: nil
        )
        let key = h.server.serviceKey
        await h.stop()
        // Same data directory, no key given: the generated key was kept, and the object is there.
        let h2 = try await Harness.start(directory: dir)
        defer { Task { await h2.stop() } }
        #expect(h2.server.serviceKey == key)
        #expect(try await h2.store.get(key: "durable/x", range: nil) == bytes)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/server/service_key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let secret = try FileManager.default.attributesOfItem(atPath: dir.path + "/server/jwt_secret")
        #expect((secret[.posixPermissions] as? Int) == 0o600)
    }

    @Test func concurrentCallsFromManyTasks() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let store = h.store
        let dir = h.directory
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 {
                group.addTask {
                    let bytes = patternBytes(20_000 + i, seed: UInt64(i))
                    let src = try dir.write("c\(i)", bytes)
                    _ = try await store.put(
                        key: "par/\(i)",
                        fromFile: src,
                        contentType: "x/y",
                        upsert: false,
                        progress: nil
                    )
                    let back = try await store.get(key: "par/\(i)", range: nil)
                    #expect(back == bytes)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.list(prefix: "par", limit: 100, offset: 0).count == 16)
    }
}

/// Progress callbacks arrive on libcurl's thread; `lock` protects `values`.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [(Int64, Int64)] = []

    func record(_ a: Int64, _ b: Int64) {
        lock.lock()
        values.append((a, b))
        lock.unlock()
    }

    var last: (Int64, Int64)? {
        lock.lock()
        defer { lock.unlock() }
        return values.last
    }
}
