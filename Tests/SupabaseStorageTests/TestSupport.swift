// Shared test fixtures: a temporary data directory, an in-process server with a client, log capture, helpers.
import Foundation
import Logging
import StorageServer
import SupabaseStorage
import Testing

/// A directory under /tmp removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/codebegenfs-storage-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}

/// A running server on a free loopback port, and a client configured for it.
struct Harness {
    let directory: TemporaryDirectory
    let server: StorageServer
    let port: Int
    let store: SupabaseObjectStore
    var baseURL: String { "http://127.0.0.1:\(port)" }
    var storageURL: String { baseURL + "/storage/v1" }

    /// A server on `port` (0: a free one) over `directory`'s data (a new one when nil).
    static func start(
        serviceKey: String? = nil,
        port: Int = 0,
        fileSizeLimit: Int64? = nil,
        faultRate: Double = 0,
        faultResetRate: Double = 0,
        directory: TemporaryDirectory? = nil,
        accessLogPath: String? = nil,
        resumableUploadExpiry: Duration = .seconds(24 * 3600),
        resumableLockDrainTimeout: Duration = .seconds(3),
        logger: Logger = Logger(label: "test.client")
    ) async throws -> Harness {
        let dir = try directory ?? TemporaryDirectory()
        let server = try StorageServer(
            configuration: StorageServerConfiguration(
                port: port,
                dataDirectory: dir.path + "/server",
                serviceKey: serviceKey,
                fileSizeLimit: fileSizeLimit,
                faultRate: faultRate,
                faultResetRate: faultResetRate,
                accessLogPath: accessLogPath,
                resumableUploadExpiry: resumableUploadExpiry,
                resumableLockDrainTimeout: resumableLockDrainTimeout
            )
        )
        let port = try await server.start()
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: "http://127.0.0.1:\(port)", serviceKey: server.serviceKey),
            logger: logger
        )
        return Harness(directory: dir, server: server, port: port, store: store)
    }

    /// A client for the same server with another key or bucket.
    func client(key: String? = nil, bucket: String = "codebegen-projects", logger: Logger = Logger(label: "t"))
        -> SupabaseObjectStore
    {
        SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: baseURL, serviceKey: key ?? server.serviceKey, bucket: bucket),
            logger: logger
        )
    }

    func stop() async { await server.stop() }
}

/// Runs `body` and returns the `StorageError` it threw; records an issue if it threw nothing or something else.
func storageError(
    _ body: () async throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> StorageError? {
    do {
        try await body()
        Issue.record("expected a StorageError, got success", sourceLocation: sourceLocation)
    } catch let error as StorageError {
        return error
    } catch {
        Issue.record("expected a StorageError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Deterministic pseudo-random bytes.
func patternBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// Runs blocking work on a thread of its own, keeping the cooperative pool (which the in-process server uses) free.
func blockingIO<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Result of running a command line tool.
struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a tool on a thread of its own, so waiting for it never blocks the cooperative pool the server also uses.
func runTool(_ path: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> ToolResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runToolBlocking(path, arguments, environment: environment) }) }
            .start()
    }
}

private func runToolBlocking(_ path: String, _ arguments: [String], environment: [String: String]?) throws
    -> ToolResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a chatty tool cannot block on a full pipe.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self)
    )
}

/// `curl` a URL; returns the HTTP status and the body.
func curlFetch(_ url: String, extraArgs: [String] = []) async throws -> (status: Int, body: String) {
    let r = try await runTool("/usr/bin/curl", ["-s", "-g", "-w", "\n%{http_code}"] + extraArgs + [url])
    let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    let status = Int(lines.last ?? "") ?? -1
    return (status, lines.dropLast().joined(separator: "\n"))
}

/// A LogHandler that keeps every rendered line (message and metadata) in memory.
struct CollectingLogHandler: LogHandler {
    /// `lock` protects `storage`.
    final class Storage: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func append(_ s: String) {
            lock.lock()
            lines.append(s)
            lock.unlock()
        }
        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return lines
        }
    }

    let storage: Storage
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(storage: Storage) { self.storage = storage }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        storage.append("\(event.level) \(event.message) \(all) \(event.error.map { "\($0)" } ?? "")")
    }
}
