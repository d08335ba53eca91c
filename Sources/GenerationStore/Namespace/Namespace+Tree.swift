// Changing the tree: mkdir (projects, generations, versions, user directories), create,
// symlink, unlink, rmdir and rename, with the placement rules of DESIGN §1 (link and mknod:
// Namespace+Links).
import Foundation
import GRDB

extension Namespace {
    public func mkdir(parent: InodeNumber, name: [UInt8], mode: UInt32, caller: Caller) throws(FSError) -> Entry {
        try NameRules.checkName(name)
        return try withLock { () throws(FSError) -> Entry in
            let directory = try realDirectoryLocked(parent, forCreating: name)
            let node: Node
            switch directory.role {
            case .projects: node = try createProjectLocked(in: directory, name: name, mode: mode, caller: caller)
            case .projectGenerations: node = try createGenerationLocked(in: directory, name: name, mode: mode, caller: caller)
            case .generation: node = try createVersionLocked(in: directory, name: name, mode: mode, caller: caller)
            case .version, .dir:
                // An existing name fails the insert with EEXIST (UNIQUE(parent_id, name)).
                let parent = try userDirectoryLocked(parent, forCreating: name, allowExisting: true)
                node = try insertUserNodeLocked(in: parent, name: name, role: .dir, mode: mode, caller: caller)
            default:
                throw FSError.notPermitted("only projects may be created in projects/, generations in generations/, "
                    + "versions in a generation and anything inside a version")
            }
            return entryLocked(node)
        }
    }

    public func symlink(target: [UInt8], parent: InodeNumber, name: [UInt8], caller: Caller) throws(FSError) -> Entry {
        try NameRules.checkName(name)
        return try withLock { () throws(FSError) -> Entry in
            let directory = try userDirectoryLocked(parent, forCreating: name)
            let node = try insertUserNodeLocked(
                in: directory, name: name, role: .symlink, mode: 0o777, caller: caller, linkTarget: target)
            return entryLocked(node)
        }
    }

    public func unlink(parent: InodeNumber, name: [UInt8]) throws(FSError) {
        try NameRules.checkName(name)
        try withLock { () throws(FSError) in
            let (directory, child) = try existingUserChildLocked(parent, name, action: "unlink")
            let inode = try inodeLocked(of: child)
            if inode.kind == .directory { throw FSError(.isDirectory, "is a directory: use rmdir") }
            try checkWritableLocked(directory)
            let now = changeClock.now()
            let removedBlob = try writeBatchedLocked("unlinking \(NameRules.printable(name))") { db in
                try self.removeNameLocked(child, of: inode, at: now, db)
            }
            if let removedBlob { removeContent(removedBlob) }
            touchDirectoryLaterLocked(directory, at: now)
            knownChildren.removed(name, from: directory.id ?? 0)
            touchVersionLocked(directory.versionID, at: now)
        }
    }

    public func rmdir(parent: InodeNumber, name: [UInt8]) throws(FSError) {
        try NameRules.checkName(name)
        try withLock { () throws(FSError) in
            let (directory, child) = try existingUserChildLocked(parent, name, action: "remove")
            guard child.kind == .directory, let childID = child.id else { throw FSError(.notDirectory, "not a directory") }
            try checkWritableLocked(directory)
            let now = changeClock.now()
            try writeBatchedLocked("removing directory \(NameRules.printable(name))") { db in
                if try Node.hasChildren(db, parent: childID) { throw FSError(.directoryNotEmpty, "directory not empty") }
                _ = try self.detachLocked(child, db)
                return ((), [Self.detached(child)] + (try self.countSubdirectoryLocked(directory.id, by: -1, db)))
            }
            touchDirectoryLaterLocked(directory, at: now)
            knownChildren.removed(name, from: directory.id ?? 0)
            knownChildren.directoryRemoved(childID)
            touchVersionLocked(directory.versionID, at: now)
        }
    }

