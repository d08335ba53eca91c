// Hard links, special files (mknod) and link counts inside a version (DESIGN §1; the rows are
// described at NodeRole and Node.links).
import Foundation
import GRDB

extension Namespace {
    /// Gives the file (symlink, special file) `ino` the new name `newName` in `newParent`.
    public func link(_ ino: InodeNumber, newParent: InodeNumber, newName: [UInt8]) throws(FSError) -> Entry {
        try NameRules.checkName(newName)
        return try withLock { () throws(FSError) -> Entry in
            if VirtualEntry(ino: ino) != nil { throw FSError.notPermitted("virtual files cannot be hard-linked") }
            var inode = try nodeLocked(ino: ino)
            guard inode.kind != .directory else {
                throw FSError.notPermitted(
                    inode.role.isUserContent ? "directories cannot be hard-linked" : "the fixed layout cannot be hard-linked")
            }
            guard !inode.isUnlinked, let inodeID = inode.id else { throw FSError.notFound("the file has no name left") }
            let directory = try userDirectoryLocked(newParent, forCreating: newName)
            try checkWritableLocked(inode)
            guard inode.versionID == directory.versionID else {
                throw FSError(.improperLink, "hard links cannot cross versions")
            }
            let now = changeClock.now()
            inode.links += 1
            inode.ctimeNs = now.totalNanoseconds
            try writeBatchedLocked("linking \(NameRules.printable(newName))") { [inode] db -> ((), [Node]) in
                var name = Node.hardLink(newName, in: directory, to: inodeID)
                do {
                    try name.insertRow(db)
                } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                    throw FSError.exists("\(NameRules.printable(newName)) exists")
                }
                try inode.updateRow(db)
                return ((), [name, inode])
            }
            cacheLocked(inode)
            references.addLookup(inodeID)
            knownChildren.added(newName, to: directory.id ?? 0)
            touchDirectoryLaterLocked(directory, at: now)
            touchVersionLocked(directory.versionID, at: now)
            return entryLocked(inode)
        }
    }

    /// A regular file, FIFO, socket or device node called `name` (mkfifo, bind of a Unix socket,
    /// mknod). The kernel has already refused device nodes to callers without CAP_MKNOD.
    public func mknod(parent: InodeNumber, name: [UInt8], mode: UInt32, rdev: UInt64, caller: Caller) throws(FSError) -> Entry {
        try NameRules.checkName(name)
        guard let role = NodeRole.made(byMknod: mode & 0o170000) else {
            throw FSError.invalid("mknod: file type \(String(mode & 0o170000, radix: 8)) cannot be created")
        }
        return try withLock { () throws(FSError) -> Entry in
            let directory = try userDirectoryLocked(parent, forCreating: name, allowExisting: true)
            let node = try insertUserNodeLocked(
                in: directory, name: name, role: role, mode: mode, caller: caller, rdev: role.kind.isDevice ? rdev : 0)
            // A regular file has a blob from the start (create() makes it when it opens the file).
            if role == .file { try? blobs.open(node.ino, writable: true, append: false).close() }
            return entryLocked(node)
        }
    }

    /// The node a name stands for: the row itself, or a hard link's inode.
    func inodeLocked(of name: Node) throws(FSError) -> Node {
        guard name.role == .hardLink else { return name }
        guard let id = name.inodeID else { throw FSError(.ioError, "catalog: hard link \(name.id ?? 0) names no file") }
        return try nodeLocked(id)
    }

    /// Removes the name row `name` of `inode` (not a directory): a hard link row is deleted, the
    /// inode's own name is cleared, and the inode goes with its last name (`detachLocked`).
    /// Returns the blob to remove once the change is durable, and the rows for the journal.
    func removeNameLocked(_ name: Node, of inode: Node, at now: Timespec, _ db: Database) throws -> (InodeNumber?, [Node]) {
        var rows: [Node] = []
        if name.role == .hardLink {
            try name.deleteRow(db)
            rows.append(Self.detached(name))
        }
        guard inode.links > 1 else {
            let blob = try detachLocked(inode, db)
            return (blob, rows + [Self.detached(inode)])
        }
        var remaining = inode
        remaining.links -= 1
        remaining.ctimeNs = now.totalNanoseconds
        if name.role != .hardLink {
            remaining.parentID = nil
            remaining.name = nil
        }
        try remaining.updateRow(db)
        if let id = remaining.id, nodes[id] != nil { nodes[id] = remaining }
        return (nil, rows + [remaining])
    }

    /// A directory gained (+1) or lost (-1) a subdirectory: its link count follows, as on ext4.
    /// Structure and directories of bucket versions not listed yet are not counted (they show 1).
    /// Returns the changed row for the journal. The whole row is written, so times waiting in
    /// memory (`touchDirectoryLaterLocked`) are saved with it.
    func countSubdirectoryLocked(_ directoryID: Int64?, by change: Int, _ db: Database) throws -> [Node] {
        guard let directoryID, var directory = try nodes[directoryID] ?? Node.withID(db, directoryID),
            directory.role == .dir || directory.role == .version, directory.links >= 2
        else { return [] }
        directory.links = UInt32(max(2, Int(directory.links) + change))
        try directory.updateRow(db)
        if nodes[directoryID] != nil { nodes[directoryID] = directory }
        dirtyNodes.remove(directoryID)
        return [directory]
    }
}
