// Where a mount uploads (DESIGN §7): nowhere with USE_CLOUD_STORAGE=false; the Supabase project
// of SUPABASE_URL; else the bundled Supabase-compatible server, started in this process on a
// free loopback port and storing under the data directory. Nothing here waits for the bucket.
import Foundation
import GenerationStore
import Logging
import StorageServer
import SupabaseStorage

struct Remote {
    let connection: RemoteConnection
    /// The in-process server, when no SUPABASE_URL is set.
    let server: StorageServer?

    static func connect(_ configuration: Configuration, dataDirectory: DataDirectory, logger: Logger) throws -> Remote? {
        guard configuration.useCloudStorage else {
            logger.info("USE_CLOUD_STORAGE=false: nothing is uploaded; download URLs are local")
            return nil
        }
        var server: StorageServer?
        let url: String
        let key: String
        if let supabaseURL = configuration.supabaseURL, let serviceKey = configuration.serviceKey {
            url = supabaseURL
            key = serviceKey
        } else {
            let bundled = try StorageServer(
                configuration: StorageServerConfiguration(
                    dataDirectory: dataDirectory.root.appending("storage").string, bucket: configuration.bucket),
                logger: logger)
            let port = try BlockingCall.run { try await bundled.start() }.get()
            url = "http://127.0.0.1:\(port)"
            key = bundled.serviceKey
            server = bundled
            logger.info("no SUPABASE_URL: bundled storage server at \(url)")
        }
        let store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(url: url, serviceKey: key, bucket: configuration.bucket), logger: logger)
        // The bucket is checked in the background (RemoteConnection): a mount starts while storage is down.
        let connection = RemoteConnection(store: store, url: url, bucket: configuration.bucket, logger: logger)
        return Remote(connection: connection, server: server)
    }

    func stop() {
        guard let server else { return }
        _ = BlockingCall.run { await server.stop() }
    }
}