    public func rename(
        parent: InodeNumber, name: [UInt8], newParent: InodeNumber, newName: [UInt8], mode: RenameMode
    ) throws(FSError) {
        try NameRules.checkName(name)
        try NameRules.checkName(newName)
        try withLock { () throws(FSError) in
            let (source, moving) = try existingUserChildLocked(parent, name, action: "rename")
            let movingInode = try inodeLocked(of: moving)
            try checkWritableLocked(source)
            let target = try userDirectoryLocked(newParent, forCreating: newName, allowExisting: true)
            guard source.versionID == target.versionID else {
                throw FSError(.improperLink, "cannot move entries between versions")
            }
            if mode == .exchange { throw FSError.invalid("RENAME_EXCHANGE is not supported") }
            let movesDirectory = movingInode.kind == .directory
            if movesDirectory, try isLocked(target, inside: moving) {
                throw FSError.invalid("cannot move a directory into itself")
            }
            let replaced = try childLocked(target, newName)
            var replacedInode: Node?
            if let replaced {
                if replaced.id == moving.id { return }
                let inode = try inodeLocked(of: replaced)
                // Two names of one file: rename does nothing (POSIX), both names stay.
                if inode.id == movingInode.id { return }
                if mode == .noReplace { throw FSError.exists("\(NameRules.printable(newName)) exists") }
                try checkReplaceableLocked(inode, by: movingInode)
                replacedInode = inode
            }
            let now = changeClock.now()
            var moved = moving
            moved.parentID = target.id
            moved.name = Data(newName)
            if moved.role != .hardLink { moved.ctimeNs = now.totalNanoseconds }
            // Batched like creates: the journal holds the replaced entry's removal, then the move.
            let removedBlob = try writeBatchedLocked("renaming \(NameRules.printable(name))") { db in
                var blob: InodeNumber?
                var rows: [Node] = []
                if let replaced, let replacedInode {
                    if replacedInode.kind == .directory {
                        blob = try self.detachLocked(replaced, db)
                        rows = [Self.detached(replaced)] + (try self.countSubdirectoryLocked(target.id, by: -1, db))
                    } else {
                        (blob, rows) = try self.removeNameLocked(replaced, of: replacedInode, at: now, db)
                    }
                }
                try moved.updateRow(db)
                rows.append(moved)
                if movesDirectory, source.id != target.id {
                    rows += try self.countSubdirectoryLocked(source.id, by: -1, db)
                    rows += try self.countSubdirectoryLocked(target.id, by: 1, db)
                }
                return (blob, rows)
            }
            if let removedBlob { removeContent(removedBlob) }
            touchDirectoryLaterLocked(source, at: now)
            if target.id != source.id { touchDirectoryLaterLocked(target, at: now) }
            knownChildren.removed(name, from: source.id ?? 0)
            knownChildren.added(newName, to: target.id ?? 0)
            if let replaced, replacedInode?.kind == .directory { knownChildren.directoryRemoved(replaced.id ?? 0) }
            if let id = moved.id, nodes[id] != nil { nodes[id] = moved }
            touchVersionLocked(source.versionID, at: now)
        }
    }

    // MARK: - Structure

    private func createProjectLocked(in projects: Node, name: [UInt8], mode: UInt32, caller: Caller) throws(FSError) -> Node {
        _ = try NameRules.parseID(name, what: "project")
        if try childLocked(projects, name) != nil { throw FSError.exists("project exists") }
        let now = changeClock.now()
        return try writeCatalogLocked("creating a project") { db in
            let project = try self.insertNode(in: projects, name: name, role: .project, mode: mode, caller: caller, now: now, db)
            _ = try self.insertNode(
                in: project, name: VirtualEntry.generations, role: .projectGenerations, mode: 0o755, caller: caller,
                now: now, db)
            return project
        }
    }

    private func createGenerationLocked(in container: Node, name: [UInt8], mode: UInt32, caller: Caller) throws(FSError) -> Node {
        let id = try NameRules.parseID(name, what: "generation")
        if try readCatalogLocked("looking up a generation", { try Node.generation($0, id: id) }) != nil {
            throw FSError.exists("generation id \(id) is already used (generation ids are unique in the mount)")
        }
        let now = changeClock.now()
        return try writeCatalogLocked("creating a generation") { db in
            try self.insertNode(in: container, name: name, role: .generation, mode: mode, caller: caller, now: now, db)
        }
    }

