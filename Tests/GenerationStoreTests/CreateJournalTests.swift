// Batched creates and their journal (Catalog.writeBatched, CreateJournal) on a real SQLite
// catalog: a catalog dropped with its batch uncommitted stands for a killed process.
import Foundation
import GRDB
import SystemPackage
import Testing

@testable import GenerationStore

@Suite final class CreateJournalTests {
    let directory = NSTemporaryDirectory() + "journal-\(UUID().uuidString)"
    var catalogPath: String { directory + "/catalog.sqlite" }
    var journalPath: FilePath { FilePath(directory + "/catalog.creates") }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func openCatalog() throws -> Catalog {
        try Catalog(path: catalogPath, journalPath: journalPath, owner: Caller(uid: 0, gid: 0))
    }

    func node(_ name: [UInt8], parent: Int64 = Catalog.projectsID, role: NodeRole = .dir, link: [UInt8]? = nil) -> Node {
        Node(
            id: nil, parentID: parent, name: Data(name), role: role, mode: 0o750, uid: 7, gid: 8,
            size: Int64(link?.count ?? 0), atimeNs: 1, mtimeNs: 2, ctimeNs: 3, linkTarget: link.map { Data($0) },
            versionID: nil)
    }

    /// Creates `node` the way the file system does: one batched insert (in a savepoint unless
    /// `singleStatement`, as for files).
    @discardableResult
    func create(_ catalog: Catalog, _ node: Node, singleStatement: Bool = false) throws -> Node {
        try catalog.writeBatched(singleStatement: singleStatement) { db in
            var inserted = node
            try inserted.insertRow(db)
            return (inserted, [inserted])
        }
    }

    /// The nodes under `projects/`, read with a connection of its own (committed rows only).
    func committedChildren() throws -> [Node] {
        try DatabaseQueue(path: catalogPath).read { try Node.children($0, parent: Catalog.projectsID) }
    }

    @Test func recordsRoundTripAndADamagedRecordEndsTheReplay() throws {
        let entries = [
            JournalEntry(batch: 3, node: { var n = node([0xff, 0x00, 0x41]); n.id = 40; return n }()),
            JournalEntry(batch: 3, node: { var n = node(Array("l".utf8), role: .symlink, link: Array("../t".utf8)); n.id = 41; return n }()),
            JournalEntry(batch: 4, node: { var n = node(Array("f".utf8), role: .file); n.id = 42; n.versionID = 9; return n }()),
        ]
        let bytes = entries.flatMap(CreateJournal.encode)
        #expect(CreateJournal.decode(bytes) == entries)
        // A record cut short by a crash, then one with a flipped byte: replay keeps what came before.
        let second = CreateJournal.encode(entries[0]).count
        #expect(CreateJournal.decode(Array(bytes.dropLast(5))) == Array(entries.prefix(2)))
        var flipped = bytes
        flipped[second + 30] ^= 0x01
        #expect(CreateJournal.decode(flipped) == Array(entries.prefix(1)))
        #expect(CreateJournal.decode(Array(repeating: 0, count: 64)).isEmpty)
    }

    @Test func createsOfAnUncommittedBatchAreRestoredWhenTheCatalogOpensAgain() throws {
        var created: [Node] = []
        do {
            let catalog = try openCatalog()
            let directory = try create(catalog, node(Array("d".utf8)))
            created = [
                directory,
                try create(catalog, node(Array("file".utf8), parent: directory.id ?? 0, role: .file)),
                try create(catalog, node(Array("link".utf8), parent: directory.id ?? 0, role: .symlink, link: Array("file".utf8))),
            ]
            #expect(try committedChildren().isEmpty, "the batch is not committed yet")
        }  // dropped uncommitted, as by kill -9
        let reopened = try openCatalog()
        #expect(reopened.replayedChanges == 3)
        let restored = try reopened.readOnWriter { db in try created.map { try Node.withID(db, $0.id ?? 0) } }
        #expect(restored == created)
        #expect(try committedChildren().map(\.name) == [Data("d".utf8)], "replayed rows are committed")
        #expect(try openCatalog().replayedChanges == 0, "and not replayed twice")
    }

    @Test func anAttributeChangeOfACommittedNodeIsRestoredToo() throws {
        var changed = node(Array("d".utf8))
        do {
            let catalog = try openCatalog()
            changed = try create(catalog, changed)
            try catalog.commitBatch()
            changed.mode = 0o700
            changed.mtimeNs = 99
            let saved = changed
            try catalog.writeBatched { db in
                try saved.updateRow(db)
                return ((), [saved])
            }
        }
        #expect(try openCatalog().replayedChanges == 1)
        #expect(try committedChildren() == [changed])
    }

