// The catalog: the one SQLite database (WAL) of a data directory, and the queries on it.
// Callers group the changes of one operation in one `write`, committed before it returns, or
// make a create or attribute change with `writeBatched`, committed with the open batch.
import Foundation
import GRDB
import Synchronization
import SystemPackage

final class Catalog: Sendable {
    static let rootID: Int64 = 1
    static let projectsID: Int64 = 2
    /// A batch commits by itself once it holds this many changes.
    static let batchLimit = 1024

    private let pool: DatabasePool
    /// A connection only for background checkpoints, so they never wait for the writer or block it.
    private let checkpointer: DatabaseQueue
    /// When the last background checkpoint ran.
    private let lastCheckpoint = Mutex(ContinuousClock.now)
    /// One checkpoint at a time: SQLite answers SQLITE_BUSY to a checkpoint while another
    /// connection runs one, and `fsync` reported that as EIO (seen under `dd conv=fsync`).
    private let checkpointing = NSLock()
    private let journal: CreateJournal
    /// Nodes written from the journal at open: changes a killed process had not committed.
    let replayedChanges: Int
    /// Journal rows the catalog refused at open, with the reason.
    let replaySkipped: [String]

    /// The open batch. Only touched on the writer connection, which GRDB serializes.
    private struct Batch {
        var number: Int64
        /// The rows written by the batch's changes, in order.
        var changed: [Node] = []
        /// A commit failed and SQLite rolled the batch back.
        var needsReinsert = false
    }
    private let batch: Mutex<Batch>
    /// Counts the writer's write blocks: what was read on the writer is still what the catalog
    /// holds while this has not moved (reads on the writer never overlap a write).
    private let writes = Atomic<UInt64>(0)
    var writeCount: UInt64 { writes.load(ordering: .acquiring) }