    private func createVersionLocked(in generation: Node, name: [UInt8], mode: UInt32, caller: Caller) throws(FSError) -> Node {
        guard let generationID = generation.id else { throw FSError.notFound() }
        let previous = latestVersion[generationID].flatMap { versions[$0] }
        let expected = (previous?.number ?? 0) + 1
        guard let number = NameRules.versionNumber(name) else {
            throw FSError.invalid("invalid version name \(NameRules.printable(name)): the next version is v\(expected)")
        }
        guard number == expected else {
            throw FSError.invalid("cannot create v\(number): the next version of this generation is v\(expected)")
        }
        let now = changeClock.now()
        let (node, record) = try writeCatalogLocked("creating a version") { db in
            var node = try self.insertNode(in: generation, name: name, role: .version, mode: mode, caller: caller, now: now, db)
            node.versionID = node.id
            node.links = 2
            try node.update(db)
            self.cacheLocked(node)
            let record = VersionRecord(
                nodeID: node.id ?? 0, generationNodeID: generationID, number: number, sealed: false,
                createdAtNs: now.totalNanoseconds, updatedAtNs: now.totalNanoseconds)
            try record.insert(db)
            if var previous {
                previous.sealed = true
                try previous.update(db)
            }
            return (node, record)
        }
        if var previous {
            previous.sealed = true
            versions[previous.nodeID] = previous
            openFiles.markSealed(previous.nodeID)
            logger.info("v\(previous.number) of \(NameRules.printable(generation.nameBytes)) sealed by creating v\(number)")
        }
        versions[record.nodeID] = record
        latestVersion[generationID] = record.nodeID
        knownChildren.directoryCreated(record.nodeID)
        // The quiet period starts now: a version is not packed (and uploaded) empty the moment
        // `mkdir` makes it, before the tool has had time to write into it.
        snapshots.startQuietPeriod(record.nodeID)
        return node
    }

    // MARK: - Placement checks

    /// The real directory `ino`, into which `name` is about to be created.
    func realDirectoryLocked(_ ino: InodeNumber, forCreating name: [UInt8]) throws(FSError) -> Node {
        if let virtual = VirtualEntry(ino: ino) {
            if virtual.kind.fileKind == .directory { throw FSError.notPermitted("generations/ and active/ are views: create under projects/") }
            throw FSError(.notDirectory, "not a directory")
        }
        let directory = try nodeLocked(ino: ino)
        guard directory.kind == .directory else { throw FSError(.notDirectory, "not a directory") }
        if directory.role == .version, NameRules.versionReservedNames.contains(name) {
            throw FSError.accessDenied("\(NameRules.printable(name)) is reserved for a virtual file at the root of a version")
        }
        return directory
    }

    /// A version or a directory inside one, into which a user entry called `name` goes.
    func userDirectoryLocked(_ ino: InodeNumber, forCreating name: [UInt8], allowExisting: Bool = false) throws(FSError) -> Node {
        let directory = try realDirectoryLocked(ino, forCreating: name)
        guard directory.role == .version || directory.role == .dir else {
            throw FSError.notPermitted("files can only be created inside a version (projects/<p>/generations/<g>/v<n>/)")
        }
        try checkWritableLocked(directory)
        if !allowExisting, try childLocked(directory, name) != nil {
            throw FSError.exists("\(NameRules.printable(name)) exists")
        }
        return directory
    }

    /// The user entry `name` in `parent`, refusing virtual and structural entries.
    private func existingUserChildLocked(_ parent: InodeNumber, _ name: [UInt8], action: String) throws(FSError) -> (Node, Node) {
        if VirtualEntry(ino: parent) != nil { throw FSError.notPermitted("cannot \(action) entries of a view") }
        let directory = try nodeLocked(ino: parent)
        if VirtualEntry.named(name, in: directory) != nil {
            throw FSError.notPermitted("cannot \(action) the virtual entry \(NameRules.printable(name))")
        }
        guard let child = try childLocked(directory, name) else { throw FSError.notFound() }
        guard child.role.isUserContent else {
            throw FSError.notPermitted("cannot \(action) \(NameRules.printable(name)): it is part of the fixed layout")
        }
        return (directory, child)
    }

    private func checkReplaceableLocked(_ replaced: Node, by moving: Node) throws(FSError) {
        switch (moving.kind == .directory, replaced.kind == .directory) {
        case (true, false): throw FSError(.notDirectory, "cannot replace a non-directory with a directory")
        case (false, true): throw FSError(.isDirectory, "cannot replace a directory with a non-directory")
        case (true, true):
            let replacedID = replaced.id ?? 0
            if try readCatalogLocked("checking a directory", { try Node.hasChildren($0, parent: replacedID) }) {
                throw FSError(.directoryNotEmpty, "the directory to replace is not empty")
            }
        case (false, false): break
        }
    }

    /// Whether `directory` is `ancestor` or lies below it.
    private func isLocked(_ directory: Node, inside ancestor: Node) throws(FSError) -> Bool {
        var current = directory
        while current.role == .dir || current.role == .version {
            if current.id == ancestor.id { return true }
            guard let parentID = current.parentID else { return false }
            current = try nodeLocked(parentID)
        }
        return false
    }

    // MARK: - Rows

