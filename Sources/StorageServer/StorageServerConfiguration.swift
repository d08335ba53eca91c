// Settings of the bundled Supabase-compatible storage server; its description hides the secrets.

/// Settings of ``StorageServer``.
public struct StorageServerConfiguration: Sendable, CustomStringConvertible {
    /// Address to bind; loopback by default.
    public var host: String
    /// Port to bind; 0 picks a free one (``StorageServer/start()`` returns it).
    public var port: Int
    /// Where objects, the SQLite metadata and the generated secrets live (created 0700).
    public var dataDirectory: String
    /// Bucket created at start when missing.
    public var bucket: String
    /// The accepted service key. nil: `SUPABASE_SERVICE_KEY` from the environment, else a key generated
    /// once and kept 0600 in the data directory.
    public var serviceKey: String?
    /// HS256 secret for signed-URL tokens. nil: `STORAGE_JWT_SECRET`, else generated once and kept 0600.
    public var jwtSecret: String?
    /// Global upload limit in bytes (nil: none). Buckets may set a lower one.
    public var fileSizeLimit: Int64?
    /// Fraction (0...1) of object and resumable-upload requests answered with a 503 Supabase error body.
    public var faultRate: Double
    /// Extra delay added to every object and resumable-upload request, in milliseconds.
    public var faultLatencyMs: Int
    /// Fraction (0...1) of object and resumable-upload requests whose connection is dropped: mid-response for
    /// object routes; for resumable uploads either partway through the request body (after storing part of it)
    /// or after the work is done, before the answer.
    public var faultResetRate: Double
    /// Every Nth PATCH of a resumable upload has its body cut halfway (0: none): resets a test can count on.
    public var faultCutEveryPatch: Int
    /// How long an unfinished resumable (TUS) upload stays usable after its creation; then it expires (HEAD and
    /// PATCH answer 410) and its data is removed. Supabase documents 24 hours for the hosted service (the
    /// self-hosted server's `TUS_URL_EXPIRY_MS` default is 1 hour); the documented hosted value is the default.
    public var resumableUploadExpiry: Duration
    /// How long a request holding a resumable upload keeps taking bytes after another request asked for the
    /// upload (@tus/server's `lockDrainTimeout`, 3 s); the asker gives up after 5 s.
    public var resumableLockDrainTimeout: Duration
    /// File that receives one JSON line per request (method, path without query, range, status, body bytes).
    /// nil: no access log.
    public var accessLogPath: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        dataDirectory: String,
        bucket: String = "codebegen-projects",
        serviceKey: String? = nil,
        jwtSecret: String? = nil,
        fileSizeLimit: Int64? = nil,
        faultRate: Double = 0,
        faultLatencyMs: Int = 0,
        faultResetRate: Double = 0,
        faultCutEveryPatch: Int = 0,
        accessLogPath: String? = nil,
        resumableUploadExpiry: Duration = .seconds(24 * 3600),
        resumableLockDrainTimeout: Duration = .seconds(3)
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.bucket = bucket
        self.serviceKey = serviceKey
        self.jwtSecret = jwtSecret
        self.fileSizeLimit = fileSizeLimit
        self.faultRate = faultRate
        self.faultLatencyMs = faultLatencyMs
        self.faultResetRate = faultResetRate
        self.faultCutEveryPatch = faultCutEveryPatch
        self.accessLogPath = accessLogPath
        self.resumableUploadExpiry = resumableUploadExpiry
        self.resumableLockDrainTimeout = resumableLockDrainTimeout
    }

    public var description: String {
        "StorageServerConfiguration(host: \(host), port: \(port), data: \(dataDirectory), bucket: \(bucket), "
            + "access log: \(accessLogPath ?? "none"), "
            + "faults: \(faultRate)/\(faultLatencyMs)ms/\(faultResetRate)/\(faultCutEveryPatch), secrets: <redacted>)"
    }
}