    /// Opens (creating if needed) the catalog at `path`, migrates it, makes sure the root and
    /// `projects/` exist with the given owner, and inserts what the create journal at
    /// `journalPath` holds of batches the last run did not commit.
    init(path: String, journalPath: FilePath, owner: Caller) throws {
        var configuration = GRDB.Configuration()
        // Batched creates keep a transaction open between accesses (writeBatched).
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            // NORMAL in WAL mode: a committed transaction survives a crash of the process;
            // fsync() checkpoints to make it survive a power loss too.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // No checkpoint inside a commit: it syncs twice, and commits run in FUSE requests under
            // the namespace lock. `checkpointIfDue` does it from the background on a connection of
            // its own. Durability does not depend on it: a committed transaction is in the WAL.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        checkpointer = try DatabaseQueue(path: path)
        try CatalogMigrations.migrator.migrate(pool)
        journal = try CreateJournal(path: journalPath)
        let (replayed, lastBatch, skipped) = try Self.replay(journal.entries(), into: pool)
        try journal.clear()
        replayedChanges = replayed
        replaySkipped = skipped
        batch = Mutex(Batch(number: lastBatch + 1))
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

    /// Writes the journal's nodes of uncommitted batches (inserted, or their row replaced: the
    /// journal is newer than anything committed), marks their versions for a new snapshot, and
    /// records the batches as committed. Returns how many nodes it wrote and the last batch number.
    /// A row the catalog refuses (its parent gone, its name taken) is skipped with the reason
    /// in `replaySkipped`, so a damaged journal never keeps the data directory from mounting.
    private static func replay(_ entries: [JournalEntry], into pool: DatabasePool) throws -> (Int, Int64, [String]) {
        try pool.write { db in
            let committed = try Int64.fetchOne(db, sql: "SELECT committed_batch FROM journal_state") ?? 0
            let last = max(committed, entries.map(\.batch).max() ?? 0)
            var written = 0
            var skipped: [String] = []
            for entry in entries where entry.batch > committed {
                let node = entry.node
                do {
                    try db.inSavepoint {
                        try writeRow(node, db)
                        if let version = node.versionID {
                            try db.execute(sql: "UPDATE version SET dirty = 1 WHERE node_id = ?", arguments: [version])
                        }
                        return .commit
                    }
                    written += 1
                } catch {
                    skipped.append("inode \(node.id ?? 0) (\(String(decoding: node.nameBytes, as: UTF8.self))): \(error)")
                }
            }
            try db.execute(sql: "UPDATE journal_state SET committed_batch = ?", arguments: [last])
            return (written, last, skipped)
        }
    }

    /// A journaled row: inserted, or replacing the row (the journal is newer than the catalog).
    private static func writeRow(_ node: Node, _ db: Database) throws {
        var node = node
        if try Node.withID(db, node.id ?? 0) == nil { try node.insert(db) } else { try node.updateRow(db) }
    }

    /// A read on a reader connection, for callers that do not hold the file system's lock.
    /// It sees committed changes only: not the creates of the open batch.
    func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    /// A read-only view of what is committed now, for a long read outside the file system's lock
    /// (a snapshot walks its version's tree there while writes go on). Commit the batch first.
    func committedSnapshot() throws -> DatabaseSnapshot { try pool.makeSnapshot() }

    /// A read on the writer connection. The file system reads and writes under one lock, so a
    /// reader connection only added a pool check-out and a read transaction to every lookup;
    /// reentrant, so it also works inside `write`'s body (and sees its uncommitted changes).
    func readOnWriter<T>(_ body: (Database) throws -> T) throws -> T { try pool.unsafeReentrantWrite(body) }

    /// One change, committed before it returns, together with the open batch of creates.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try writing { db in
            let result = try change(db, body)
            try commit(db)
            return result
        }
    }

    /// A change that can wait for its commit: a create, new attributes, an unlink or a rename.
    /// `body` writes the rows and returns them, in the order written, with its result. The
    /// change joins the open batch and its rows are appended to the journal in one write; the
    /// batch commits with the next `write`, when it is full, or by `commitBatch`. If the journal
    /// cannot take the rows, it commits at once instead. A `singleStatement` body joins the batch
    /// without a savepoint: SQLite undoes a failing statement alone, and the savepoint's two
    /// statements cost a create 5–15 µs of CPU.
    func writeBatched<T>(singleStatement: Bool = false, _ body: (Database) throws -> (T, [Node])) throws -> T {
        try writing { db in
            let (result, nodes) = try singleStatement && db.isInsideTransaction ? body(db) : change(db, body)
            let full = batch.withLock { batch -> Bool? in
                do {
                    try journal.append(nodes.map { JournalEntry(batch: batch.number, node: $0) })
                } catch {
                    return nil
                }
                batch.changed += nodes
                return batch.changed.count >= Self.batchLimit
            }
            switch full {
            case nil: try commit(db)  // not journaled: durable only once committed
            case true?: try? commit(db)  // journaled: a failed commit is retried by the next one
            case false?: break
            }
            return result
        }
    }

    /// Takes the next `count` ids off the node sequence for the caller to give out (BlobPool):
    /// committed before it returns, so no insert of this run or a later one gets one of them.
    func reserveIDs(_ count: Int) throws -> ClosedRange<Int64> {
        try writing { db in
            let last = try change(db) { db in
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'node'", arguments: [count])
                guard let last = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'node'") else {
                    throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "the node table has no sequence")
                }
                return last
            }
            try commit(db)
            return (last - Int64(count) + 1)...last
        }
    }

    /// Commits the open batch, if any (the file system does every CATALOG_COMMIT_INTERVAL).
    func commitBatch() throws {
        guard batch.withLock({ !$0.changed.isEmpty }) else { return }
        try writing { db in try commit(db) }
    }

    /// Copies committed pages from the WAL into the database, at most once a second, on the
    /// checkpointer's own connection (PASSIVE: it waits for no reader or writer).
    func checkpointIfDue() throws {
        let due = lastCheckpoint.withLock { last in
            guard ContinuousClock.now - last >= .seconds(1) else { return false }
            last = .now
            return true
        }
        guard due else { return }
        try checkpointInBackground()
    }

    /// checkpointIfDue's checkpoint, now.
    func checkpointInBackground() throws {
        try checkpointing.withLock {
            try checkpointer.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        }
    }

    /// Makes every committed transaction durable against power loss (fsync of the WAL and database).
    func checkpoint() throws {
        try checkpointing.withLock {
            try writing { db in
                try commit(db)
                _ = try db.checkpoint(.passive)
            }
        }
    }

    /// A block on the writer connection that may change the catalog (a commit's rollback too).
    private func writing<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            writes.add(1, ordering: .releasing)
            return try body(db)
        }
    }

    /// Runs `body` in the open transaction, or in a new one. Joining an open transaction (the
    /// batch), it runs in a savepoint: a failing change is undone alone and the batch stays.
    private func change<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        let joining = db.isInsideTransaction
        try db.cachedStatement(sql: joining ? "SAVEPOINT change" : "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let result = try body(db)
            if joining { try db.cachedStatement(sql: "RELEASE SAVEPOINT change").execute() }
            return result
        } catch {
            if joining {
                try? db.execute(sql: "ROLLBACK TO SAVEPOINT change")
                try? db.execute(sql: "RELEASE SAVEPOINT change")
            } else if db.isInsideTransaction {
                try? db.execute(sql: "ROLLBACK TRANSACTION")
            }
            throw error
        }
    }

    /// Commits the open transaction and with it the batch. If the commit fails, SQLite has
    /// rolled the batch back: its rows are written again from memory by the next commit (and
    /// from the journal by the next mount, if no commit succeeds before).
    private func commit(_ db: Database) throws {
        let (number, changed, reinsert) = batch.withLock { ($0.number, $0.changed, $0.needsReinsert) }
        guard db.isInsideTransaction || reinsert else { return }
        do {
            if !db.isInsideTransaction { try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute() }
            if reinsert {
                for node in changed { try Self.writeRow(node, db) }
            }
            if !changed.isEmpty {
                try db.cachedStatement(sql: "UPDATE journal_state SET committed_batch = ?").execute(arguments: [number])
            }
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            batch.withLock { $0.needsReinsert = !$0.changed.isEmpty }
            throw error
        }
        if !changed.isEmpty { endBatch() }
    }

    /// After a batch committed: the next one gets a new number and the journal starts empty
    /// (if emptying it fails, the number tells the next mount that these entries are committed).
    private func endBatch() {
        batch.withLock { batch in
            batch = Batch(number: batch.number + 1)
        }
        try? journal.clear()
    }
}

