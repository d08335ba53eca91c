// The nodes the namespace holds in memory (those the kernel or a handle refers to, and those with
// unsaved changes), by inode and by name in their directory. `rm -rf` and `rename` look up names
// the kernel has just looked up: found here, they cost no catalog query (which was the largest
// part of an unlink). Only hits count: a name missing here may still be in the catalog.
import Foundation

struct NodeCache {
    private struct NameKey: Hashable {
        var parent: Int64
        var name: Data
    }

    private var byID: [Int64: Node] = [:]
    private var byName: [NameKey: Int64] = [:]

    /// Storing a node also files it under its current directory and name (none for the nameless).
    subscript(id: Int64) -> Node? {
        get { byID[id] }
        set {
            if let old = byID[id], let key = Self.key(old), byName[key] == id { byName[key] = nil }
            byID[id] = newValue
            if let newValue, let key = Self.key(newValue) { byName[key] = id }
        }
    }

    /// The cached node called `name` in directory `parent`, if it is cached.
    func child(of parent: Int64, named name: [UInt8]) -> Node? {
        byName[NameKey(parent: parent, name: Data(name))].flatMap { byID[$0] }
    }

    var count: Int { byID.count }

    private static func key(_ node: Node) -> NameKey? {
        guard let parent = node.parentID, let name = node.name else { return nil }
        return NameKey(parent: parent, name: name)
    }
}
