// A version's files, directories and symlinks in archive order, read from a catalog snapshot.
import GRDB
import SeekableArchive

/// Walks the tree depth first with names in byte order, which is ``ArchivePathOrder`` (each
/// directory right before its contents). Every name is visited with the node it stands for: a
/// file with hard links comes once per name, the first time under the name that sorts first. One cursor per directory level is open at a time, so
/// memory follows the depth of the tree, not its size.
enum VersionTreeWalk {
    static func walk(_ db: Database, version: Int64, visit: (_ path: [UInt8], _ node: Node) throws -> Void) throws {
        struct Level {
            var cursor: RecordCursor<Node>
            /// The directory's path followed by "/", or empty at the version root.
            var prefix: [UInt8]
        }
        var levels = [Level(cursor: try Node.childCursor(db, parent: version), prefix: [])]
        while let level = levels.last {
            guard let node = try levels[levels.count - 1].cursor.next() else {
                levels.removeLast()
                continue
            }
            guard node.role.isUserContent, let id = node.id else { continue }
            let path = level.prefix + node.nameBytes
            if node.role == .hardLink {
                // A hard link visits its inode under this name too.
                guard let inodeID = node.inodeID, let inode = try Node.withID(db, inodeID) else { continue }
                try visit(path, inode)
                continue
            }
            try visit(path, node)
            if node.role == .dir {
                levels.append(Level(cursor: try Node.childCursor(db, parent: id), prefix: path + [UInt8(ascii: "/")]))
            }
        }
    }
}
