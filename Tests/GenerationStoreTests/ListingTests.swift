// Directory listings through the file system facade on a real catalog: plain READDIR gives
// names, inode numbers and types; READDIRPLUS gives each entry the attributes getattr gives,
// in chunks, including a file still being written and a hard link's file.
import Foundation
import Testing

@testable import GenerationStore

@Suite struct ListingTests {
    /// Every entry of the open directory from offset 0, `accepting` at most that many per call.
    static func list(_ h: Harness, _ directory: InodeNumber, plus: Bool, accepting: Int = .max) throws -> [DirectoryEntry] {
        let opened = try h.fileSystem.opendir(directory)
        defer { h.fileSystem.releasedir(handle: opened.handle) }
        var entries: [DirectoryEntry] = []
        var offset: UInt64 = 0
        while true {
            var added = 0
            try h.fileSystem.readdir(handle: opened.handle, offset: offset, plus: plus) { entry, next in
                guard added < accepting else { return false }
                added += 1
                entries.append(entry)
                offset = next
                return true
            }
            if added == 0 { return entries }
        }
    }

    @Test func plainAndPlusListingsAgreeWithGetattr() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let directory = try h.mkdir(v1, "d")
        // More entries than one chunk of attributes (Namespace.attributedChunk), of every type.
        for index in 0..<(Namespace.attributedChunk * 2 + 7) {
            _ = try h.writeFile(directory, String(format: "f%04d", index), String(repeating: "x", count: index))
        }
        _ = try h.mkdir(directory, "sub")
        let link = try h.fileSystem.symlink(target: Array("f0001".utf8), parent: directory, name: Array("sym".utf8), caller: h.caller)
        _ = try h.fileSystem.link(link.attributes.ino, newParent: directory, newName: Array("sym-again".utf8))
        let file = try h.lookup(directory, "f0005").attributes.ino
        _ = try h.fileSystem.link(file, newParent: directory, newName: Array("f0005-again".utf8))

        let plain = try Self.list(h, directory, plus: false)
        let plus = try Self.list(h, directory, plus: true, accepting: 50)
        #expect(plain.map(\.name) == plus.map(\.name))
        #expect(plain.filter { !$0.isDotEntry }.count == Namespace.attributedChunk * 2 + 7 + 4)
        for (bare, full) in zip(plain, plus) where !bare.isDotEntry {
            let name = String(decoding: bare.name, as: UTF8.self)
            var looked = try h.fileSystem.getattr(try h.lookup(directory, name).attributes.ino).attributes
            #expect(bare.attributes.ino == looked.ino && bare.attributes.kind == looked.kind, "\(name)")
            looked.blocks = nil  // getattr alone counts the blocks a file's blob has
            #expect(full.attributes == looked, "\(name)")
        }
        let byName = Dictionary(uniqueKeysWithValues: plus.map { (String(decoding: $0.name, as: UTF8.self), $0.attributes) })
        #expect(byName["sym-again"]?.kind == .symlink && byName["sym-again"]?.ino == link.attributes.ino)
        #expect(byName["f0005-again"]?.ino == file && byName["f0005-again"]?.size == 5 && byName["f0005"]?.nlink == 2)
        #expect(byName["sub"]?.kind == .directory)
    }

    @Test func plusShowsTheWritesOfAFileStillOpen() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let (_, opened) = try h.fileSystem.create(parent: v1, name: Array("growing".utf8), mode: 0o644, flags: O_WRONLY, caller: h.caller)
        defer { h.fileSystem.release(handle: opened.handle) }
        _ = try [UInt8](repeating: 7, count: 4000).withUnsafeBytes { try h.fileSystem.write(handle: opened.handle, offset: 0, data: $0) }
        let listed = try Self.list(h, v1, plus: true).first { $0.name == Array("growing".utf8) }
        #expect(listed?.attributes.size == 4000)
    }

    @Test func anEntryRemovedAfterTheListingWasTakenIsLeftOutOfPlus() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        for index in 0..<10 { _ = try h.writeFile(v1, "f\(index)", "x") }
        let opened = try h.fileSystem.opendir(v1)
        defer { h.fileSystem.releasedir(handle: opened.handle) }
        var names: [String] = []
        var offset: UInt64 = 0
        // The first reply takes the listing and hands out ".", ".." and two more entries.
        var taken = 0
        try h.fileSystem.readdir(handle: opened.handle, offset: 0, plus: true) { entry, next in
            guard taken < 4 else { return false }
            taken += 1
            names.append(String(decoding: entry.name, as: UTF8.self))
            offset = next
            return true
        }
        // Held open, f7 stays in memory after its name is gone: it must still not be listed.
        let stillOpen = try h.fileSystem.open(try h.lookup(v1, "f7").attributes.ino, flags: O_RDONLY)
        defer { h.fileSystem.release(handle: stillOpen.handle) }
        try h.fileSystem.unlink(parent: v1, name: Array("f7".utf8))
        try h.fileSystem.readdir(handle: opened.handle, offset: offset, plus: true) { entry, _ in
            names.append(String(decoding: entry.name, as: UTF8.self))
            return true
        }
        let files = names.filter { $0.hasPrefix("f") }
        #expect(files == (0..<10).filter { $0 != 7 }.map { "f\($0)" }, "\(names)")
    }
}

