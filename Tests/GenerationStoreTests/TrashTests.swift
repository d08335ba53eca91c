// Removed content goes to the trash at once and is deleted by `emptyTrash` (the daemon's trash
// thread); what a crash left in the trash is deleted by the next mount's first `emptyTrash`.
import Foundation
import SystemPackage
import Testing

@testable import GenerationStore

@Suite struct TrashTests {
    func files(in directory: String) -> [String] {
        (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []).filter { path in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory)
            return !isDirectory.boolValue
        }.sorted()
    }

    @Test func unlinkedContentIsMovedToTheTrashThenDeleted() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let gone = try h.writeFile(v1, "gone", "bytes")
        let also = try h.writeFile(v1, "also", "bytes")
        let kept = try h.writeFile(v1, "kept", "kept")
        try h.fileSystem.unlink(parent: v1, name: Array("gone".utf8))
        #expect(!FileManager.default.fileExists(atPath: h.fileSystem.blobs.path(gone).string))
        #expect(files(in: h.directory + "/trash") == ["\(gone)"])
        #expect(h.fileSystem.trash.empty() == 1, "the first call deletes whatever is there")
        try h.fileSystem.unlink(parent: v1, name: Array("also".utf8))
        #expect(h.fileSystem.trash.empty() == 0, "removals have not paused yet")
        #expect(files(in: h.directory + "/trash") == ["\(also)"])
        Thread.sleep(forTimeInterval: 0.6)
        #expect(h.fileSystem.trash.empty() == 1, "removals paused for longer than Trash.quiet")
        #expect(files(in: h.directory + "/trash") == [])
        #expect(try h.readFile(kept) == "kept")
        #expect(h.fileSystem.trash.empty(force: true) == 0)
    }

    @Test func whatACrashLeftInTheTrashIsDeletedAtTheNextMount() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        _ = try h.writeFile(v1, "gone", "bytes")
        try h.fileSystem.unlink(parent: v1, name: Array("gone".utf8))
        FileManager.default.createFile(atPath: h.directory + "/trash/12345", contents: Data("left".utf8))
        h.fileSystem.saveBeforeUnmount()  // the catalog's open batch would keep the reopened one out
        try h.reopen()
        #expect(files(in: h.directory + "/trash").count == 2)
        h.fileSystem.emptyTrash()
        #expect(files(in: h.directory + "/trash") == [], "the first call deletes what an earlier process left")
    }

    @Test func aMissingBlobIsNoError() throws {
        let directory = NSTemporaryDirectory() + "trash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let trash = try Trash(root: FilePath(directory + "/trash"))
        trash.put(FilePath(directory + "/absent"), as: "1")
        #expect(trash.empty(force: true) == 0)
    }
}

@Suite struct LowPriorityThreadTests {
    @Test func theWorkRunsAtALowerPriorityAndTheCallerKeepsItsOwn() throws {
        let before = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let seen = try LowPriorityThread.run("test") { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        #expect(seen == max(before, LowPriorityThread.niceness))
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == before)
    }

    @Test func errorsComeBackToTheCaller() {
        #expect(throws: FSError.self) {
            _ = try LowPriorityThread.run("test") { () throws -> Int in throw FSError.invalid("no") }
        }
    }
}
