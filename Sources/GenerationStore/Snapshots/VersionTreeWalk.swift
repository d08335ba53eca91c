// A version's files, directories and symlinks in archive order, read from a catalog snapshot.
import GRDB
import SeekableArchive

/// Walks the tree depth first with names in byte order, which is ``ArchivePathOrder`` (each
/// directory right before its contents). Every name is visited with the node it stands for: a
/// file with hard links comes once per name, the first time under the name that sorts first.
/// One cursor per directory level is open at a time, so memory follows the depth of the tree,
/// not its size.
enum VersionTreeWalk {
    /// With `changed`, only the directories it names are read. What did not change is not
    /// visited: `unchanged` hears where it is instead, in archive order among the visits (the
    /// previous archive holds it as it is).
    static func walk(
        _ db: Database, version: Int64, changed: ChangedTree? = nil,
        visit: (_ path: [UInt8], _ node: Node) throws -> Void,
        unchanged: (UnchangedEntries) throws -> Void = { _ in }
    ) throws {
        struct Level {
            var cursor: RecordCursor<Node>
            /// The directory's path followed by "/", or empty at the version root.
            var prefix: [UInt8]
            /// Every entry is visited (no `changed`, or below a directory it reads whole).
            var whole: Bool
            /// The directory's names are as they were (none added or removed): unchanged names
            /// next to each other are passed on as one run.
            var stable: Bool
            /// The first of the unchanged names met since the last visit.
            var unchangedFrom: [UInt8]? = nil
        }
        var levels = [
            Level(
                cursor: try Node.childCursor(db, parent: version), prefix: [], whole: changed == nil,
                stable: changed?.rootChanged == false)
        ]
        while let level = levels.last {
            let top = levels.count - 1
            guard let node = try levels[top].cursor.next() else {
                if let first = level.unchangedFrom { try unchanged(.names(first: first, end: nil, within: level.prefix)) }
                levels.removeLast()
                continue
            }
            guard node.role.isUserContent, let id = node.id else { continue }
            let path = level.prefix + node.nameBytes
            var unchangedBelow = false
            if !level.whole, let changed {
                let isUnchanged = node.ctimeNs <= changed.since
                    && !(node.role == .dir && (changed.listed.contains(id) || changed.readWhole.contains(id)))
                if isUnchanged && level.stable {
                    if level.unchangedFrom == nil { levels[top].unchangedFrom = path }
                    continue
                }
                if let first = level.unchangedFrom {
                    try unchanged(.names(first: first, end: path, within: level.prefix))
                    levels[top].unchangedFrom = nil
                }
                unchangedBelow = isUnchanged
            }
            if node.role == .hardLink {
                // A hard link visits its inode under this name too.
                guard let inodeID = node.inodeID, let inode = try Node.withID(db, inodeID) else { continue }
                try visit(path, inode)
                continue
            }
            try visit(path, node)
            guard node.role == .dir else { continue }
            let prefix = path + [UInt8(ascii: "/")]
            if unchangedBelow {
                try unchanged(.below(prefix))
                continue
            }
            let whole = level.whole || changed?.readWhole.contains(id) == true
            levels.append(
                Level(cursor: try Node.childCursor(db, parent: id), prefix: prefix, whole: whole, stable: true))
        }
    }
}

/// Entries of the previous archive a snapshot takes as they are, without reading the catalog
/// (``ChangedTree`` knows they did not change).
enum UnchangedEntries {
    /// Everything below a directory just visited: paths that start with `prefix` (its path and "/").
    case below([UInt8])
    /// Unchanged names of one directory that follow each other, and everything below them: from
    /// `first` up to, not including, `end` (nil: to the end of the directory whose path and "/"
    /// is `within`).
    case names(first: [UInt8], end: [UInt8]?, within: [UInt8])

    func contains(_ path: [UInt8]) -> Bool {
        switch self {
        case .below(let prefix):
            return path.starts(with: prefix)
        case .names(let first, let end, let within):
            return path.starts(with: within) && !ArchivePathOrder.areInIncreasingOrder(path, first)
                && end.map { ArchivePathOrder.areInIncreasingOrder(path, $0) } ?? true
        }
    }

    /// Entries before this path that were not taken yet are gone from the version.
    var first: [UInt8]? {
        if case .names(let first, _, _) = self { return first }
        return nil
    }
}
