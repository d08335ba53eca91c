// The nodes the namespace holds in memory (those with unsaved changes or open handles, and the
// most recent of those the kernel refers to), by inode and by name in their directory. `rm -rf`
// and `rename` look up names the kernel has just looked up: found here, they cost no catalog
// query (which was the largest part of an unlink). Only hits count: a name missing here may
// still be in the catalog. Bounded: `trim` drops the oldest nodes its owner can do without.
import Foundation

struct NodeCache {
    private struct NameKey: Hashable {
        var parent: Int64
        var name: Data
    }

    private var byID: [Int64: Node] = [:]
    private var byName: [NameKey: Int64] = [:]
    /// Ids in the order they were cached, oldest from `head` on: the trim's queue. It may hold
    /// ids no longer cached, and an id twice; `compactQueue` keeps it in proportion.
    private var queue: [Int64] = []
    private var head = 0

    /// Storing a node also files it under its current directory and name (none for the nameless).
    subscript(id: Int64) -> Node? {
        get { byID[id] }
        set {
            let old = byID[id]
            if let old, let key = Self.key(old), byName[key] == id { byName[key] = nil }
            byID[id] = newValue
            if let newValue, let key = Self.key(newValue) { byName[key] = id }
            if old == nil && newValue != nil {
                queue.append(id)
                if queue.count - head > 2 * byID.count + 1024 { compactQueue() }
            }
        }
    }

    /// Drops the oldest nodes until at most `limit` are cached, except those `keep` holds on to,
    /// which go to the back of the queue (a second chance). Looks at each queued id at most once.
    mutating func trim(to limit: Int, keeping keep: (Node) -> Bool) {
        var budget = queue.count - head
        while byID.count > limit, budget > 0 {
            let id = queue[head]
            head += 1
            budget -= 1
            guard let node = byID[id] else { continue }
            if keep(node) { queue.append(id) } else { self[id] = nil }
        }
        if head > 1024 && head * 2 > queue.count { compactQueue() }
    }

    /// The queue without ids no longer cached and without repeats, oldest first.
    private mutating func compactQueue() {
        var seen = Set<Int64>(minimumCapacity: byID.count)
        queue = queue[head...].filter { byID[$0] != nil && seen.insert($0).inserted }
        head = 0
    }

    /// The cached node called `name` in directory `parent`, if it is cached.
    func child(of parent: Int64, named name: [UInt8]) -> Node? {
        byName[NameKey(parent: parent, name: Data(name))].flatMap { byID[$0] }
    }

    var count: Int { byID.count }
    /// Ids waiting in the trim's queue (some may be stale).
    var queueLength: Int { queue.count - head }

    private static func key(_ node: Node) -> NameKey? {
        guard let parent = node.parentID, let name = node.name else { return nil }
        return NameKey(parent: parent, name: name)
    }
}
