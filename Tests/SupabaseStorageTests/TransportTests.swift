// Transport behaviour: keep-alive reuse, timeouts and injected latency, where the server's secrets come from.
import Foundation
import SupabaseStorage
import Testing

@testable import StorageServer
@testable import SupabaseStorage

@Suite struct TransportTests {
    @Test func sequentialRequestsReuseOneConnection() async throws {
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let src = try h.directory.write("s", patternBytes(10_000))
        for i in 0..<20 {
            _ = try await h.store.put(
                key: "reuse/\(i)",
                fromFile: src,
                contentType: "x/y",
                upsert: false,
                progress: nil
            )
            _ = try await h.store.get(key: "reuse/\(i)", range: .closed(0, 9))
        }
        // 40 requests; a refused one (below) must not cost a new connection either.
        _ = await storageError { _ = try await h.store.info(key: "reuse/none") }
        #expect(h.store.connectionsOpened == 1)
    }

    @Test func stalledServerHitsTheLowSpeedTimeoutAsTransient() async throws {
        let dir = try TemporaryDirectory()
        let server = try StorageServer(
            configuration: StorageServerConfiguration(dataDirectory: dir.path, faultLatencyMs: 60_000)
        )
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(
                url: "http://127.0.0.1:\(port)",
                serviceKey: server.serviceKey,
                lowSpeedLimitBytes: 1,
                lowSpeedTimeSeconds: 1
            )
        )
        let started = ContinuousClock.now
        let e = await storageError { _ = try await store.info(key: "slow") }
        #expect(e?.isTransient == true)
        // The server answers after 60 s; the 1 s low-speed limit gives up long before. The bound is
        // loose because the clock also runs while the request waits behind the other suites'
        // transfers (15 s once in CI, against a server that answered after 10 s then).
        #expect(ContinuousClock.now - started < .seconds(30), "gave up before the server answered")
        // Non-object routes carry no injected latency.
        #expect(try await store.createBucketIfMissing(name: "codebegen-projects") == false)
    }

    @Test func injectedLatencyDelaysObjectRequests() async throws {
        let dir = try TemporaryDirectory()
        let server = try StorageServer(
            configuration: StorageServerConfiguration(dataDirectory: dir.path, faultLatencyMs: 300)
        )
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: "http://127.0.0.1:\(port)", serviceKey: server.serviceKey)
        )
        let started = ContinuousClock.now
        #expect(try await store.exists(key: "x") == false)
        #expect(ContinuousClock.now - started >= .milliseconds(300))
    }

    @Test func secretsComeFromConfigurationThenEnvironmentThenFiles() throws {
        let dir = try TemporaryDirectory()
        var config = StorageServerConfiguration(dataDirectory: dir.path)
        let env = ["SUPABASE_SERVICE_KEY": "env-key", "STORAGE_JWT_SECRET": "env-secret"]
        let fromEnv = try Secrets.load(configuration: config, environment: env)
        #expect(fromEnv.serviceKey == "env-key" && fromEnv.jwtSecret == "env-secret")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/service_key"))

        config.serviceKey = "config-key"
        #expect(try Secrets.load(configuration: config, environment: env).serviceKey == "config-key")

        config.serviceKey = nil
        let generated = try Secrets.load(configuration: config, environment: [:])
        let again = try Secrets.load(configuration: config, environment: [:])
        #expect(generated.serviceKey == again.serviceKey && generated.jwtSecret == again.jwtSecret)
        // The generated key is a service-role JWT signed with the generated secret.
        let claims = try HS256(secret: generated.jwtSecret).verify(generated.serviceKey)
        #expect(claims["role"] as? String == "service_role")
        for name in ["service_key", "jwt_secret"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.path + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
    }
}

@Suite struct CancellationTests {
    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let dir = try TemporaryDirectory()
        let server = try StorageServer(
            configuration: StorageServerConfiguration(dataDirectory: dir.path, faultLatencyMs: 60_000)
        )
        let port = try await server.start()
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: "http://127.0.0.1:\(port)", serviceKey: server.serviceKey)
        )
        let started = ContinuousClock.now
        let task = Task { try await store.info(key: "slow") }
        // Cancel while the server is still holding the request (it answers after 60 s; the bound
        // below leaves room for a machine loaded by the suites running beside this one).
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let result = await task.result
        #expect(throws: StorageError.cancelled) { try result.get() }
        #expect(ContinuousClock.now - started < .seconds(30), "the transfer was not aborted")
        let already = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await store.exists(key: "x")
        }
        await #expect(throws: StorageError.cancelled) { try await already.value }
        await server.stop()
    }
}