// MARK: - Queries

extension Node {
    /// Every column, in the order of `init(row:)`.
    static let selection = "id, " + changedColumns.joined(separator: ", ")
    /// The columns that change in memory between saves, in the order `bindAttributes` binds them.
    private static let attributeColumns = ["mode", "uid", "gid", "size", "atime_ns", "mtime_ns", "ctime_ns"]
    /// Every column but the id, in the order `bindChangedColumns` binds them.
    private static let changedColumns =
        ["parent_id", "name", "role"] + attributeColumns + ["link_target", "version_id", "archive_path", "nlink", "rdev", "inode_id"]
    private static let insertSQL =
        "INSERT INTO node (\(changedColumns.joined(separator: ", "))) VALUES (\(changedColumns.map { _ in "?" }.joined(separator: ", ")))"
    private static let insertWithIDSQL =
        "INSERT INTO node (id, \(changedColumns.joined(separator: ", "))) VALUES (?, \(changedColumns.map { _ in "?" }.joined(separator: ", ")))"
    private static let updateSQL = updateStatement(setting: changedColumns)
    private static let updateAttributesSQL = updateStatement(setting: attributeColumns)

    private static func updateStatement(setting columns: [String]) -> String {
        "UPDATE node SET \(columns.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"
    }

    private func bindChangedColumns(_ row: inout RawBindings) {
        row.bind(parentID)
        row.bind(name)
        row.bind(role.rawValue)
        bindAttributes(&row)
        row.bind(linkTarget)
        row.bind(versionID)
        row.bind(archivePath)
        row.bind(links)
        row.bind(Int64(bitPattern: rdev))
        row.bind(inodeID)
    }