extension ListingTests {
    @Test func aRowWithAnUnknownRoleFailsTheListingWithEIO() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        _ = try h.writeFile(v1, "odd", "x")
        // Only a damaged catalog holds such a row: the schema's CHECK refuses it.
        try h.fileSystem.namespace.catalog.write { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE node SET role = 'spaceship' WHERE name = ?", arguments: [Data("odd".utf8)])
            try db.execute(sql: "PRAGMA ignore_check_constraints = OFF")
        }
        let opened = try h.fileSystem.opendir(v1)
        defer { h.fileSystem.releasedir(handle: opened.handle) }
        expectErrno(.ioError) {
            try h.fileSystem.readdir(handle: opened.handle, offset: 0, plus: false) { _, _ in true }
        }
    }
}

/// Listings read ahead for tree walkers: used when nothing changed, never when something did.
@Suite struct ListingReadaheadTests {
    static func names(_ h: Harness, _ directory: InodeNumber) throws -> [String] {
        try ListingTests.list(h, directory, plus: true).filter { !$0.isDotEntry }.map { String(decoding: $0.name, as: UTF8.self) }
    }

    @Test func aWalkerGetsTheNextListingsReadAheadAndTheyAreTheSame() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let top = try h.mkdir(v1, "top")
        let a = try h.mkdir(top, "a")
        let b = try h.mkdir(top, "b")
        for index in 0..<300 { _ = try h.writeFile(a, "f\(index)", "x") }
        for index in 0..<3 { _ = try h.writeFile(b, "g\(index)", "yy") }
        let readahead = h.fileSystem.namespace.readahead
        let expectedA = try Self.names(h, a)
        let expectedB = try Self.names(h, b)
        let used = readahead.usedCount

        _ = try Self.names(h, top)  // reads ahead its first subdirectory, a
        readahead.finishReading()
        let plusOfA = try ListingTests.list(h, a, plus: true)  // read ahead; reads ahead a's next sibling, b
        readahead.finishReading()
        #expect(try Self.names(h, b) == expectedB)
        #expect(readahead.usedCount == used + 2)
        #expect(plusOfA.filter { !$0.isDotEntry }.map { String(decoding: $0.name, as: UTF8.self) } == expectedA)
        for entry in plusOfA where !entry.isDotEntry {
            var looked = try h.fileSystem.getattr(entry.attributes.ino).attributes
            looked.blocks = nil
            #expect(entry.attributes == looked)
        }
    }

    @Test func aListingReadAheadIsNotUsedAfterTheCatalogChanged() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let top = try h.mkdir(v1, "top")
        let a = try h.mkdir(top, "a")
        _ = try h.writeFile(a, "old", "x")
        let readahead = h.fileSystem.namespace.readahead
        _ = try Self.names(h, top)
        readahead.finishReading()
        let used = readahead.usedCount
        _ = try h.writeFile(a, "new", "y")
        #expect(try Self.names(h, a).sorted() == ["new", "old"])
        #expect(readahead.usedCount == used)
    }
}

