// The object-store protocol the rest of codebegenfs programs against, and its value types.
import Foundation

/// A byte range of an object, as sent in an HTTP `Range` header.
public enum ByteRange: Sendable, Hashable, CustomStringConvertible {
    /// Bytes `lowerBound...upperBound` (both inclusive).
    case closed(Int64, Int64)
    /// Every byte from the offset to the end.
    case from(Int64)
    /// The last `n` bytes.
    case suffix(Int64)

    /// The `Range` header value, for example `bytes=0-99`.
    public var headerValue: String {
        switch self {
        case .closed(let a, let b): return "bytes=\(a)-\(b)"
        case .from(let a): return "bytes=\(a)-"
        case .suffix(let n): return "bytes=-\(n)"
        }
    }

    public var description: String { headerValue }
}

/// What the store knows about one object.
public struct ObjectInfo: Sendable, Hashable {
    public var key: String
    public var size: Int64
    public var etag: String?
    public var contentType: String?
    public var lastModified: Date?
    public var createdAt: Date?

    public init(
        key: String,
        size: Int64,
        etag: String?,
        contentType: String?,
        lastModified: Date?,
        createdAt: Date?
    ) {
        self.key = key
        self.size = size
        self.etag = etag
        self.contentType = contentType
        self.lastModified = lastModified
        self.createdAt = createdAt
    }
}

/// One entry of a one-level listing: a file directly under the prefix, or a "folder".
public struct ListEntry: Sendable, Hashable {
    /// The name relative to the listed prefix (no `/`).
    public var name: String
    /// True for a folder (a common prefix); folders have no size or dates.
    public var isFolder: Bool
    public var size: Int64?
    public var etag: String?
    public var contentType: String?
    public var updatedAt: Date?

    public init(
        name: String,
        isFolder: Bool,
        size: Int64? = nil,
        etag: String? = nil,
        contentType: String? = nil,
        updatedAt: Date? = nil
    ) {
        self.name = name
        self.isFolder = isFolder
        self.size = size
        self.etag = etag
        self.contentType = contentType
        self.updatedAt = updatedAt
    }
}

/// A signed download URL and the moment it stops working.
public struct SignedURL: Sendable, Hashable {
    /// Absolute URL, percent-encoded, usable by any HTTP client without headers.
    public var url: String
    public var expiresAt: Date

    public init(url: String, expiresAt: Date) {
        self.url = url
        self.expiresAt = expiresAt
    }
}

/// Upload progress: `(bytesSent, totalBytes)`. Called on the transfer's thread, often; keep it cheap.
public typealias UploadProgress = @Sendable (_ bytesSent: Int64, _ total: Int64) -> Void

/// An object store holding one bucket's objects under `/`-separated keys.
///
/// Every method may throw ``StorageError``; ``StorageError/isTransient`` says whether a retry
/// (see ``RetryPolicy``) can help. Methods are safe to call from several tasks at once.
public protocol ObjectStore: Sendable {
    /// Uploads the file at `path` (streamed, constant memory) to `key`.
    /// Without `upsert`, an existing key fails with ``StorageError/conflict(_:)``.
    func put(
        key: String,
        fromFile path: String,
        contentType: String,
        upsert: Bool,
        progress: UploadProgress?
    ) async throws -> ObjectInfo

    /// Writes the object (or `range` of it) to the file at `path`, created or truncated. Returns the byte count.
    @discardableResult
    func get(key: String, range: ByteRange?, toFile path: String) async throws -> Int64

    /// Returns the object (or `range` of it) in memory. Meant for small reads.
    func get(key: String, range: ByteRange?) async throws -> [UInt8]

    /// Metadata of one object; ``StorageError/notFound(_:)`` when it does not exist.
    func info(key: String) async throws -> ObjectInfo

    /// Whether the object exists (a `HEAD` request).
    func exists(key: String) async throws -> Bool

    /// A signed download URL valid for `expiresIn` seconds.
    func sign(key: String, expiresIn: Int) async throws -> SignedURL

    /// One page of the one-level listing under `prefix` (treated as a folder), sorted by name.
    func list(prefix: String, limit: Int, offset: Int) async throws -> [ListEntry]

    /// Deletes one object; ``StorageError/notFound(_:)`` when it does not exist.
    func delete(key: String) async throws

    /// Deletes the exact keys given (missing ones are skipped); returns the keys actually deleted.
    @discardableResult
    func delete(keys: [String]) async throws -> [String]

    /// Creates the bucket unless it exists. Returns true when this call created it. A mount
    /// calls it first: its answer tells whether the storage is reachable and takes the key.
    @discardableResult
    func createBucketIfMissing(name: String, public isPublic: Bool) async throws -> Bool
}

extension ObjectStore {
    /// Every entry under `prefix`, fetched in pages of `pageSize`.
    public func listAll(prefix: String, pageSize: Int = 100) async throws -> [ListEntry] {
        var all: [ListEntry] = []
        var offset = 0
        while true {
            let page = try await list(prefix: prefix, limit: pageSize, offset: offset)
            all += page
            if page.count < pageSize { return all }
            offset += page.count
        }
    }
}
