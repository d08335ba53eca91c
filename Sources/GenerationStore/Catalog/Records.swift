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
    /// Where the content is when it is not in a local blob: this path in the version's archive.
    var archivePath: Data? = nil
    /// Column `nlink`: names of a file, symlink or special file (0 once unlinked: an orphan while
    /// open); 2 + subdirectories for a version or user directory; 1 for structure ("not counted")
    /// and for a directory of a bucket version not listed yet; 1 for a `hardLink` name row.
    var links: UInt32 = 1
    /// The device of a character or block device node (Linux dev_t encoding).
    var rdev: UInt64 = 0
    /// For a `hardLink` name row: the node it names.
    var inodeID: Int64? = nil

    enum CodingKeys: String, CodingKey {
        case id, name, role, mode, uid, gid, size
        case parentID = "parent_id"
        case atimeNs = "atime_ns"
        case mtimeNs = "mtime_ns"
        case ctimeNs = "ctime_ns"
        case linkTarget = "link_target"
        case versionID = "version_id"
        case archivePath = "archive_path"
        case links = "nlink"
        case rdev
        case inodeID = "inode_id"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let parentID = Column(CodingKeys.parentID)
        static let name = Column(CodingKeys.name)
        static let role = Column(CodingKeys.role)
        static let size = Column(CodingKeys.size)
        static let versionID = Column(CodingKeys.versionID)
        static let archivePath = Column(CodingKeys.archivePath)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    var ino: InodeNumber { InodeNumber(id ?? 0) }
    var nameBytes: [UInt8] { name.map { [UInt8]($0) } ?? [] }
    var kind: FileKind { role.kind }
    /// A `hardLink` row: the name `name` in `directory` for the node `inodeID`. Mode, owner and
    /// times are the inode's, so the row holds none.
    static func hardLink(_ name: [UInt8], in directory: Node, to inodeID: Int64?) -> Node {
        Node(
            id: nil, parentID: directory.id, name: Data(name), role: .hardLink, mode: 0, uid: 0, gid: 0, size: 0,
            atimeNs: 0, mtimeNs: 0, ctimeNs: 0, linkTarget: nil, versionID: directory.versionID, inodeID: inodeID)
    }

    /// Unlinked: no name, and no hard link names it (removed once nothing holds it open).
    var isUnlinked: Bool { parentID == nil && links == 0 && role != .root }
}

extension Node {
    // Hand-written row mapping: nodes are read and written on every FUSE request, and the
    // Codable path (name lookups per column) cost more CPU than the SQLite work itself.
    static var databaseSelection: [any SQLSelectable] {
        [
        Columns.id, Columns.parentID, Columns.name, Columns.role, Column("mode"), Column("uid"), Column("gid"),
        Columns.size, Column("atime_ns"), Column("mtime_ns"), Column("ctime_ns"), Column("link_target"),
        Columns.versionID, Columns.archivePath, Column("nlink"), Column("rdev"), Column("inode_id"),
        ]
    }

    init(row: Row) throws {
        id = row[0]
        parentID = row[1]
        name = row[2]
        role = try NodeRole(rawValue: row[3]).orThrow(FSError(.ioError, "catalog: unknown node role \(row[3] as String)"))
        mode = row[4]
        uid = row[5]
        gid = row[6]
        size = row[7]
        atimeNs = row[8]
        mtimeNs = row[9]
        ctimeNs = row[10]
        linkTarget = row[11]
        versionID = row[12]
        archivePath = row[13]
        links = row[14]
        rdev = UInt64(bitPattern: row[15] as Int64)
        inodeID = row[16]
    }

    func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["parent_id"] = parentID
        container["name"] = name
        container["role"] = role.rawValue
        container["mode"] = mode
        container["uid"] = uid
        container["gid"] = gid
        container["size"] = size
        container["atime_ns"] = atimeNs
        container["mtime_ns"] = mtimeNs
        container["ctime_ns"] = ctimeNs
        container["link_target"] = linkTarget
        container["version_id"] = versionID
        container["archive_path"] = archivePath
        container["nlink"] = links
        container["rdev"] = Int64(bitPattern: rdev)
        container["inode_id"] = inodeID
    }
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
    /// Made by this mount, or found in the bucket (made by another; always sealed).
    var origin: VersionOrigin = .local
    /// Every file has its local blob; false once clean-up left the content to the bucket.
    var localCopy = true

    enum CodingKeys: String, CodingKey {
        case number, sealed, dirty, origin
        case localCopy = "local_copy"
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

    /// The entries of version node `version` (not the version itself, whose attributes are its
    /// metadata) that have attributes: usually none, so a snapshot asks per node only for these.
    static func holders(_ db: Database, version: Int64) throws -> Set<Int64> {
        Set(
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT xattr.node_id FROM xattr JOIN node ON node.id = xattr.node_id
                    WHERE node.version_id = ? AND node.id != ?
                    """,
                arguments: [version, version]))
    }
}

/// A row of `unlisted_directory`: a directory of a version found in the bucket whose children
/// are not all in the catalog yet; they come from the TOC when looked up or listed.
struct UnlistedDirectory: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "unlisted_directory"

    var nodeID: Int64
    /// The directory's path in the version's TOC; empty for the version directory.
    var tocPath: Data

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id"
        case tocPath = "toc_path"
    }
}

enum VersionOrigin: String, Codable, Sendable, DatabaseValueConvertible {
    case local, remote
}

extension NodeRole: DatabaseValueConvertible {}

extension Optional {
    func orThrow(_ error: @autoclosure () -> FSError) throws(FSError) -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
