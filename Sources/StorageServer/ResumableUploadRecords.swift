// The rows of unfinished and finished resumable (TUS) uploads in the metadata SQLite, so that they survive a
// restart of the server, and the reads and writes the resumable routes need.
import Foundation
import GRDB

/// One resumable upload: where it goes, how far it got, and what the object will be committed with.
struct ResumableUploadRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "resumable_uploads"
    /// The id in the upload URL: base64url of `<bucket>/<key>/<version>`, as Supabase makes it.
    var id: String
    /// The random version part of the id; also names the data file under `<data>/uploads`.
    var version: String
    var bucketID: String
    var name: String
    /// `Upload-Length`.
    var length: Int64
    /// Bytes stored so far (fsync'd before this is written).
    var offset: Int64
    var mimetype: String
    var cacheControl: String
    /// JSON object text from the `metadata` entry of `Upload-Metadata`, or nil.
    var userMetadata: String?
    /// The `Upload-Metadata` header as received, returned by HEAD.
    var uploadMetadata: String?
    /// Creation time, seconds since 1970; the upload expires a configured time after it.
    var createdAt: Double
    /// The object was committed; HEAD still answers (offset = length) until the upload expires.
    var completed: Bool

    enum CodingKeys: String, CodingKey {
        case id, version, name, length, offset, mimetype, completed
        case bucketID = "bucket_id"
        case cacheControl = "cache_control"
        case userMetadata = "user_metadata"
        case uploadMetadata = "upload_metadata"
        case createdAt = "created_at"
    }

    /// The migration that adds the table (registered by ``MetadataStore``).
    static func createTable(_ db: Database) throws {
        try db.create(table: databaseTableName) { t in
            t.primaryKey("id", .text)
            t.column("version", .text).notNull().unique()
            t.column("bucket_id", .text).notNull()
            t.column("name", .text).notNull()
            t.column("length", .integer).notNull().check { $0 >= 0 }
            t.column("offset", .integer).notNull().check { $0 >= 0 }
            t.column("mimetype", .text).notNull()
            t.column("cache_control", .text).notNull()
            t.column("user_metadata", .text)
            t.column("upload_metadata", .text)
            t.column("created_at", .double).notNull()
            t.column("completed", .boolean).notNull().defaults(to: false)
        }
    }
}

extension MetadataStore {
    func insertUpload(_ row: ResumableUploadRow) async throws {
        try await db.write { db in try row.insert(db) }
    }

    func upload(id: String) async throws -> ResumableUploadRow? {
        try await db.read { db in try ResumableUploadRow.fetchOne(db, key: id) }
    }

    /// Records the stored offset (and whether the object was committed).
    func setUploadOffset(id: String, offset: Int64, completed: Bool = false) async throws {
        try await db.write { db in
            try db.execute(
                sql: #"UPDATE resumable_uploads SET "offset" = ?, completed = ? WHERE id = ?"#,
                arguments: [offset, completed, id]
            )
        }
    }

    func deleteUpload(id: String) async throws {
        _ = try await db.write { db in try ResumableUploadRow.deleteOne(db, key: id) }
    }

    /// Removes the uploads created before `cutoff` (seconds since 1970) and returns them.
    func deleteUploads(createdBefore cutoff: Double) async throws -> [ResumableUploadRow] {
        try await db.write { db in
            let rows = try ResumableUploadRow.filter(Column("created_at") < cutoff).fetchAll(db)
            _ = try ResumableUploadRow.filter(Column("created_at") < cutoff).deleteAll(db)
            return rows
        }
    }

    /// The versions (data file names) of the unfinished uploads.
    func unfinishedUploadVersions() async throws -> Set<String> {
        try await db.read { db in
            Set(try String.fetchAll(db, sql: "SELECT version FROM resumable_uploads WHERE completed = 0"))
        }
    }
}