    func insertUserNodeLocked(
        in directory: Node, name: [UInt8], role: NodeRole, mode: UInt32, caller: Caller, linkTarget: [UInt8]? = nil,
        rdev: UInt64 = 0, id: Int64? = nil
    ) throws(FSError) -> Node {
        let now = changeClock.now()
        // Anything but a directory is one INSERT (a directory also updates its parent's link count).
        let node = try writeBatchedLocked("creating \(NameRules.printable(name))", singleStatement: role != .dir) {
            db -> (Node, [Node]) in
            var node = Node(
                id: id, parentID: directory.id, name: Data(name), role: role, mode: mode & 0o7777, uid: caller.uid,
                gid: caller.gid, size: Int64(linkTarget?.count ?? 0), atimeNs: now.totalNanoseconds,
                mtimeNs: now.totalNanoseconds, ctimeNs: now.totalNanoseconds, linkTarget: linkTarget.map { Data($0) },
                versionID: directory.versionID, links: role == .dir ? 2 : 1, rdev: rdev)
            do {
                try node.insertRow(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                // UNIQUE(parent_id, name): create() relies on it instead of looking the name up first.
                throw FSError.exists("\(NameRules.printable(name)) exists")
            }
            guard role == .dir else { return (node, [node]) }
            // The parent's row is written once, with its new times and link count.
            self.touchDirectoryLaterLocked(directory, at: now)
            return (node, [node] + (try self.countSubdirectoryLocked(directory.id, by: 1, db)))
        }
        knownChildren.added(name, to: directory.id ?? 0)
        if role == .dir { knownChildren.directoryCreated(node.id ?? 0) }
        if role != .dir { touchDirectoryLaterLocked(directory, at: now) }
        // A file's blob is made ahead (`id` from the BlobPool) or when create() opens it
        // (BlobStore.open creates a missing blob).
        touchVersionLocked(directory.versionID, at: now)
        cacheLocked(node)
        references.addLookup(node.id ?? 0)
        return node
    }

    private func insertNode(
        in directory: Node, name: [UInt8], role: NodeRole, mode: UInt32, caller: Caller, now: Timespec, _ db: Database
    ) throws -> Node {
        var node = Node(
            id: nil, parentID: directory.id, name: Data(name), role: role, mode: mode & 0o7777, uid: caller.uid,
            gid: caller.gid, size: 0, atimeNs: now.totalNanoseconds, mtimeNs: now.totalNanoseconds,
            ctimeNs: now.totalNanoseconds, linkTarget: nil, versionID: nil)
        try node.insertRow(db)
        try touchDirectory(directory, at: now, db)
        if role != .projectGenerations {
            cacheLocked(node)
            references.addLookup(node.id ?? 0)
        }
        return node
    }

    /// A directory's mtime and ctime follow changes to its entries.
    private func touchDirectory(_ directory: Node, at time: Timespec, _ db: Database) throws {
        guard let id = directory.id else { return }
        var current = nodes[id] ?? directory
        current.mtimeNs = time.totalNanoseconds
        current.ctimeNs = time.totalNanoseconds
        try current.updateAttributes(db)
        if nodes[id] != nil { nodes[id] = current }
    }

    /// touchDirectory kept in memory: the times are written by the next saveDirtyLocked.
    func touchDirectoryLaterLocked(_ directory: Node, at time: Timespec) {
        guard let id = directory.id else { return }
        var current = nodes[id] ?? directory
        current.mtimeNs = time.totalNanoseconds
        current.ctimeNs = time.totalNanoseconds
        nodes[id] = current
        dirtyNodes.insert(id)
    }

    /// What the create journal records for an unlink or rmdir, which joins the batch of creates:
    /// the node without parent or name. Replayed after a kill -9, that row is an orphan, and the
    /// mount removes orphans and their content (`removeOrphans`), so the removal is not undone.
    static func detached(_ node: Node) -> Node {
        var gone = node
        gone.parentID = nil
        gone.name = nil
        gone.links = 0
        return gone
    }

    /// Takes `node` out of the tree: deleted now, or kept nameless while a handle still reads it.
    /// Returns the inode whose blob the caller removes once the removal is durable: committed, or
    /// journaled in the batch (a rolled-back unlink must not have lost the content).
    func detachLocked(_ node: Node, _ db: Database) throws -> InodeNumber? {
        guard let id = node.id else { return nil }
        if references.isOpen(id) {
            var orphan = nodes[id] ?? node
            orphan.parentID = nil
            orphan.name = nil
            orphan.links = 0
            try orphan.updateRow(db)
            nodes[id] = orphan
            return nil
        }
        try node.deleteRow(db)
        nodes[id] = nil
        dirtyNodes.remove(id)
        return node.role == .file ? node.ino : nil
    }
}
