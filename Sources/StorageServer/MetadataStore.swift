// Bucket and object metadata in SQLite (GRDB, WAL): the schema, and every read and write the routes need.
import Foundation
import GRDB

struct BucketRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "buckets"
    var id: String
    var name: String
    var owner: String?
    var isPublic: Bool
    var fileSizeLimit: Int64?
    /// JSON array of strings, or nil for "any type".
    var allowedMimeTypes: String?
    var createdAt: String
    var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, owner
        case isPublic = "public"
        case fileSizeLimit = "file_size_limit"
        case allowedMimeTypes = "allowed_mime_types"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    var mimeTypes: [String]? {
        allowedMimeTypes.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
    }
}

struct ObjectRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "objects"
    /// UUID; also names the blob file.
    var id: String
    var bucketID: String
    var name: String
    var size: Int64
    var mimetype: String
    var cacheControl: String
    /// Quoted MD5, as served in `ETag`.
    var etag: String
    /// JSON object text, or nil.
    var userMetadata: String?
    var createdAt: String
    var updatedAt: String
    var lastAccessedAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, size, mimetype, etag
        case bucketID = "bucket_id"
        case cacheControl = "cache_control"
        case userMetadata = "user_metadata"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastAccessedAt = "last_accessed_at"
    }
}

/// Outcome of a metadata write that conflicts with existing rows.
enum MetadataConflict: Error {
    case duplicate
    case missing
    case notEmpty
}

/// Owns the one `DatabasePool` of the server's data directory.
struct MetadataStore: Sendable {
    let db: DatabasePool

    init(path: String) throws {
        // Created 0600 before SQLite opens it; the -wal and -shm files take the same mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        var config = Configuration()
        config.foreignKeysEnabled = true
        // An acknowledged upload must survive power loss too, not only a crash: WAL with synchronous=FULL.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        db = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(db)
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "buckets") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("owner", .text)
                t.column("public", .boolean).notNull().defaults(to: false)
                t.column("file_size_limit", .integer).check { $0 == nil || $0 >= 0 }
                t.column("allowed_mime_types", .text)
                t.column("created_at", .text).notNull()
                t.column("updated_at", .text).notNull()
            }
            try db.create(table: "objects") { t in
                t.primaryKey("id", .text)
                t.column("bucket_id", .text).notNull().references("buckets", onDelete: .restrict)
                t.column("name", .text).notNull()
                t.column("size", .integer).notNull().check { $0 >= 0 }
                t.column("mimetype", .text).notNull()
                t.column("cache_control", .text).notNull()
                t.column("etag", .text).notNull()
                t.column("user_metadata", .text)
                t.column("created_at", .text).notNull()
                t.column("updated_at", .text).notNull()
                t.column("last_accessed_at", .text).notNull()
                t.uniqueKey(["bucket_id", "name"])
            }
        }
        m.registerMigration("v2-resumable-uploads") { db in try ResumableUploadRow.createTable(db) }
        return m
    }

    // MARK: Buckets

    func bucket(_ id: String) async throws -> BucketRow? {
        try await db.read { db in try BucketRow.fetchOne(db, key: id) }
    }

    func buckets() async throws -> [BucketRow] {
        try await db.read { db in try BucketRow.order(Column("name")).fetchAll(db) }
    }

    func createBucket(_ row: BucketRow) async throws {
        try await db.write { db in
            if try BucketRow.exists(db, key: row.id)
                || BucketRow.filter(Column("name") == row.name).fetchCount(db) > 0
            {
                throw MetadataConflict.duplicate
            }
            try row.insert(db)
        }
    }

    func updateBucket(_ row: BucketRow) async throws {
        try await db.write { db in try row.update(db) }
    }

    func deleteBucket(_ id: String) async throws {
        try await db.write { db in
            guard try BucketRow.exists(db, key: id) else { throw MetadataConflict.missing }
            if try ObjectRow.filter(Column("bucket_id") == id).fetchCount(db) > 0 { throw MetadataConflict.notEmpty }
            _ = try BucketRow.deleteOne(db, key: id)
        }
    }

    // MARK: Objects

    func object(bucket: String, name: String) async throws -> ObjectRow? {
        try await db.read { db in
            try ObjectRow.filter(Column("bucket_id") == bucket && Column("name") == name).fetchOne(db)
        }
    }

    /// Inserts `row`; an existing object with the same name is replaced when `upsert`, else `duplicate`.
    /// Returns the replaced row (its blob is now garbage).
    func putObject(_ row: ObjectRow, upsert: Bool) async throws -> ObjectRow? {
        try await db.write { db in
            let old = try ObjectRow.filter(Column("bucket_id") == row.bucketID && Column("name") == row.name)
                .fetchOne(db)
            var new = row
            if let old {
                guard upsert else { throw MetadataConflict.duplicate }
                new.createdAt = old.createdAt
                _ = try old.delete(db)
            }
            try new.insert(db)
            return old
        }
    }

    func deleteObjects(bucket: String, names: [String]) async throws -> [ObjectRow] {
        try await db.write { db in
            let rows = try ObjectRow.filter(Column("bucket_id") == bucket && names.contains(Column("name"))).fetchAll(
                db
            )
            for row in rows { _ = try row.delete(db) }
            return rows
        }
    }

    /// Renames an object; `duplicate` when the destination exists, `missing` when the source does not.
    func moveObject(bucket: String, from: String, toBucket: String, to: String, now: String) async throws {
        try await db.write { db in
            guard var row = try ObjectRow.filter(Column("bucket_id") == bucket && Column("name") == from).fetchOne(db)
            else { throw MetadataConflict.missing }
            if try ObjectRow.filter(Column("bucket_id") == toBucket && Column("name") == to).fetchCount(db) > 0 {
                throw MetadataConflict.duplicate
            }
            _ = try row.delete(db)
            row.bucketID = toBucket
            row.name = to
            row.updatedAt = now
            try row.insert(db)
        }
    }

    /// Objects whose name starts with `prefix`, compared case-insensitively (ASCII), as the v1 search does.
    func objects(bucket: String, namePrefix prefix: String) async throws -> [ObjectRow] {
        try await db.read { db in
            try ObjectRow.fetchAll(
                db,
                sql: "SELECT * FROM objects WHERE bucket_id = ? AND substr(lower(name), 1, length(?)) = lower(?)",
                arguments: [bucket, prefix, prefix]
            )
        }
    }

    func deleteAllObjects(bucket: String) async throws -> [ObjectRow] {
        try await db.write { db in
            let rows = try ObjectRow.filter(Column("bucket_id") == bucket).fetchAll(db)
            _ = try ObjectRow.filter(Column("bucket_id") == bucket).deleteAll(db)
            return rows
        }
    }
}
