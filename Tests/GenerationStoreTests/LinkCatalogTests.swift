// The catalog's side of hard links and special files (catalog v7): the journal carries link
// counts, device numbers and link targets (and still reads records written before them), and the
// migration gives existing catalogs their link counts and the new roles.
import Foundation
import GRDB
import SeekableArchive
import Synchronization
import SystemPackage
import Testing

@testable import GenerationStore

@Suite final class LinkCatalogTests {
    let directory = NSTemporaryDirectory() + "links-\(UUID().uuidString)"
    var catalogPath: String { directory + "/catalog.sqlite" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func node(_ name: String, id: Int64, parent: Int64?, role: NodeRole) -> Node {
        Node(
            id: id, parentID: parent, name: parent == nil ? nil : Data(name.utf8), role: role, mode: 0o640, uid: 1, gid: 2,
            size: 0, atimeNs: 1, mtimeNs: 2, ctimeNs: 3, linkTarget: nil, versionID: 9)
    }

    /// fsync's checkpoint and the background one run on two connections; SQLite refuses a second
    /// concurrent checkpoint with SQLITE_BUSY, which fsync answered as EIO.
    @Test func checkpointsOfFsyncAndOfTheBackgroundNeverCollide() throws {
        let catalog = try Catalog(
            path: catalogPath, journalPath: FilePath(directory + "/catalog.creates"), owner: Caller(uid: 0, gid: 0))
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for round in 0..<300 {
                do {
                    if worker == 0 {
                        try catalog.writeBatched { db -> ((), [Node]) in
                            var node = Self.node("n\(round)", id: 0, parent: Catalog.projectsID, role: .dir)
                            node.id = nil
                            node.versionID = nil
                            try node.insertRow(db)
                            return ((), [node])
                        }
                        try catalog.checkpoint()
                    } else {
                        try catalog.checkpointInBackground()
                    }
                } catch {
                    failures.withLock { $0.append("worker \(worker) round \(round): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
    }

    @Test func journalRecordsCarryLinksDevicesAndLinkTargets() throws {
        var fifo = Self.node("pipe", id: 50, parent: 10, role: .characterDevice)
        fifo.rdev = ArchiveDevice(major: 259, minor: 70000).linuxDevice
        var file = Self.node("f", id: 51, parent: nil, role: .file)
        file.links = 3
        var name = Self.node("g", id: 52, parent: 10, role: .hardLink)
        name.inodeID = 51
        let entries = [fifo, file, name].map { JournalEntry(batch: 5, node: $0) }
        #expect(CreateJournal.decode(entries.flatMap(CreateJournal.encode)) == entries)
        #expect(ArchiveDevice(linuxDevice: fifo.rdev) == .init(major: 259, minor: 70000))
    }

    /// A record as the journal wrote it before catalog v7: "CBJ1" and no link fields.
    static func recordBeforeLinks(_ node: Node) -> [UInt8] {
        let current = CreateJournal.encode(JournalEntry(batch: 2, node: node))
        let payload = Array(current[16...].dropLast(20))  // magic, length, checksum; nlink, rdev, inode id
        var record = Array("CBJ1".utf8)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { record += $0 }
        withUnsafeBytes(of: CreateJournal.fnv1a(payload[...]).littleEndian) { record += $0 }
        return record + payload
    }

    @Test func journalRecordsWrittenBeforeLinksStillRead() throws {
        let named = Self.node("a", id: 60, parent: 10, role: .file)
        let removed = Self.node("b", id: 61, parent: nil, role: .file)
        let decoded = CreateJournal.decode(Self.recordBeforeLinks(named) + Self.recordBeforeLinks(removed))
        #expect(decoded.map(\.node.id) == [60, 61])
        #expect(decoded.first?.node.links == 1, "a named node has one name")
        #expect(decoded.last?.node.links == 0, "a removal (no name) is an orphan, as before")
        #expect(decoded.last?.node.isUnlinked == true)
    }

    @Test func migrationCountsSubdirectoriesMarksOrphansAndAcceptsTheNewRoles() throws {
        let queue = try DatabaseQueue(path: catalogPath)
        try CatalogMigrations.migrator.migrate(queue, upTo: "v6-unlisted-directories")
        try queue.write { db in
            let columns = "id, parent_id, name, role, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, version_id"
            for (id, parent, name, role) in [
                (1, nil, nil, "root"), (2, 1, "projects", "projects"), (3, 2, "v1", "version"), (4, 3, "a", "dir"),
                (5, 3, "b", "dir"), (6, 4, "c", "dir"), (7, 3, "f", "file"), (8, nil, nil, "file"), (9, 3, "remote", "dir"),
                (10, 9, "x", "dir"),
            ] as [(Int, Int?, String?, String)] {
                try db.execute(
                    sql: "INSERT INTO node (\(columns)) VALUES (?, ?, ?, ?, 493, 0, 0, 0, 0, 0, ?)",
                    arguments: [id, parent, name.map { Data($0.utf8) }, role, id >= 3 ? 3 : nil])
            }
            try db.execute(sql: "INSERT INTO unlisted_directory (node_id, toc_path) VALUES (9, X'')")
        }
        try CatalogMigrations.migrator.migrate(queue)
        let links = try queue.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT id, nlink FROM node").map { ($0[0] as Int64, $0[1] as Int64) })
        }
        #expect(links[3] == 5, "the version: 2 + a, b, remote")
        #expect(links[4] == 3 && links[5] == 2 && links[6] == 2)
        #expect(links[7] == 1, "a file has one name")
        #expect(links[8] == 0, "a nameless file was an orphan")
        #expect(links[9] == 1, "an unlisted directory of a bucket version is not counted")
        #expect(links[1] == 1 && links[2] == 1, "structure is not counted")
        try queue.write { db in
            for role in ["fifo", "socket", "chardev", "blockdev", "hardlink"] {
                try db.execute(
                    sql: """
                        INSERT INTO node (parent_id, name, role, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, version_id)
                        VALUES (3, ?, ?, 420, 0, 0, 0, 0, 0, 3)
                        """,
                    arguments: [Data(role.utf8), role])
            }
        }
        #expect(throws: DatabaseError.self, "the constraint still refuses unknown roles") {
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO node (parent_id, name, role, mode, uid, gid, atime_ns, mtime_ns, ctime_ns)
                        VALUES (3, X'00', 'bogus', 420, 0, 0, 0, 0, 0)
                        """)
            }
        }
        let integrity = try queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    /// A catalog migrated from v9: every role is accepted and any other refused, and checking the
    /// role of an inserted row builds no temporary table (SQLite's way with an IN list of
    /// constants, which cost every create about a third of its insert).
    @Test func theRoleCheckAcceptsEveryRoleRefusesOthersAndBuildsNoTablePerInsert() throws {
        let queue = try DatabaseQueue(path: catalogPath)
        let insert = """
            INSERT INTO node (parent_id, name, role, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, link_target)
            VALUES (2, ?, ?, 420, 0, 0, 0, 0, 0, ?)
            """
        func buildsATablePerInsert() throws -> Bool {
            let program = try queue.read { try Row.fetchAll($0, sql: "EXPLAIN " + insert, arguments: [Data("y".utf8), "file", nil]) }
            #expect(program.contains { ($0["opcode"] as String?) == "Insert" }, "EXPLAIN lists the program")
            return program.contains { ($0["opcode"] as String?) == "OpenEphemeral" }
        }
        // A catalog of the version before: its IN list is what v10 replaces.
        try CatalogMigrations.migrator.migrate(queue, upTo: "v9-changed-since")
        #expect(try buildsATablePerInsert(), "the IN list of v9 builds one (else this test checks nothing)")
        try CatalogMigrations.migrator.migrate(queue)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO node (id, role, mode, uid, gid, atime_ns, mtime_ns, ctime_ns) VALUES (2, 'projects', 493, 0, 0, 0, 0, 0)")
            for role in NodeRole.allCases where role != .root {
                try db.execute(sql: insert, arguments: [Data(role.rawValue.utf8), role.rawValue, role == .symlink ? Data("t".utf8) : nil])
            }
        }
        #expect(throws: DatabaseError.self, "an unknown role") {
            try queue.write { try $0.execute(sql: insert, arguments: [Data("x".utf8), "bogus", nil]) }
        }
        #expect(try !buildsATablePerInsert(), "the role check builds a table per insert")
    }
}
