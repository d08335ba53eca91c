// `codebegenfs serve-storage`: runs the bundled Supabase-compatible storage server until SIGINT/SIGTERM.
import ArgumentParser
import Foundation
import Logging
import StorageServer

struct ServeStorage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-storage",
        abstract: "Serve the Supabase Storage API on loopback from a local data directory.",
        discussion: """
            The service key is SUPABASE_SERVICE_KEY, else one generated at first start and kept in \
            <data>/service_key (0600). Signed URLs are signed with STORAGE_JWT_SECRET, else <data>/jwt_secret.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 54321

    @Option(name: .customLong("data"), help: "Data directory (objects, metadata, secrets).")
    var dataDirectory = FileManager.default.homeDirectoryForCurrentUser.path + "/.local/share/codebegenfs/storage"

    @Option(help: "Bucket created at start when missing.")
    var bucket = "codebegen-projects"

    @Option(
        name: .customLong("file-size-limit"),
        help: ArgumentHelp(
            "Global upload limit in bytes, for standard and resumable uploads (default: none).",
            valueName: "bytes"
        )
    )
    var fileSizeLimit: Int64?

    @Option(help: "Fraction of object requests answered with 503 (testing).")
    var faultRate = 0.0

    @Option(help: "Delay added to every object request, in milliseconds (testing).")
    var faultLatencyMs = 0

    @Option(help: "Fraction of object requests whose connection is dropped (testing).")
    var faultResetRate = 0.0

    @Option(help: "Cut the body of every Nth resumable-upload PATCH halfway (testing; 0: never).")
    var faultCutEveryPatch = 0

    @Option(
        name: .customLong("access-log"),
        help: ArgumentHelp("Append one JSON line per request to this file.", valueName: "file")
    )
    var accessLog: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        for (name, rate) in [("--fault-rate", faultRate), ("--fault-reset-rate", faultResetRate)]
        where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
        guard faultLatencyMs >= 0 else { throw ValidationError("--fault-latency-ms must not be negative") }
        guard faultCutEveryPatch >= 0 else { throw ValidationError("--fault-cut-every-patch must not be negative") }
        if let fileSizeLimit, fileSizeLimit <= 0 { throw ValidationError("--file-size-limit must be positive") }
    }

    func run() async throws {
        let server = try StorageServer(
            configuration: StorageServerConfiguration(
                host: host,
                port: port,
                dataDirectory: dataDirectory,
                bucket: bucket,
                fileSizeLimit: fileSizeLimit,
                faultRate: faultRate,
                faultLatencyMs: faultLatencyMs,
                faultResetRate: faultResetRate,
                faultCutEveryPatch: faultCutEveryPatch,
                accessLogPath: accessLog
            )
        )
        try await server.run()
    }
}
