// The bundled Supabase-compatible storage server: start in-process on a port, stop, or run until a signal.
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// A Supabase Storage look-alike serving `/storage/v1` from a data directory.
///
/// ```swift
/// let server = try StorageServer(configuration: .init(dataDirectory: dir))
/// let port = try await server.start()      // http://127.0.0.1:<port>, key: server.serviceKey
/// await server.stop()
/// ```
public actor StorageServer {
    public nonisolated let configuration: StorageServerConfiguration
    /// The accepted service key (configured, from SUPABASE_SERVICE_KEY, or generated and kept in the data directory).
    public nonisolated let serviceKey: String
    private let secrets: Secrets
    private let accessLog: AccessLog?
    private let logger: Logger
    private var runTask: Task<Void, any Error>?
    private var serviceGroup: ServiceGroup?
    private var boundPort: Int?

    /// Creates the data directory (0700), resolves the secrets and opens the access log; nothing listens yet.
    public init(configuration: StorageServerConfiguration, logger: Logger = Logger(label: "codebegenfs.storage-server"))
        throws
    {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: configuration.dataDirectory, isDirectory: &isDir) {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        self.configuration = configuration
        self.logger = logger
        self.secrets = try Secrets.load(configuration: configuration)
        self.serviceKey = secrets.serviceKey
        self.accessLog = try configuration.accessLogPath.map { path throws(AccessLogError) in
            try AccessLog(path: path)
        }
    }

    /// The port while running.
    public var port: Int? { boundPort }

    /// `http://<host>:<port>` while running: the SUPABASE_URL for clients.
    public var url: String? { boundPort.map { "http://\(configuration.host):\($0)" } }

    /// The HTTP/1.1 server as a Service. Built on HummingbirdCore rather than `Application` so that it can
    /// answer `Expect: 100-continue` (which curl sends before large bodies) before reading the body.
    private func makeServer(onRunning: @escaping @Sendable (Int) -> Void) async throws -> any Service {
        let service = try StorageService(configuration: configuration, secrets: secrets, logger: logger)
        try await service.ensureDefaultBucket()
        try await service.resumable.removeStale(service.metadata)
        let responder = StorageResponder(service: service)
        let logger = self.logger
        return try HTTPServerBuilder.http1().buildServer(
            configuration: ServerConfiguration(address: .hostname(configuration.host, port: configuration.port)),
            eventLoopGroup: EventLoopGroupProvider.singleton.eventLoopGroup,
            logger: logger,
            responder: { [accessLog] request, responseWriter, channel in
                if request.headers[.expect]?.lowercased() == "100-continue" {
                    try await responseWriter.writeInformationalHead(HTTPResponse(status: .continue))
                }
                let received = ByteCounter()
                let request = accessLog == nil ? request : request.countingBody(into: received)
                let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch {
                    // The connection is dropped without an answer (status 0 in the log); the body bytes read count.
                    accessLog?.append(
                        AccessLog.Entry(
                            method: request.method.rawValue,
                            path: request.uri.path,
                            range: request.headers[.range],
                            status: 0,
                            bytesSent: 0,
                            bytesReceived: received.value
                        )
                    )
                    throw error
                }
                response.headers[.date] = Timestamp.http(Date())
                guard let accessLog else {
                    return try await responseWriter.write(response: response.head, body: response.body)
                }
                let sent = ByteCounter()
                let entry = { [status = response.status.code] in
                    AccessLog.Entry(
                        method: request.method.rawValue,
                        path: request.uri.path,
                        range: request.headers[.range],
                        status: status,
                        bytesSent: sent.value,
                        bytesReceived: received.value
                    )
                }
                do {
                    let counted = response.countingBody(into: sent)
                    try await responseWriter.write(response: counted.head, body: counted.body)
                } catch {
                    accessLog.append(entry())
                    throw error
                }
                accessLog.append(entry())
            },
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) }
        )
    }

    /// Starts listening; returns the bound port (a free one when the configured port is 0).
    public func start() async throws -> Int {
        if let boundPort { return boundPort }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = try await makeServer { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [], logger: logger)
        )
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        runTask = task
        serviceGroup = group
        for await port in ports {
            boundPort = port
            logger.info("storage server listening on \(configuration.host):\(port)")
            return port
        }
        // The stream ended without a port: the server failed to start.
        runTask = nil
        try await task.value
        throw StorageServerError.didNotStart
    }

    /// Stops listening and waits for the server to finish.
    public func stop() async {
        guard let task = runTask else { return }
        // Graceful: the listener closes, requests in flight finish, idle keep-alive connections are closed.
        await serviceGroup?.triggerGracefulShutdown()
        _ = try? await task.value
        runTask = nil
        serviceGroup = nil
        boundPort = nil
    }

    /// Serves until SIGINT or SIGTERM (for `codebegenfs serve-storage`).
    public func run() async throws {
        let server = try await makeServer { [logger, configuration] port in
            logger.info("storage server listening on \(configuration.host):\(port)")
        }
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

public enum StorageServerError: Error, CustomStringConvertible {
    case didNotStart

    public var description: String { "the storage server stopped before it was listening" }
}
