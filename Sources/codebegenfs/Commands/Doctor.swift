// `codebegenfs doctor`: checks the configuration and the remote step by step (connectivity,
// auth, bucket, an upload/sign/download/delete round trip) and prints PASS or FAIL for each.
import ArgumentParser
import Foundation
import GenerationStore
import Logging
import StorageServer
import SupabaseStorage

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check configuration and storage, PASS/FAIL each.")

    @Option(help: "The data directory (as for mount).")
    var data: String?

    func run() throws {
        var failures = 0
        func report(_ check: String, _ result: Result<String, any Error>) {
            switch result {
            case .success(let detail): print("PASS  \(check.padding(toLength: 14, withPad: " ", startingAt: 0)) \(detail)")
            case .failure(let error):
                failures += 1
                print("FAIL  \(check.padding(toLength: 14, withPad: " ", startingAt: 0)) \(error)")
            }
        }
        let configuration: Configuration
        do {
            configuration = try resolveConfiguration(dataFlag: data)
            report("configuration", .success("\(configuration)"))
        } catch {
            report("configuration", .failure(error))
            throw ExitCode.failure
        }
        guard configuration.useCloudStorage else {
            print("SKIP  remote checks: USE_CLOUD_STORAGE=false")
            return
        }
        var logger = Logger(label: "codebegenfs.doctor")
        logger.logLevel = .critical
        // Without SUPABASE_URL, check the bundled server's code path on a scratch directory
        // (the mount's own server may be running on the data directory).
        var server: StorageServer?
        let url: String
        let key: String
        if let supabaseURL = configuration.supabaseURL, let serviceKey = configuration.serviceKey {
            (url, key) = (supabaseURL, serviceKey)
        } else {
            let scratch = NSTemporaryDirectory() + "codebegenfs-doctor-\(UUID().uuidString)"
            let bundled = try StorageServer(
                configuration: StorageServerConfiguration(dataDirectory: scratch, bucket: configuration.bucket), logger: logger)
            let port = try BlockingCall.run { try await bundled.start() }.get()
            (url, key, server) = ("http://127.0.0.1:\(port)", bundled.serviceKey, bundled)
        }
        defer {
            if let server {
                _ = BlockingCall.run { await server.stop() }
                try? FileManager.default.removeItem(atPath: server.configuration.dataDirectory)
            }
        }
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: url, serviceKey: key, bucket: configuration.bucket), logger: logger)
        let buckets = BlockingCall.run { try await store.listBuckets() }
        switch buckets {
        case .success(let names):
            report("connectivity", .success("\(url) answers"))
            report("auth", .success("the service key lists \(names.count) buckets"))
        case .failure(let error as StorageError):
            if case .unauthorized = error {
                report("connectivity", .success("\(url) answers"))
                report("auth", .failure(error))
            } else {
                report("connectivity", .failure(error))
                report("auth", .failure(CommandFailure("not checked: no connection")))
            }
        case .failure(let error):
            report("connectivity", .failure(error))
        }
        let bucket = configuration.bucket
        report(
            "bucket",
            BlockingCall.run { try await store.createBucketIfMissing(name: bucket, public: false) }
                .map { $0 ? "created \(bucket) (private)" : "\(bucket) exists" })
        report("round trip", BlockingCall.run { try await Self.roundTrip(store) })
        printSizeLimit(store, bucket: bucket)
        if failures > 0 { throw ExitCode.failure }
    }

    /// The largest archive the bucket takes: its `file_size_limit` and the server's global limit
    /// (resumable uploads' `Tus-Max-Size`). Information, not a check: a version over it fails its
    /// upload with the same numbers.
    private func printSizeLimit(_ store: SupabaseObjectStore, bucket: String) {
        let label = "size limit".padding(toLength: 14, withPad: " ", startingAt: 0)
        let bucketLimit = BlockingCall.run { try await store.bucketFileSizeLimit() }
        let globalLimit = try? BlockingCall.run { try await store.globalSizeLimit() }.get()
        switch bucketLimit {
        case .success(let limit):
            let global = globalLimit.flatMap { $0 }.map { "; the server's global limit \($0) bytes" } ?? ""
            print("INFO  \(label) bucket \(bucket) file_size_limit: \(limit.map { "\($0) bytes" } ?? "none")\(global)")
        case .failure(let error):
            print("INFO  \(label) cannot tell: the bucket's file_size_limit could not be read (\(error))")
        }
    }

    /// Uploads 64 KiB, signs it, downloads it, compares, deletes it.
    private static func roundTrip(_ store: SupabaseObjectStore) async throws -> String {
        let local = NSTemporaryDirectory() + "codebegenfs-doctor-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: local) }
        let bytes = (0..<65_536).map { _ in UInt8.random(in: 0...255) }
        FileManager.default.createFile(atPath: local, contents: Data(bytes))
        let key = "codebegenfs-doctor/\(UUID().uuidString).bin"
        _ = try await store.put(key: key, fromFile: local, contentType: "application/octet-stream", upsert: false, progress: nil)
        let signed = try await store.sign(key: key, expiresIn: 60)
        let back = try await store.get(key: key, range: nil)
        try await store.delete(key: key)
        guard back == bytes else { throw CommandFailure("downloaded bytes differ from the uploaded ones") }
        return "uploaded, signed (\(signed.url.prefix(while: { $0 != "?" }))), downloaded and deleted 64 KiB"
    }
}
