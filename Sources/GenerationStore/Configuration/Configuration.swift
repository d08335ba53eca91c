// The settings of DESIGN §7, resolved from the environment, a `.env` file and command-line
// flags (flags win, then the environment, then `.env`). The service key is never printed.
import Foundation

public struct Configuration: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var useCloudStorage = true
    public var supabaseURL: String?
    public var serviceKey: String?
    public var bucket = "codebegen-projects"
    public var dataDirectory: String
    public var cacheTTLHours: Double = 24
    public var cacheMaxBytes: Int64 = 10 << 30
    public var autoCleanupEnabled = true
    public var signedURLTTL = 3600
    public var writeBackDelay: Double = 2
    /// Seconds before a directory's listing in the bucket is asked for again (other mounts' versions).
    public var remoteListInterval: Double = 30
    /// Seconds a batch of creates may stay uncommitted in the catalog (the create journal keeps
    /// them across a crash meanwhile); larger batches make tree copies cheaper.
    public var catalogCommitInterval: Double = 0.1
    /// Archives larger than this go up as resumable (TUS) uploads in 6 MiB chunks; smaller ones in
    /// one request. Supabase advises TUS above 6 MB; a very large value keeps every archive on the
    /// one-request path (a server without the resumable endpoint, or a baseline to compare with).
    public var resumableUploadMinBytes: Int64 = 6 << 20
    /// Microseconds the thread reading FUSE requests keeps reading after one before it sleeps:
    /// a busy client's next request then finds it awake (a wake-up costs more than most requests
    /// on a virtual machine whose idle CPUs halt). 0 sleeps at once.
    public var requestSpinMicroseconds: Double = 100

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    public var description: String {
        "Configuration(data: \(dataDirectory), cloud: \(useCloudStorage), url: \(supabaseURL ?? "bundled server"), "
            + "bucket: \(bucket), key: \(serviceKey == nil ? "unset" : "set (hidden)"), "
            + "writeBackDelay: \(writeBackDelay)s, cacheTTL: \(cacheTTLHours)h, cacheMax: \(cacheMaxBytes))"
    }

    public var debugDescription: String { description }
    /// dump() and debuggers show the description, never the fields (the key among them).
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// Resolves the settings. `environment` is the process environment; `dotenv` the text of
    /// `.env` (nil when there is none); `dataDirectoryFlag` the `--data` flag.
    public static func resolve(
        environment: [String: String], dotenv: String?, dataDirectoryFlag: String?
    ) throws(ConfigurationError) -> Configuration {
        var values = dotenv.map(parseDotenv) ?? [:]
        values.merge(environment) { _, fromEnvironment in fromEnvironment }

        let home = values["HOME"] ?? NSHomeDirectory()
        var config = Configuration(
            dataDirectory: dataDirectoryFlag ?? values["CACHE_PATH"] ?? "\(home)/.local/share/codebegenfs")
        if let text = values["USE_CLOUD_STORAGE"] { config.useCloudStorage = try parseBool(text, "USE_CLOUD_STORAGE") }
        if let text = values["AUTO_CLEANUP_ENABLED"] {
            config.autoCleanupEnabled = try parseBool(text, "AUTO_CLEANUP_ENABLED")
        }
        config.supabaseURL = values["SUPABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        config.serviceKey = values["SUPABASE_SERVICE_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if let bucket = values["SUPABASE_BUCKET"], !bucket.isEmpty { config.bucket = bucket }
        if let text = values["CACHE_TTL_HOURS"] { config.cacheTTLHours = try parseNumber(text, "CACHE_TTL_HOURS") }
        if let text = values["CACHE_MAX_BYTES"] {
            config.cacheMaxBytes = Int64(try parseNumber(text, "CACHE_MAX_BYTES"))
        }
        if let text = values["SIGNED_URL_TTL"] { config.signedURLTTL = Int(try parseNumber(text, "SIGNED_URL_TTL")) }
        if let text = values["WRITE_BACK_DELAY"] { config.writeBackDelay = try parseNumber(text, "WRITE_BACK_DELAY") }
        if let text = values["REMOTE_LIST_INTERVAL"] {
            config.remoteListInterval = try parseNumber(text, "REMOTE_LIST_INTERVAL")
        }
        if let text = values["CATALOG_COMMIT_INTERVAL"] {
            config.catalogCommitInterval = try parseNumber(text, "CATALOG_COMMIT_INTERVAL")
        }
        if let text = values["RESUMABLE_UPLOAD_MIN_BYTES"] {
            config.resumableUploadMinBytes = Int64(try parseNumber(text, "RESUMABLE_UPLOAD_MIN_BYTES"))
        }
        if let text = values["REQUEST_SPIN_MICROSECONDS"] {
            config.requestSpinMicroseconds = try parseNumber(text, "REQUEST_SPIN_MICROSECONDS")
            guard config.requestSpinMicroseconds <= 1_000_000 else {
                throw ConfigurationError("REQUEST_SPIN_MICROSECONDS must be at most 1000000 (one second), not \"\(text)\"")
            }
        }
        if config.supabaseURL != nil, config.serviceKey == nil, config.useCloudStorage {
            throw ConfigurationError("SUPABASE_URL is set but SUPABASE_SERVICE_KEY is not (set it in the environment or .env)")
        }
        return config
    }

    /// `KEY=value` lines; `#` comments, blank lines, `export ` prefixes and matching quotes are allowed.
    public static func parseDotenv(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst("export ".count)) }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
    }

    private static func parseBool(_ text: String, _ name: String) throws(ConfigurationError) -> Bool {
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("\(name) must be true or false, not \"\(text)\"")
        }
    }

    private static func parseNumber(_ text: String, _ name: String) throws(ConfigurationError) -> Double {
        guard let value = Double(text), value >= 0, value.isFinite else {
            throw ConfigurationError("\(name) must be a non-negative number, not \"\(text)\"")
        }
        return value
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