extension ListingReadaheadTests {
    @Test func rowsReadAheadAreNotUsedAfterTheCatalogChanged() throws {
        let h = try Harness()
        let a = try h.mkdir(try h.mkdir(try h.mkdir(try h.generation(), "v1"), "top"), "a")
        for index in 0..<10 { _ = try h.writeFile(a, "f\(index)", "x") }
        // A fresh mount of the same catalog: no node in memory, so READDIRPLUS's attributes come
        // from the rows read ahead or from the catalog.
        try h.reopen()
        var top: InodeNumber = 1
        for name in ["projects", "p1", "generations", "g1", "v1", "top"] { top = try h.lookup(top, name).attributes.ino }
        let readahead = h.fileSystem.namespace.readahead
        let used = readahead.usedCount
        _ = try Self.names(h, top)
        readahead.finishReading()

        let opened = try h.fileSystem.opendir(try h.lookup(top, "a").attributes.ino)
        defer { h.fileSystem.releasedir(handle: opened.handle) }
        var offset: UInt64 = 0
        try h.fileSystem.readdir(handle: opened.handle, offset: 0, plus: false) { _, next in
            guard next <= 2 else { return false }  // "." and ".." only: the listing is taken
            offset = next
            return true
        }
        #expect(readahead.usedCount == used + 1)
        // A change the node cache does not hold (here straight into the catalog).
        try h.fileSystem.namespace.catalog.write { db in
            try db.execute(sql: "UPDATE node SET mode = 384 WHERE name = ?", arguments: [Data("f5".utf8)])
        }
        var modes: [String: UInt32] = [:]
        try h.fileSystem.readdir(handle: opened.handle, offset: offset, plus: true) { entry, _ in
            modes[String(decoding: entry.name, as: UTF8.self)] = entry.attributes.mode
            return true
        }
        #expect(modes["f5"] == 0o600 && modes["f4"] == 0o644, "\(modes)")
    }
}

/// The listing's row decoder (SQLite's column calls) and GRDB's read every column the same way.
@Suite struct RawRowTests {
    @Test func rawRowsDecodeEveryKindOfNodeAsGRDBDoes() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let file = try h.writeFile(v1, "file", "content")
        _ = try h.mkdir(v1, "dir")
        _ = try h.fileSystem.symlink(target: Array("file".utf8), parent: v1, name: Array("sym".utf8), caller: h.caller)
        _ = try h.fileSystem.link(file, newParent: v1, newName: Array("again".utf8))
        _ = try h.fileSystem.mknod(parent: v1, name: Array("fifo".utf8), mode: 0o010644, rdev: 0, caller: h.caller)
        _ = try h.fileSystem.mknod(parent: v1, name: Array("tty".utf8), mode: 0o020600, rdev: 0x0501, caller: h.caller)
        let catalog = h.fileSystem.namespace.catalog
        try catalog.write { db in
            try db.execute(sql: "UPDATE node SET archive_path = ? WHERE id = ?", arguments: [Data("tree/file".utf8), Int64(file)])
        }
        let (viaGRDB, raw) = try catalog.read { db in
            let viaGRDB = try Node.fetchAll(db, sql: "SELECT \(Node.selection) FROM node ORDER BY id")
            var raw: [Node] = []
            try RawRow.forEach(try db.makeStatement(sql: "SELECT \(Node.selection) FROM node ORDER BY id"), []) { raw.append(try Node($0)) }
            return (viaGRDB, raw)
        }
        #expect(viaGRDB.count >= 12)
        #expect(Set(viaGRDB.map(\.role)).isSuperset(of: [.root, .version, .dir, .file, .symlink, .hardLink, .fifo, .characterDevice]))
        #expect(raw == viaGRDB)
    }
}