    // insertRow and updateRow do what GRDB's insert and update do, with statements prepared once
    // and values bound with SQLite's calls: they run on every create and close, and for every
    // entry a listing catalogues from a bucket version's TOC.

    /// Inserts the node under its id, or under the next id of the sequence if it has none.
    mutating func insertRow(_ db: Database) throws {
        if let id {
            try db.cachedStatement(sql: Self.insertWithIDSQL).executeRaw(db) { row in
                row.bind(id)
                bindChangedColumns(&row)
            }
        } else {
            try db.cachedStatement(sql: Self.insertSQL).executeRaw(db, bindChangedColumns)
            id = db.lastInsertedRowID
        }
    }

    /// Writes the columns that change in memory between saves (mode, owner, size, times), so
    /// that SQLite leaves the indexes on parent, name and version alone.
    func updateAttributes(_ db: Database) throws {
        guard let id else { return }
        try db.cachedStatement(sql: Self.updateAttributesSQL).executeRaw(db) { row in
            bindAttributes(&row)
            row.bind(id)
        }
    }

    private func bindAttributes(_ row: inout RawBindings) {
        row.bind(mode)
        row.bind(uid)
        row.bind(gid)
        row.bind(size)
        row.bind(atimeNs)
        row.bind(mtimeNs)
        row.bind(ctimeNs)
    }

    /// Writes every column of the node's row; throws `RecordError.recordNotFound` if there is none.
    func updateRow(_ db: Database) throws {
        guard let id else { throw RecordError.recordNotFound(databaseTableName: Self.databaseTableName, key: ["id": .null]) }
        try db.cachedStatement(sql: Self.updateSQL).executeRaw(db) { row in
            bindChangedColumns(&row)
            row.bind(id)
        }
        if db.changesCount == 0 {
            throw RecordError.recordNotFound(databaseTableName: Self.databaseTableName, key: ["id": id.databaseValue])
        }
    }

    /// Deletes the node's row (its extended attributes go with it: ON DELETE CASCADE).
    func deleteRow(_ db: Database) throws {
        guard let id else { return }
        try db.cachedStatement(sql: "DELETE FROM node WHERE id = ?").execute(arguments: [id])
    }

    static func child(_ db: Database, parent: Int64, name: [UInt8]) throws -> Node? {
        // The hottest query (every lookup and create): a cached statement, prepared once.
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM node WHERE parent_id = ? AND name = ?")
        return try Node.fetchOne(statement, arguments: [parent, Data(name)])
    }

    /// The node at `path` below node `ancestor` (names separated by "/"), following the names
    /// through the catalog; nil when one is missing.
    static func descendant(_ db: Database, of ancestor: Int64, at path: [UInt8]) throws -> Node? {
        var node = try withID(db, ancestor)
        for name in path.split(separator: UInt8(ascii: "/")) {
            guard let parent = node?.id else { return nil }
            node = try child(db, parent: parent, name: Array(name))
        }
        return node
    }

