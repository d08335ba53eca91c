// The service key never shows up in what the client logs, in its errors, or in descriptions.
import Foundation
import Logging
import SupabaseStorage
import Testing

@Suite struct KeyRedactionTests {
    @Test func keyAppearsInNoLogLineErrorOrDescription() async throws {
        let key = "super-secret-service-key-\(UUID().uuidString)"
        let storage = CollectingLogHandler.Storage()
        var logger = Logger(label: "redaction") { _ in CollectingLogHandler(storage: storage) }
        logger.logLevel = .trace
        let h = try await Harness.start(serviceKey: key, logger: logger)
        defer { Task { await h.stop() } }
        let wrong = h.client(key: key + "-wrong", logger: logger)
        var texts: [String] = []
        func collect(_ body: () async throws -> Void) async {
            do { try await body() } catch {
                texts += ["\(error)", String(describing: error), String(reflecting: error)]
            }
        }
        let src = try h.directory.write("s", [1, 2, 3])
        // Successful calls and every kind of failure, through both clients.
        await collect {
            _ = try await h.store.put(key: "a", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        await collect {
            _ = try await h.store.put(key: "a", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        await collect { _ = try await h.store.get(key: "missing", range: nil) }
        await collect { _ = try await h.store.sign(key: "a", expiresIn: 10) }
        await collect { _ = try await h.store.list(prefix: "", limit: 5, offset: 0) }
        await collect { _ = try await h.store.get(key: "a", range: .closed(100, 200)) }
        await collect {
            _ = try await wrong.put(key: "b", fromFile: src, contentType: "x/y", upsert: false, progress: nil)
        }
        await collect { _ = try await wrong.info(key: "a") }
        await collect { try await wrong.delete(key: "a") }
        await collect { _ = try await wrong.createBucketIfMissing(name: "x", public: false) }
        let unreachable = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: "http://127.0.0.1:1", serviceKey: key),
            logger: logger
        )
        await collect { _ = try await unreachable.info(key: "a") }
        texts += [
            "\(h.store.configuration)", String(reflecting: h.store.configuration), "\(unreachable.configuration)",
            "\(h.server.configuration)",
        ]
        let lines = storage.all
        #expect(lines.count >= 10, "the client logged its requests")
        #expect(texts.count >= 8 + 4, "the failing calls threw")
        for text in lines + texts {
            #expect(!text.contains(key), "key leaked in: \(text)")
        }
        #expect("\(h.store.configuration)".contains("<redacted>"))
    }
}
