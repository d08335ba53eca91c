// Connection settings for SupabaseObjectStore; its descriptions never show the key.

/// Where and how to reach a Supabase project's storage.
public struct SupabaseConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Project URL, e.g. `https://abc.supabase.co` or `http://127.0.0.1:54321`. `/storage/v1` is appended.
    public var url: String
    /// The service-role key, sent as `apikey` and `Authorization: Bearer`. Never logged or printed.
    public var serviceKey: String
    /// The bucket every key lives in.
    public var bucket: String
    /// Seconds allowed for the TCP/TLS connect.
    public var connectTimeoutSeconds: Int
    /// A transfer slower than `lowSpeedLimitBytes` per second for `lowSpeedTimeSeconds` is aborted (transient).
    public var lowSpeedLimitBytes: Int
    public var lowSpeedTimeSeconds: Int

    public init(
        url: String,
        serviceKey: String,
        bucket: String = "codebegen-projects",
        connectTimeoutSeconds: Int = 10,
        lowSpeedLimitBytes: Int = 1,
        lowSpeedTimeSeconds: Int = 30
    ) {
        self.url = url
        self.serviceKey = serviceKey
        self.bucket = bucket
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.lowSpeedLimitBytes = lowSpeedLimitBytes
        self.lowSpeedTimeSeconds = lowSpeedTimeSeconds
    }

    /// `<url>/storage/v1`, without a trailing slash.
    var storageBase: String {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/storage/v1"
    }

    public var description: String {
        "SupabaseConfiguration(url: \(url), bucket: \(bucket), serviceKey: <redacted>)"
    }

    public var debugDescription: String { description }
}
