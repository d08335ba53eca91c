// Which directories an incremental snapshot must read from the catalog, found from the nodes
// changed since the version's previous snapshot (an index on version and ctime finds them
// without reading the others). Every other directory is as it was then, at the same path, and
// its entries are copied from the previous archive.
import GRDB

/// The parts of a version's tree that changed after `since` (a snapshot's change-clock stamp).
///
/// Why a subtree left out is unchanged: every change stamps a ctime from a clock that only runs
/// forwards. A new, removed or renamed entry stamps its directory (and a renamed node itself),
/// a write or attribute change stamps the node. So a directory whose own ctime is not later,
/// below directories whose ctimes are not later either, with no later ctime inside, still has
/// the path and every entry it had. A directory whose own entry changed is read whole (it may
/// have been renamed: its entries' paths are new).
struct ChangedTree {
    /// The previous snapshot's stamp: entries whose ctime is not later are as they were then.
    let since: Int64
    /// Directories whose children are read one by one, because something below them changed.
    private(set) var listed: Set<Int64> = []
    /// Directories whose own entry changed: read whole, every level below them.
    private(set) var readWhole: Set<Int64> = []
    /// The version directory itself changed: names were added to it or removed, so its unchanged
    /// names are taken one by one, not as runs (a run would bring back a removed name between them).
    private(set) var rootChanged = false

    /// Nil when the version must be read whole anyway: it has hard links (the first name of a
    /// file in archive order carries its data, so a change through one name moves another).
    static func find(_ db: Database, version: Int64, since: Int64) throws -> ChangedTree? {
        guard try !Node.hasHardLinks(db, version: version) else { return nil }
        var tree = ChangedTree(since: since)
        tree.listed.insert(version)
        try Node.forEachChanged(db, version: version, since: since) { id, parent, role in
            if id == version {
                tree.rootChanged = true
                return
            }
            guard let parent else { return }  // unlinked while open: in no listing
            if role == .dir { tree.readWhole.insert(id) }
            try tree.list(parent, db)
        }
        return tree
    }

    /// Lists `directory` and every directory above it in the version.
    private mutating func list(_ directory: Int64, _ db: Database) throws {
        var next: Int64? = directory
        while let id = next, listed.insert(id).inserted {
            next = try Node.parentID(db, of: id)
        }
    }
}