    /// The node with row id `id` (a cached statement: asked whenever a node is not in memory).
    static func withID(_ db: Database, _ id: Int64) throws -> Node? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM node WHERE id = ?")
        return try Node.fetchOne(statement, arguments: [id])
    }

    /// Which of the row ids in `range` exist.
    static func ids(_ db: Database, in range: ClosedRange<Int64>) throws -> Set<Int64> {
        Set(try Int64.fetchAll(db, sql: "SELECT id FROM node WHERE id BETWEEN ? AND ?", arguments: [range.lowerBound, range.upperBound]))
    }

    /// A directory's children in name order (every opendir of a directory not listed before).
    static func children(_ db: Database, parent: Int64) throws -> [Node] {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM node WHERE parent_id = ? ORDER BY name")
        return try Node.fetchAll(statement, arguments: [parent])
    }

    /// The children of `parent` in name order, read one at a time: a tree walk keeps one cursor
    /// per directory level, so its memory does not grow with the number of files.
    static func childCursor(_ db: Database, parent: Int64) throws -> RecordCursor<Node> {
        try Node.fetchCursor(db, sql: "SELECT \(selection) FROM node WHERE parent_id = ? ORDER BY name", arguments: [parent])
    }

    /// About how many entries a snapshot of the version packs, for progress reports: the
    /// version's rows but its own. The version_id index alone answers, without reading the rows
    /// (it runs under the namespace lock); files unlinked while open count too.
    static func approximateEntryCount(_ db: Database, version: Int64) throws -> Int {
        max(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM node WHERE version_id = ?", arguments: [version]) ?? 0, 1) - 1
    }

    /// Calls `body` with each node of the version stamped after `since` (ctime): an incremental
    /// snapshot's changes, found through the index on (version_id, ctime_ns) without reading the
    /// other rows, and read through a cursor (a change to every file does not fill memory).
    static func forEachChanged(
        _ db: Database, version: Int64, since: Int64, _ body: (_ id: Int64, _ parentID: Int64?, _ role: NodeRole?) throws -> Void
    ) throws {
        let rows = try Row.fetchCursor(
            db, sql: "SELECT id, parent_id, role FROM node WHERE version_id = ? AND ctime_ns > ?", arguments: [version, since])
        while let row = try rows.next() { try body(row[0], row[1], NodeRole(rawValue: row[2])) }
    }

    static func parentID(_ db: Database, of id: Int64) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT parent_id FROM node WHERE id = ?"), arguments: [id])
    }

    /// Whether a file of the version has more than one name.
    static func hasHardLinks(_ db: Database, version: Int64) throws -> Bool {
        // The partial index on inode_id holds only hard link rows.
        try Bool.fetchOne(
            db, sql: "SELECT 1 FROM node WHERE inode_id IS NOT NULL AND version_id = ? LIMIT 1", arguments: [version]) ?? false
    }

    static func hasChildren(_ db: Database, parent: Int64) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM node WHERE parent_id = ? LIMIT 1")
        return try Bool.fetchOne(statement, arguments: [parent]) ?? false
    }

    static func generation(_ db: Database, id: String) throws -> Node? {
        try Node.filter(Columns.role == NodeRole.generation && Columns.name == Data(id.utf8)).fetchOne(db)
    }

    typealias ContentTotals = (files: Int, bytes: Int64, sockets: Int)

    /// Files and bytes of a version's user content, and its sockets (archives cannot hold them).
    static func contentTotals(_ db: Database, version: Int64) throws -> ContentTotals {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT COALESCE(SUM(role = 'file'), 0), COALESCE(SUM(CASE WHEN role = 'file' THEN size END), 0),
                    COALESCE(SUM(role = 'socket' AND parent_id IS NOT NULL), 0)
                FROM node WHERE version_id = ? AND role IN ('file', 'socket')
                """,
            arguments: [version])
        return (row?[0] ?? 0, row?[1] ?? 0, row?[2] ?? 0)
    }

    /// Nodes left without a name by a crash while they were unlinked but still open, and name
    /// rows (hard links) removed in a batch the create journal replayed.
    static func orphans(_ db: Database) throws -> [Node] {
        try Node.fetchAll(
            db, sql: "SELECT \(selection) FROM node WHERE parent_id IS NULL AND role != 'root' AND nlink = 0")
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
        let statement = try db.cachedStatement(sql: "SELECT node_id, name, value FROM xattr WHERE node_id = ? ORDER BY name")
        return try ExtendedAttribute.fetchAll(statement, arguments: [node])
    }

    static func find(_ db: Database, node: Int64, name: [UInt8]) throws -> ExtendedAttribute? {
        let statement = try db.cachedStatement(sql: "SELECT node_id, name, value FROM xattr WHERE node_id = ? AND name = ?")
        return try ExtendedAttribute.fetchOne(statement, arguments: [node, Data(name)])
    }
}
