// The complete list of names of directories this mount made: a directory created here starts
// empty, and every create, unlink, rmdir and rename in it is recorded, so a name it lacks is
// surely absent. Every new file costs a lookup that misses before its create; in such a
// directory that miss is answered from memory instead of a catalog query.
struct KnownChildren {
    private var names: [Int64: Set<[UInt8]>] = [:]
    private var count = 0
    /// Names kept in all; past it everything is forgotten and lookups ask the catalog again.
    let limit: Int

    init(limit: Int = 200_000) { self.limit = limit }

    /// True only when `directory`'s names are all known and `name` is not among them.
    func isSurelyAbsent(_ name: [UInt8], in directory: Int64) -> Bool {
        names[directory].map { !$0.contains(name) } ?? false
    }

    /// A directory made by this mount, empty.
    mutating func directoryCreated(_ directory: Int64) {
        guard names[directory] == nil else { return }
        names[directory] = []
    }

    mutating func added(_ name: [UInt8], to directory: Int64) {
        guard names[directory]?.insert(name).inserted == true else { return }
        count += 1
        if count > limit { self = KnownChildren(limit: limit) }
    }

    /// Call only once the removal is committed: a name dropped here is answered ENOENT.
    mutating func removed(_ name: [UInt8], from directory: Int64) {
        if names[directory]?.remove(name) != nil { count -= 1 }
    }

    mutating func directoryRemoved(_ directory: Int64) {
        count -= names.removeValue(forKey: directory)?.count ?? 0
    }
}
