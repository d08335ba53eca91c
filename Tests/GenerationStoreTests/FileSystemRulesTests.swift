// The file system facade on a real catalog in a temporary directory, without FUSE: layout rules,
// errnos of DESIGN §8, sealing, and what survives reopening the catalog.
import Foundation
import Logging
import SystemPackage
import Testing

@testable import GenerationStore

final class Harness {
    let directory: String
    var fileSystem: GenerationFileSystem
    let caller = Caller(uid: 0, gid: 0)

    private let opener: (String) throws -> GenerationFileSystem

    init() throws {
        directory = NSTemporaryDirectory() + "gs-\(UUID().uuidString)"
        opener = Self.open
        fileSystem = try Self.open(directory)
    }

    /// A file system opened by `open` on `directory`.
    init(directory: String, open: @escaping (String) throws -> GenerationFileSystem) throws {
        self.directory = directory
        opener = open
        fileSystem = try open(directory)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func open(_ directory: String) throws -> GenerationFileSystem {
        var config = Configuration(dataDirectory: directory)
        config.useCloudStorage = false
        return try GenerationFileSystem(
            dataDirectory: try DataDirectory(FilePath(directory)), configuration: config, logger: Logger(label: "test"))
    }

    func reopen() throws { fileSystem = try opener(directory) }

    func mkdir(_ parent: InodeNumber, _ name: String) throws -> InodeNumber {
        try fileSystem.mkdir(parent: parent, name: Array(name.utf8), mode: 0o755, caller: caller).attributes.ino
    }

    func lookup(_ parent: InodeNumber, _ name: String) throws -> Entry {
        try fileSystem.lookup(parent: parent, name: Array(name.utf8))
    }

    /// projects/p/generations/g, returning the generation's inode.
    func generation(_ project: String = "p1", _ generation: String = "g1") throws -> InodeNumber {
        let projects = try lookup(1, "projects").attributes.ino
        let projectIno = try (try? lookup(projects, project).attributes.ino) ?? mkdir(projects, project)
        let generations = try lookup(projectIno, "generations").attributes.ino
        return try mkdir(generations, generation)
    }

    func writeFile(_ parent: InodeNumber, _ name: String, _ text: String) throws -> InodeNumber {
        let (entry, opened) = try fileSystem.create(
            parent: parent, name: Array(name.utf8), mode: 0o644, flags: O_WRONLY, caller: caller)
        _ = try Array(text.utf8).withUnsafeBytes { try fileSystem.write(handle: opened.handle, offset: 0, data: $0) }
        try fileSystem.flush(handle: opened.handle)
        fileSystem.release(handle: opened.handle)
        return entry.attributes.ino
    }

    func readFile(_ ino: InodeNumber) throws -> String {
        let opened = try fileSystem.open(ino, flags: O_RDONLY)
        defer { fileSystem.release(handle: opened.handle) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = try buffer.withUnsafeMutableBytes { try fileSystem.read(handle: opened.handle, offset: 0, into: $0) }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

func expectErrno(_ expected: Errno, _ sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as FSError {
        #expect(error.errno == expected, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected FSError \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct FileSystemRulesTests {
    @Test func layoutAndVersionRules() throws {
        let h = try Harness()
        let generation = try h.generation()
        expectErrno(.invalidArgument) { _ = try h.mkdir(generation, "v2") }
        expectErrno(.invalidArgument) { _ = try h.mkdir(generation, "v0") }
        expectErrno(.invalidArgument) { _ = try h.mkdir(generation, "x") }
        let v1 = try h.mkdir(generation, "v1")
        #expect(try h.fileSystem.readlink(try h.lookup(generation, "latest").attributes.ino) == Array("v1".utf8))
        expectErrno(.invalidArgument) { _ = try h.mkdir(generation, "v3") }
        let file = try h.writeFile(v1, "a.txt", "hello")
        #expect(try h.readFile(file) == "hello")
        _ = try h.mkdir(generation, "v2")
        #expect(try h.fileSystem.readlink(try h.lookup(generation, "latest").attributes.ino) == Array("v2".utf8))
        // v1 is sealed now.
        expectErrno(.readOnlyFileSystem) { _ = try h.writeFile(v1, "b.txt", "x") }
        expectErrno(.readOnlyFileSystem) { _ = try h.fileSystem.open(file, flags: O_WRONLY) }
        expectErrno(.readOnlyFileSystem) { try h.fileSystem.unlink(parent: v1, name: Array("a.txt".utf8)) }
        expectErrno(.readOnlyFileSystem) { _ = try h.fileSystem.setattr(file, changes: AttributeChanges(mode: 0o600)) }
        #expect(try h.readFile(file) == "hello")
    }

    @Test func wrongLevelsAndReservedNames() throws {
        let h = try Harness()
        let generation = try h.generation()
        let v1 = try h.mkdir(generation, "v1")
        expectErrno(.notPermitted) { _ = try h.writeFile(1, "x", "") }
        expectErrno(.notPermitted) { _ = try h.mkdir(1, "x") }
        expectErrno(.notPermitted) { _ = try h.writeFile(generation, "x", "") }
        expectErrno(.permissionDenied) { _ = try h.writeFile(v1, "status.json", "") }
        expectErrno(.permissionDenied) { _ = try h.writeFile(v1, "download_url", "") }
        expectErrno(.notPermitted) { try h.fileSystem.unlink(parent: v1, name: Array("status.json".utf8)) }
        expectErrno(.notPermitted) { try h.fileSystem.rmdir(parent: generation, name: Array("v1".utf8)) }
        expectErrno(.permissionDenied) {
            _ = try h.fileSystem.open(try h.lookup(v1, "status.json").attributes.ino, flags: O_WRONLY)
        }
        // Deeper down, status.json is an ordinary name.
        let sub = try h.mkdir(v1, "sub")
        _ = try h.writeFile(sub, "status.json", "{}")
        let linked = try h.fileSystem.link(try h.lookup(sub, "status.json").attributes.ino, newParent: sub, newName: Array("l".utf8))
        let second = try h.lookup(sub, "l").attributes
        #expect(linked.attributes.nlink == 2 && linked.attributes.ino == second.ino)
        expectErrno(.notPermitted) {
            _ = try h.fileSystem.link(try h.lookup(v1, "status.json").attributes.ino, newParent: sub, newName: Array("v".utf8))
        }
    }

    @Test func generationIDsAreUniqueAcrossProjects() throws {
        let h = try Harness()
        _ = try h.generation("p1", "shared")
        expectErrno(.fileExists) { _ = try h.generation("p2", "shared") }
    }

    @Test func renameRules() throws {
        let h = try Harness()
        let generation = try h.generation()
        let v1 = try h.mkdir(generation, "v1")
        let a = try h.writeFile(v1, "a", "A")
        _ = try h.writeFile(v1, "b", "B")
        try h.fileSystem.rename(parent: v1, name: Array("a".utf8), newParent: v1, newName: Array("b".utf8), mode: .replace)
        #expect(try h.readFile(try h.lookup(v1, "b").attributes.ino) == "A")
        #expect(try h.lookup(v1, "b").attributes.ino == a)
        expectErrno(.noSuchFileOrDirectory) { _ = try h.lookup(v1, "a") }
        let dir = try h.mkdir(v1, "d")
        let inner = try h.mkdir(dir, "inner")
        expectErrno(.invalidArgument) {
            try h.fileSystem.rename(parent: v1, name: Array("d".utf8), newParent: inner, newName: Array("x".utf8), mode: .replace)
        }
        _ = try h.writeFile(inner, "f", "F")
        let other = try h.mkdir(v1, "other")
        _ = try h.writeFile(other, "g", "G")
        expectErrno(.directoryNotEmpty) {
            try h.fileSystem.rename(parent: v1, name: Array("d".utf8), newParent: v1, newName: Array("other".utf8), mode: .replace)
        }
        expectErrno(.directoryNotEmpty) { try h.fileSystem.rmdir(parent: v1, name: Array("d".utf8)) }
        let v2 = try h.mkdir(generation, "v2")
        expectErrno(.readOnlyFileSystem) {
            try h.fileSystem.rename(parent: v1, name: Array("b".utf8), newParent: v1, newName: Array("c".utf8), mode: .replace)
        }
        _ = try h.writeFile(v2, "x", "X")
        let v3 = try h.mkdir(generation, "v3")
        _ = v3
        expectErrno(.readOnlyFileSystem) {
            try h.fileSystem.rename(parent: v2, name: Array("x".utf8), newParent: v3, newName: Array("x".utf8), mode: .replace)
        }
    }

    @Test func everythingSurvivesReopening() throws {
        let h = try Harness()
        let generation = try h.generation()
        let v1 = try h.mkdir(generation, "v1")
        let file = try h.writeFile(v1, "keep.txt", "kept")
        try h.fileSystem.setxattr(v1, name: Array("user.model".utf8), value: Array("gpt-x".utf8), flags: 0)
        _ = try h.mkdir(generation, "v2")
        try h.reopen()
        let projects = try h.lookup(1, "projects").attributes.ino
        let g1 = try h.lookup(try h.lookup(try h.lookup(projects, "p1").attributes.ino, "generations").attributes.ino, "g1")
        #expect(g1.attributes.ino == generation)
        #expect(try h.lookup(generation, "v1").attributes.ino == v1)
        #expect(try h.lookup(v1, "keep.txt").attributes.ino == file)
        #expect(try h.readFile(file) == "kept")
        #expect(try h.fileSystem.getxattr(v1, name: Array("user.model".utf8)) == Array("gpt-x".utf8))
        expectErrno(.readOnlyFileSystem) { _ = try h.writeFile(v1, "new", "") }
        let status = try h.readFile(try h.lookup(v1, "status.json").attributes.ino)
        let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
        #expect(json?["sealed"] as? Bool == true)
        #expect((json?["metadata"] as? [String: String])?["model"] == "gpt-x")
        #expect(json?["files_count"] as? Int == 1)
        #expect(json?["bytes"] as? Int == 4)
    }

    /// mkdir writes the parent's row once, with its new times and link count: both are there
    /// after a clean unmount and a new mount.
    @Test func aNewSubdirectoryCountsAndTouchesItsParentDurably() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let before = try h.fileSystem.getattr(v1).attributes
        #expect(before.nlink == 2)
        Thread.sleep(forTimeInterval: 0.01)
        let sub = try h.mkdir(v1, "sub")
        _ = try h.mkdir(sub, "inner")
        let after = try h.fileSystem.getattr(v1).attributes
        #expect(after.nlink == 3 && after.mtime > before.mtime && after.ctime == after.mtime)
        #expect(try h.fileSystem.getattr(sub).attributes.nlink == 3)
        h.fileSystem.saveBeforeUnmount()
        try h.reopen()
        let reopened = try h.fileSystem.getattr(v1).attributes
        #expect(reopened.nlink == 3 && reopened.mtime == after.mtime, "\(reopened) after \(after)")
        #expect(try h.fileSystem.getattr(sub).attributes.nlink == 3)
    }

    @Test func unlinkedOpenFilesStayReadableThenVanish() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let file = try h.writeFile(v1, "f", "still here")
        let opened = try h.fileSystem.open(file, flags: O_RDONLY)
        try h.fileSystem.unlink(parent: v1, name: Array("f".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = try buffer.withUnsafeMutableBytes { try h.fileSystem.read(handle: opened.handle, offset: 0, into: $0) }
        #expect(String(decoding: buffer[0..<count], as: UTF8.self) == "still here")
        h.fileSystem.release(handle: opened.handle)
        h.fileSystem.forget(file, count: 1)
        expectErrno(.noSuchFileOrDirectory) { _ = try h.fileSystem.getattr(file) }
    }
}
