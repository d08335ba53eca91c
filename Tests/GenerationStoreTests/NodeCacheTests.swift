// Unit tests of the in-memory nodes found by name (NodeCache), and of the same through the
// facade: names answered from memory follow renames and removals exactly.
import Foundation
import Testing

@testable import GenerationStore

@Suite struct NodeCacheTests {
    func node(_ id: Int64, parent: Int64?, _ name: String?) -> Node {
        Node(
            id: id, parentID: parent, name: name.map { Data($0.utf8) }, role: .file, mode: 0o644, uid: 0, gid: 0,
            size: 0, atimeNs: 0, mtimeNs: 0, ctimeNs: 0, linkTarget: nil, versionID: 7)
    }

    @Test func aNodeIsFoundByItsCurrentNameOnly() {
        var cache = NodeCache()
        cache[10] = node(10, parent: 5, "a")
        #expect(cache.child(of: 5, named: Array("a".utf8))?.id == 10)
        #expect(cache.child(of: 6, named: Array("a".utf8)) == nil, "the same name in another directory")
        cache[10] = node(10, parent: 6, "b")
        #expect(cache.child(of: 5, named: Array("a".utf8)) == nil, "the old name is dropped on a move")
        #expect(cache.child(of: 6, named: Array("b".utf8))?.id == 10)
        cache[10] = node(10, parent: nil, nil)
        #expect(cache.child(of: 6, named: Array("b".utf8)) == nil, "an orphan has no name")
        #expect(cache[10] != nil)
        cache[10] = nil
        #expect(cache[10] == nil)
        #expect(cache.count == 0)
    }

    @Test func aNameTakenOverKeepsTheNewOwner() {
        var cache = NodeCache()
        cache[10] = node(10, parent: 5, "a")
        cache[11] = node(11, parent: 5, "a")  // 11 renamed onto a, 10 not updated yet
        cache[10] = node(10, parent: nil, nil)  // then 10 is orphaned
        #expect(cache.child(of: 5, named: Array("a".utf8))?.id == 11)
    }

    @Test func namesFromMemoryFollowRenamesAndUnlinks() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let a = try h.writeFile(v1, "a", "A")
        let b = try h.writeFile(v1, "b", "B")
        // Looked up: both are in memory (the kernel holds a reference).
        #expect(try h.lookup(v1, "a").attributes.ino == a)
        #expect(try h.lookup(v1, "b").attributes.ino == b)
        try h.fileSystem.rename(parent: v1, name: Array("a".utf8), newParent: v1, newName: Array("b".utf8), mode: .replace)
        expectErrno(.noSuchFileOrDirectory) { _ = try h.lookup(v1, "a") }
        #expect(try h.lookup(v1, "b").attributes.ino == a)
        #expect(try h.readFile(a) == "A")
        try h.fileSystem.unlink(parent: v1, name: Array("b".utf8))
        expectErrno(.noSuchFileOrDirectory) { _ = try h.lookup(v1, "b") }
        expectErrno(.noSuchFileOrDirectory) { try h.fileSystem.unlink(parent: v1, name: Array("b".utf8)) }
        let c = try h.writeFile(v1, "b", "C")
        #expect(try h.lookup(v1, "b").attributes.ino == c, "a new file under a removed name")
    }
}

@Suite struct NodeCacheBoundTests {
    func node(_ id: Int64, parent: Int64? = 5) -> Node {
        Node(
            id: id, parentID: parent, name: Data("n\(id)".utf8), role: .file, mode: 0o644, uid: 0, gid: 0,
            size: 0, atimeNs: 0, mtimeNs: 0, ctimeNs: 0, linkTarget: nil, versionID: 7)
    }

    @Test func trimDropsTheOldestNodesItMayAndKeepsTheRest() {
        var cache = NodeCache()
        for id in Int64(1)...100 { cache[id] = node(id) }
        cache.trim(to: 60) { $0.id! % 10 == 0 }  // multiples of 10 must stay
        #expect(cache.count == 60)
        #expect((1...40).allSatisfy { cache[Int64($0)] == nil || $0 % 10 == 0 }, "the oldest went first")
        #expect([10, 20, 30, 40].allSatisfy { cache[Int64($0)] != nil }, "kept nodes stay however old")
        #expect(cache.child(of: 5, named: Array("n1".utf8)) == nil, "a dropped node's name goes with it")
        #expect(cache.child(of: 5, named: Array("n100".utf8))?.id == 100)
    }

    @Test func trimStopsWhenEverythingMustStay() {
        var cache = NodeCache()
        for id in Int64(1)...50 { cache[id] = node(id) }
        cache.trim(to: 10) { _ in true }
        #expect(cache.count == 50)
        cache.trim(to: 10) { _ in false }
        #expect(cache.count == 10, "the second-chance queue still holds every node")
    }

    @Test func churnDoesNotGrowTheQueueWithoutBound() {
        var cache = NodeCache()
        for round in 0..<200_000 {
            let id = Int64(round % 100)
            cache[id] = node(id)
            if round % 3 == 0 { cache[id] = nil }
        }
        #expect(cache.queueLength <= 2 * cache.count + 1024, "stale ids are compacted away")
        cache.trim(to: 0) { _ in false }
        #expect(cache.count == 0)
    }

    /// Through the facade: a listing of more files than the limit keeps the cache bounded, and
    /// every file still reads and looks up (from the catalog) afterwards.
    @Test func aListingOfManyFilesStaysBoundedAndEverythingStillWorks() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let count = Namespace.cachedNodesLimit + 5000
        let directory = try h.mkdir(v1, "d")
        for index in 0..<count {
            _ = try h.fileSystem.mkdir(parent: directory, name: Array("s\(index)".utf8), mode: 0o755, caller: h.caller)
        }
        #expect(h.fileSystem.namespace.withLockNonThrowing { h.fileSystem.namespace.nodes.count } <= Namespace.cachedNodesLimit)
        let opened = try h.fileSystem.opendir(directory)
        var offset: UInt64 = 0
        var seen = 0
        while true {
            var added = 0
            try h.fileSystem.readdir(handle: opened.handle, offset: offset, plus: true) { _, next in
                added += 1
                offset = next
                return true
            }
            if added == 0 { break }
            seen += added
        }
        h.fileSystem.releasedir(handle: opened.handle)
        #expect(seen >= count)
        #expect(h.fileSystem.namespace.withLockNonThrowing { h.fileSystem.namespace.nodes.count } <= Namespace.cachedNodesLimit)
        #expect(try h.lookup(directory, "s0").attributes.kind == .directory)
        try h.fileSystem.rmdir(parent: directory, name: Array("s1".utf8))
        expectErrno(.noSuchFileOrDirectory) { _ = try h.lookup(directory, "s1") }
    }
}
