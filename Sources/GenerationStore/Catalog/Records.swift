// The catalog's records, one per table (Catalog/Migrations.swift has the schema and its invariants).
import Foundation
import GRDB

/// A row of `node`: one directory, file or symlink, structural or the user's. Its id is the inode number.
struct Node: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "node"

    var id: Int64?
    /// nil for the root and for unlinked files still open (orphans).
    var parentID: Int64?
    var name: Data?
    var role: NodeRole
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var size: Int64
    var atimeNs: Int64
    var mtimeNs: Int64
    var ctimeNs: Int64
    var linkTarget: Data?
    /// The version directory this node belongs to; nil above version level.
    var versionID: Int64?

    enum CodingKeys: String, CodingKey {
        case id, name, role, mode, uid, gid, size
        case parentID = "parent_id"
        case atimeNs = "atime_ns"
        case mtimeNs = "mtime_ns"
        case ctimeNs = "ctime_ns"
        case linkTarget = "link_target"
        case versionID = "version_id"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let parentID = Column(CodingKeys.parentID)
        static let name = Column(CodingKeys.name)
        static let role = Column(CodingKeys.role)
        static let size = Column(CodingKeys.size)
        static let versionID = Column(CodingKeys.versionID)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    var ino: InodeNumber { InodeNumber(id ?? 0) }
    var nameBytes: [UInt8] { name.map { [UInt8]($0) } ?? [] }
    var kind: FileKind { role.kind }
}

/// A row of `version`: the lifecycle state of one version directory (DESIGN §2).
struct VersionRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "version"

    var nodeID: Int64
    var generationNodeID: Int64
    var number: Int
    var sealed: Bool
    var createdAtNs: Int64
    var updatedAtNs: Int64
    /// Changed since the last snapshot.
    var dirty: Bool = true
    /// Size of the local archive of the last snapshot; nil before the first.
    var archiveSize: Int64?
    var snapshottedAtNs: Int64?

    enum CodingKeys: String, CodingKey {
        case number, sealed, dirty
        case archiveSize = "archive_size"
        case snapshottedAtNs = "snapshotted_at_ns"
        case nodeID = "node_id"
        case generationNodeID = "generation_node_id"
        case createdAtNs = "created_at_ns"
        case updatedAtNs = "updated_at_ns"
    }

    enum Columns {
        static let nodeID = Column(CodingKeys.nodeID)
        static let generationNodeID = Column(CodingKeys.generationNodeID)
        static let number = Column(CodingKeys.number)
    }
}

/// A row of `xattr`: one `user.*` extended attribute.
struct ExtendedAttribute: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "xattr"

    var nodeID: Int64
    var name: Data
    var value: Data

    enum CodingKeys: String, CodingKey {
        case name, value
        case nodeID = "node_id"
    }

    enum Columns {
        static let nodeID = Column(CodingKeys.nodeID)
        static let name = Column(CodingKeys.name)
    }
}

extension NodeRole: DatabaseValueConvertible {}
