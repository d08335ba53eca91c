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
            // Checkpoint every 8192 WAL pages (32 MiB) instead of 1000: each checkpoint runs in a
            // committing FUSE request and syncs twice (a tree copy made ~25 of them). Durability
            // does not depend on it: a committed transaction is in the WAL either way.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
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

    /// A read on a reader connection, for callers that do not hold the file system's lock.
    func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    /// A read on the writer connection. The file system reads and writes under one lock, so a
    /// reader connection only added a pool check-out and a read transaction to every lookup;
    /// reentrant, so it also works inside `write`'s body (and sees its uncommitted changes).
    func readOnWriter<T>(_ body: (Database) throws -> T) throws -> T { try pool.unsafeReentrantWrite(body) }

    /// One transaction on the writer connection. BEGIN and COMMIT are cached statements:
    /// `DatabasePool.write` prepares them again each time and adds savepoint bookkeeping, which
    /// cost more CPU than the one-row changes of a FUSE request.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            do {
                let result = try body(db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return result
            } catch {
                if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
                throw error
            }
        }
    }

    /// Makes every committed transaction durable against power loss (fsync of the WAL and database).
    func checkpoint() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
    }
}

// MARK: - Queries

extension Node {
    /// Every column, in the order of `init(row:)`.
    static let selection = "id, " + changedColumns.joined(separator: ", ")
    /// Every column but the id, in the order of `changedValues`.
    private static let changedColumns = [
        "parent_id", "name", "role", "mode", "uid", "gid", "size", "atime_ns", "mtime_ns", "ctime_ns", "link_target",
        "version_id", "archive_path",
    ]
    private static let insertSQL =
        "INSERT INTO node (\(changedColumns.joined(separator: ", "))) VALUES (\(changedColumns.map { _ in "?" }.joined(separator: ", ")))"
    private static let updateSQL =
        "UPDATE node SET \(changedColumns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"

    private var changedValues: [(any DatabaseValueConvertible)?] {
        [parentID, name, role.rawValue, mode, uid, gid, size, atimeNs, mtimeNs, ctimeNs, linkTarget, versionID, archivePath]
    }

    // insertRow and updateRow do what GRDB's insert and update do, with statements prepared once:
    // they run on every create and close, where the query interface's SQL building dominated.

    /// Inserts the node and sets its id.
    mutating func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: StatementArguments(changedValues))
        id = db.lastInsertedRowID
    }

    /// Writes the columns that change in memory between saves (mode, owner, size, times), so
    /// that SQLite leaves the indexes on parent, name and version alone.
    func updateAttributes(_ db: Database) throws {
        guard let id else { return }
        try db.cachedStatement(
            sql: "UPDATE node SET mode = ?, uid = ?, gid = ?, size = ?, atime_ns = ?, mtime_ns = ?, ctime_ns = ? WHERE id = ?"
        ).execute(arguments: [mode, uid, gid, size, atimeNs, mtimeNs, ctimeNs, id])
    }

    /// Writes every column of the node's row; throws `RecordError.recordNotFound` if there is none.
    func updateRow(_ db: Database) throws {
        guard let id else { throw RecordError.recordNotFound(databaseTableName: Self.databaseTableName, key: ["id": .null]) }
        try db.cachedStatement(sql: Self.updateSQL).execute(arguments: StatementArguments(changedValues + [id]))
        if db.changesCount == 0 {
            throw RecordError.recordNotFound(databaseTableName: Self.databaseTableName, key: ["id": id.databaseValue])
        }
    }

    static func child(_ db: Database, parent: Int64, name: [UInt8]) throws -> Node? {
        // The hottest query (every lookup and create): a cached statement, prepared once.
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM node WHERE parent_id = ? AND name = ?")
        return try Node.fetchOne(statement, arguments: [parent, Data(name)])
    }

    /// The node with row id `id` (a cached statement: asked whenever a node is not in memory).
    static func withID(_ db: Database, _ id: Int64) throws -> Node? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM node WHERE id = ?")
        return try Node.fetchOne(statement, arguments: [id])
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

    /// Writes what `touchVersionLocked` changes (saved with file sizes on every close).
    func updateActivity(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE version SET updated_at_ns = ?, dirty = ? WHERE node_id = ?")
            .execute(arguments: [updatedAtNs, dirty, nodeID])
    }
}

extension ExtendedAttribute {
    static func all(_ db: Database, node: Int64) throws -> [ExtendedAttribute] {
        try ExtendedAttribute.filter(Columns.nodeID == node).order(Columns.name).fetchAll(db)
    }

    static func find(_ db: Database, node: Int64, name: [UInt8]) throws -> ExtendedAttribute? {
        try ExtendedAttribute.filter(Columns.nodeID == node && Columns.name == Data(name)).fetchOne(db)
    }
}
