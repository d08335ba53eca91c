// The catalog: the one SQLite database (WAL) of a data directory, and the queries on it.
// Callers group the changes of one operation in one `write` transaction.
import Foundation
import GRDB

final class Catalog: Sendable {
    static let rootID: Int64 = 1
    static let projectsID: Int64 = 2

    private let pool: DatabasePool

    /// Opens (creating if needed) the catalog at `path`, migrates it, and makes sure the
    /// root and `projects/` exist with the given owner.
    init(path: String, owner: Caller) throws {
        var configuration = GRDB.Configuration()
        configuration.prepareDatabase { db in
            // NORMAL in WAL mode: a committed transaction survives a crash of the process;
            // fsync() checkpoints to make it survive a power loss too.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try CatalogMigrations.migrator.migrate(pool)
        try pool.write { db in
            let now = Timespec.now().totalNanoseconds
            for (id, role, parent, name) in [
                (Catalog.rootID, NodeRole.root, nil, nil), (Catalog.projectsID, .projects, Catalog.rootID, "projects"),
            ] where try Node.fetchOne(db, key: id) == nil {
                var node = Node(
                    id: id, parentID: parent, name: name.map { Data($0.utf8) }, role: role, mode: 0o755,
                    uid: owner.uid, gid: owner.gid, size: 0, atimeNs: now, mtimeNs: now, ctimeNs: now,
                    linkTarget: nil, versionID: nil)
                try node.insert(db)
            }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
    func write<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }

    /// Makes every committed transaction durable against power loss (fsync of the WAL and database).
    func checkpoint() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
    }
}

// MARK: - Queries

extension Node {
    static func child(_ db: Database, parent: Int64, name: [UInt8]) throws -> Node? {
        // The hottest query (every lookup and create): a cached statement, prepared once.
        let statement = try db.cachedStatement(
            sql: "SELECT id, parent_id, name, role, mode, uid, gid, size, atime_ns, mtime_ns, ctime_ns, link_target, "
                + "version_id, archive_path FROM node WHERE parent_id = ? AND name = ?")
        return try Node.fetchOne(statement, arguments: [parent, Data(name)])
    }

    static func children(_ db: Database, parent: Int64) throws -> [Node] {
        try Node.filter(Columns.parentID == parent).order(Columns.name).fetchAll(db)
    }

    static func hasChildren(_ db: Database, parent: Int64) throws -> Bool {
        try Node.filter(Columns.parentID == parent).isEmpty(db) == false
    }

    static func generation(_ db: Database, id: String) throws -> Node? {
        try Node.filter(Columns.role == NodeRole.generation && Columns.name == Data(id.utf8)).fetchOne(db)
    }

    /// Files and bytes of a version's user content.
    static func contentTotals(_ db: Database, version: Int64) throws -> (files: Int, bytes: Int64) {
        let row = try Row.fetchOne(
            db, sql: "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM node WHERE version_id = ? AND role = 'file'",
            arguments: [version])
        return (row?[0] ?? 0, row?[1] ?? 0)
    }

    /// Nodes left without a name by a crash while they were unlinked but still open.
    static func orphans(_ db: Database) throws -> [Node] {
        try Node.filter(Columns.parentID == nil && Columns.role != NodeRole.root).fetchAll(db)
    }
}

extension VersionRecord {
    static func all(_ db: Database) throws -> [VersionRecord] { try VersionRecord.fetchAll(db) }
}

extension ExtendedAttribute {
    static func all(_ db: Database, node: Int64) throws -> [ExtendedAttribute] {
        try ExtendedAttribute.filter(Columns.nodeID == node).order(Columns.name).fetchAll(db)
    }

    static func find(_ db: Database, node: Int64, name: [UInt8]) throws -> ExtendedAttribute? {
        try ExtendedAttribute.filter(Columns.nodeID == node && Columns.name == Data(name)).fetchOne(db)
    }
}