    @Test func commitBatchAndAnyWriteCommitTheBatch() throws {
        let catalog = try openCatalog()
        try create(catalog, node(Array("a".utf8)))
        #expect(try committedChildren().isEmpty)
        try catalog.commitBatch()
        #expect(try committedChildren().count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: journalPath.string)).isEmpty, "a committed batch empties the journal")

        try create(catalog, node(Array("b".utf8)))
        try catalog.write { db in try db.execute(sql: "UPDATE node SET mode = 448 WHERE name = ?", arguments: [Data("a".utf8)]) }
        #expect(try committedChildren().map(\.name) == [Data("a".utf8), Data("b".utf8)])
    }

    @Test func aFullBatchCommitsAtOnce() throws {
        do {
            let catalog = try openCatalog()
            for i in 0..<(Catalog.batchLimit + 5) { try create(catalog, node(Array("n\(i)".utf8))) }
        }
        #expect(try committedChildren().count == Catalog.batchLimit)
        #expect(try openCatalog().replayedChanges == 5)
        #expect(try committedChildren().count == Catalog.batchLimit + 5)
    }

    @Test func aFailingChangeIsUndoneAloneAndTheBatchStays() throws {
        do {
            let catalog = try openCatalog()
            try create(catalog, node(Array("kept".utf8)))
            #expect(throws: DatabaseError.self) { try create(catalog, node(Array("kept".utf8))) }
            struct Refused: Error {}
            #expect(throws: Refused.self) {
                try catalog.write { db in
                    try db.execute(sql: "DELETE FROM node WHERE name = ?", arguments: [Data("kept".utf8)])
                    throw Refused()
                }
            }
            try create(catalog, node(Array("also".utf8)))
            #expect(try committedChildren().isEmpty)
        }
        #expect(try openCatalog().replayedChanges == 2)
        #expect(try committedChildren().map(\.name) == [Data("also".utf8), Data("kept".utf8)])
    }

    @Test func aFailingSingleStatementChangeWithoutASavepointIsUndoneAloneToo() throws {
        do {
            let catalog = try openCatalog()
            try create(catalog, node(Array("first".utf8), role: .file), singleStatement: true)
            try create(catalog, node(Array("kept".utf8), role: .file), singleStatement: true)
            #expect(throws: DatabaseError.self, "UNIQUE(parent_id, name)") {
                try create(catalog, node(Array("kept".utf8), role: .file), singleStatement: true)
            }
            try create(catalog, node(Array("also".utf8), role: .file), singleStatement: true)
            #expect(try committedChildren().isEmpty, "all in the open batch")
            try catalog.commitBatch()
        }
        #expect(try openCatalog().replayedChanges == 0, "the batch was committed, not replayed")
        #expect(try committedChildren().map(\.name) == ["also", "first", "kept"].map { Data($0.utf8) })
    }

    /// insertRow and updateRow bind values with SQLite's own calls (RawInsert.swift): every column
    /// reads back as written, an empty blob stays empty (not NULL), nil stays NULL.
    @Test func rowsWrittenWithRawBindingsReadBackAsWritten() throws {
        let catalog = try openCatalog()
        var link = node([0xff, 0x00, 0x41], role: .symlink, link: [])
        link.archivePath = Data()
        link.links = 3
        link.rdev = UInt64.max
        link.size = Int64.max
        let written = try create(catalog, link)
        let id = try #require(written.id)
        var changed = written
        changed.name = Data("renamed".utf8)
        changed.mode = 0o4755
        changed.inodeID = id
        changed.archivePath = nil
        try catalog.write { db in try changed.updateRow(db) }
        let read = try catalog.read { db in try Node.withID(db, id) }
        #expect(read == changed)
        #expect(read?.linkTarget == Data(), "an empty target is a symlink's, not NULL")

        // updateAttributes writes mode, owner, size and times, and leaves every other column.
        var saved = changed
        saved.mode = 0o600
        saved.uid = 1000
        saved.gid = 2000
        saved.size = 12_345
        saved.atimeNs = 1
        saved.mtimeNs = -2
        saved.ctimeNs = Int64.max
        var notSaved = saved
        notSaved.name = Data("not written".utf8)
        notSaved.links = 9
        try catalog.write { db in try notSaved.updateAttributes(db) }
        #expect(try catalog.read { db in try Node.withID(db, id) } == saved)

        #expect(throws: RecordError.self, "no row with that id") {
            var missing = changed
            missing.id = id + 1000
            try catalog.write { db in try missing.updateRow(db) }
        }
    }

    /// A tmpfs of `kilobytes` under this test's directory, filled up; unmounted by the caller.
    /// Needs root (as the mount tests do); without it the test fails here, it is not skipped.
    func fullTmpfs(_ name: String, kilobytes: Int) throws -> String {
        let path = directory + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try run("mount -t tmpfs -o size=\(kilobytes)k tmpfs \(path) && (dd if=/dev/zero of=\(path)/filler bs=4k 2>/dev/null; true)")
        return path
    }

    func run(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.featureUnsupported, userInfo: ["command": command]) }
    }

    @Test func aChangeTheJournalCannotTakeIsCommittedAtOnce() throws {
        let full = try fullTmpfs("journal-fs", kilobytes: 64)
        defer { try? run("umount -l \(full)") }
        try Data().write(to: URL(fileURLWithPath: full + "/catalog.creates"))
        let catalog = try Catalog(path: catalogPath, journalPath: FilePath(full + "/catalog.creates"), owner: Caller(uid: 0, gid: 0))
        try create(catalog, node(Array("a".utf8)))
        #expect(try committedChildren().map(\.name) == [Data("a".utf8)], "committed without waiting for the batch")
    }

    @Test func aFailedCommitKeepsTheBatchAndTheNextCommitWritesIt() throws {
        let disk = directory + "/catalog-fs"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try run("mount -t tmpfs -o size=4m tmpfs \(disk)")
        defer { try? run("umount -l \(disk)") }
        let catalog = try Catalog(path: disk + "/catalog.sqlite", journalPath: journalPath, owner: Caller(uid: 0, gid: 0))
        var base = try create(catalog, node(Array("base".utf8)))
        try catalog.commitBatch()
        try run("dd if=/dev/zero of=\(disk)/filler bs=4k 2>/dev/null; true")
        let kept = try create(catalog, node(Array("kept".utf8)))
        base.mode = 0o700
        let changed = base
        try catalog.writeBatched { db in
            try changed.updateRow(db)
            return ((), [changed])
        }
        #expect(throws: DatabaseError.self, "the disk is full") { try catalog.commitBatch() }
        try run("rm \(disk)/filler")
        try catalog.commitBatch()
        let committed = try DatabaseQueue(path: disk + "/catalog.sqlite").read { db in
            try [kept, changed].map { try Node.withID(db, $0.id ?? 0) }
        }
        #expect(committed == [kept, changed], "the new row and the changed one")
    }

    @Test func aJournalRowTheCatalogRefusesIsSkippedWithItsReason() throws {
        _ = try openCatalog()
        var orphan = node(Array("lost".utf8), parent: 999)
        orphan.id = 500
        var fine = node(Array("fine".utf8))
        fine.id = 501
        let journal = try CreateJournal(path: journalPath)
        try journal.append([JournalEntry(batch: 1, node: orphan)])
        try journal.append([JournalEntry(batch: 1, node: fine)])
        let reopened = try openCatalog()
        #expect(reopened.replayedChanges == 1)
        #expect(reopened.replaySkipped.count == 1)
        #expect(reopened.replaySkipped.first?.contains("inode 500 (lost)") == true, "\(reopened.replaySkipped)")
        #expect(try committedChildren().map(\.name) == [Data("fine".utf8)])
    }

    @Test func entriesOfCommittedBatchesAreNeverInsertedAgain() throws {
        do {
            let catalog = try openCatalog()
            let gone = try create(catalog, node(Array("gone".utf8)))
            try catalog.commitBatch()
            try catalog.write { db in _ = try Node.deleteOne(db, key: gone.id) }
            // As if emptying the journal had failed after the batch committed.
            try CreateJournal(path: journalPath).append([JournalEntry(batch: 1, node: gone)])
        }
        #expect(try openCatalog().replayedChanges == 0)
        #expect(try committedChildren().isEmpty, "a deleted node does not come back")
    }

    /// The catalog's WAL is copied into the database by the background save, at most once a second,
    /// never inside a commit. Only the checkpoint calls copy pages (autocheckpoint is off), so the
    /// sizes below do not depend on how long the inserts take.
    @Test func commitsStayInTheWALUntilACheckpointIsDue() async throws {
        let catalog = try openCatalog()
        let database = catalogPath
        let opened = size(database)
        for index in 0..<300 { try create(catalog, node(Array("d\(index)".utf8))) }
        try catalog.commitBatch()
        #expect(size(database + "-wal") > 0, "the commits are in the WAL")
        #expect(size(database) == opened, "a commit copies nothing into the database")
        try await Task.sleep(for: .milliseconds(1100))
        try catalog.checkpointIfDue()
        #expect(size(database) > opened, "checkpointed into the database: \(opened) -> \(size(database)) bytes")
    }

    private func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
