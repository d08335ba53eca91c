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
