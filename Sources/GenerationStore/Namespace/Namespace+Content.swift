// File content: create, open, read, write, flush, fsync, release, and setattr (truncate, chmod,
// chown, utimens). Data goes straight to the blob with pread/pwrite; sizes and times are kept
// in memory and written to the catalog with the next create, on fsync and when many wait.
import Foundation
import SystemPackage

extension Namespace {
    public func create(
        parent: InodeNumber, name: [UInt8], mode: UInt32, flags: Int32, caller: Caller
    ) throws(FSError) -> (Entry, OpenedFile) {
        try NameRules.checkName(name)
        return try withLock { () throws(FSError) -> (Entry, OpenedFile) in
            // The kernel sends create only after a lookup missed, so the name is not looked up
            // again: the insert refuses an existing name with EEXIST (UNIQUE(parent_id, name)).
            let directory = try userDirectoryLocked(parent, forCreating: name, allowExisting: true)
            let (pooled, runningLow) = blobPool.take()
            if runningLow { wakeups.blobsWanted() }
            let node: Node
            do throws(FSError) {
                node = try insertUserNodeLocked(in: directory, name: name, role: .file, mode: mode, caller: caller, id: pooled)
            } catch {
                if let pooled { blobPool.giveBack(pooled) }
                throw error
            }
            // A write-only creator's writes bypass the page cache (see `addBlobHandleLocked`).
            let opened = try openBlobLocked(node, flags: flags, made: pooled != nil, uncached: flags & O_ACCMODE == O_WRONLY)
            return (entryLocked(node), opened)
        }
    }

    public func open(_ ino: InodeNumber, flags: Int32) throws(FSError) -> OpenedFile {
        if let virtual = VirtualEntry(ino: ino), !Self.isWriting(flags) {
            try snapshotBeforeAnswering(virtual)
        }
        let writing = Self.isWriting(flags) || flags & O_TRUNC != 0
        // Content left in the bucket: a cached copy opens at once; otherwise the file is fetched
        // (and pinned in the cache until it is open) or, for a writer, made local, then opened.
        var pinned: Int64?
        defer { unpin(pinned) }
        for _ in 0..<4 {
            let opened = try withLock { () throws(FSError) -> OpenedFile? in
                if let virtual = VirtualEntry(ino: ino) {
                    if Self.isWriting(flags) { throw FSError.accessDenied("virtual files are read-only") }
                    let content = try virtualContentLocked(virtual)
                    return OpenedFile(handle: openFiles.add(.computed(content)), directIO: true, keepCache: false)
                }
                let node = try nodeLocked(ino: ino)
                guard node.role == .file else { throw FSError(.isDirectory, "not a regular file") }
                if writing { try checkWritableLocked(node) }
                if node.archivePath != nil {
                    if writing { return nil }
                    return try openCachedLocked(node)
                }
                if flags & O_TRUNC != 0, node.size > 0 {
                    try truncateLocked(node, to: 0)
                }
                return try openBlobLocked(try nodeLocked(ino: ino), flags: flags)
            }
            if let opened { return opened }
            unpin(pinned)
            pinned = nil
            pinned = try prepareRemoteContent(ino, forWriting: writing)
        }
        throw FSError(.ioError, "the content of inode \(ino) could not be kept in the cache long enough to open it")
    }

    /// Commits what was written through the handle. The FUSE adapter does not ask for it on
    /// close (sizes are recoverable from the blobs, FileSystem+Recovery.swift); callers may.
    public func flush(handle: UInt64) throws(FSError) {
        guard case .blob(let blob) = try openFiles.file(handle), blob.writable else { return }
        try withLock { () throws(FSError) in try saveDirtyLocked() }
    }

    public func fsync(handle: UInt64, dataOnly: Bool) throws(FSError) {
        guard case .blob(let blob) = try openFiles.file(handle) else { return }
        let result = dataOnly ? fdatasync(blob.descriptor.rawValue) : Glibc.fsync(blob.descriptor.rawValue)
        if result != 0 { throw FSError(Errno(rawValue: errno), "syncing inode \(blob.nodeID)") }
        try withLock { () throws(FSError) in try saveDirtyLocked() }
        do {
            try catalog.checkpoint()
        } catch {
            throw FSError.wrapping(error, "syncing the catalog")
        }
    }

    public func release(handle: UInt64) {
        guard case .blob(let blob) = openFiles.remove(handle) else { return }
        try? blob.descriptor.close()
        lock.lock()
        defer { lock.unlock() }
        takeWrittenLocked(blob.nodeID)
        // The size need not be committed here: after a crash it is recovered from the blob
        // (FileSystem+Recovery.swift). The snapshotter's thread saves it with the next batch
        // commit (saveChangesInBackground), as do a snapshot, fsync or status read; a request
        // saves sizes itself only once many are waiting.
        if dirtyNodes.count >= Self.unsavedNodesLimit {
            do {
                try saveDirtyLocked()
            } catch {
                logger.error("could not save the size of inode \(blob.nodeID) on close: \(error)")
            }
        }
        if references.closed(blob.nodeID) { releaseIfUnreferencedLocked(blob.nodeID) }
    }

    public func setattr(_ ino: InodeNumber, changes: AttributeChanges) throws(FSError) -> Entry {
        if changes.size != nil { unpin(try prepareRemoteContent(ino, forWriting: true)) }
        return try withLock { () throws(FSError) -> Entry in
            if VirtualEntry(ino: ino) != nil { throw FSError.notPermitted("virtual entries cannot be changed") }
            var node = try nodeLocked(ino: ino)
            try checkWritableLocked(node)
            if let size = changes.size {
                guard node.role == .file else { throw FSError(.isDirectory, "only regular files can be truncated") }
                try truncateLocked(node, to: size)
                node = try nodeLocked(ino: ino)
            }
            let now = changeClock.now()
            if let mode = changes.mode { node.mode = mode & 0o7777 }
            if let uid = changes.uid { node.uid = uid }
            if let gid = changes.gid { node.gid = gid }
            if let atime = changes.atime { node.atimeNs = atime.totalNanoseconds }
            if let mtime = changes.mtime { node.mtimeNs = mtime.totalNanoseconds }
            node.ctimeNs = now.totalNanoseconds
            let updated = node
            if node.role == .version, changes.mode.map({ $0 & 0o222 == 0 }) == true {
                let sealedVersion = try writeCatalogLocked("sealing a version") { db -> VersionRecord? in
                    try updated.updateRow(db)
                    guard var version = self.versions[updated.id ?? 0] else { return nil }
                    version.sealed = true
                    version.updatedAtNs = now.totalNanoseconds
                    try version.update(db)
                    return version
                }
                if let sealedVersion {
                    versions[sealedVersion.nodeID] = sealedVersion
                    openFiles.markSealed(sealedVersion.nodeID)
                    logger.info("v\(sealedVersion.number) sealed by chmod a-w")
                }
            } else {
                // Like a create, waits for the batch commit: `cp -a` and `tar -x` set times and
                // modes on every file they write.
                try writeBatchedLocked("changing attributes") { db in
                    try updated.updateRow(db)
                    return ((), [updated])
                }
                touchVersionLocked(node.versionID, at: now)
            }
            if let id = node.id, nodes[id] != nil { nodes[id] = node }
            return entryLocked(node)
        }
    }

    // MARK: - Helpers

    static func isWriting(_ flags: Int32) -> Bool { flags & O_ACCMODE != O_RDONLY }

    private func openBlobLocked(
        _ node: Node, flags: Int32, made: Bool = false, uncached: Bool = false
    ) throws(FSError) -> OpenedFile {
        let writable = Self.isWriting(flags)
        let append = flags & O_APPEND != 0
        return try addBlobHandleLocked(
            node, try blobs.open(node.ino, writable: writable, append: append, made: made), writable: writable,
            append: append, uncached: uncached)
    }

    /// Opens the cached copy of a remote-only file; nil if clean-up removed it meanwhile.
    private func openCachedLocked(_ node: Node) throws(FSError) -> OpenedFile? {
        guard let id = node.id, let descriptor = try fetched.open(id, ino: node.ino) else { return nil }
        return try addBlobHandleLocked(node, descriptor, writable: false, append: false)
    }

    /// With `uncached` (a write-only create), the handle bypasses the page cache (direct I/O):
    /// the kernel then sends its writes without the page cache's work and without asking for the
    /// file's security.capability attribute before each (a third fewer requests per small created
    /// file). Nothing is lost: a write-only handle cannot be read or mapped, and the next open of a
    /// file in an open version drops its cached pages anyway. A reader that opened the file
    /// meanwhile still reads every write: each one changes the file's mtime and size, and the
    /// kernel drops cached pages when it sees them change (libfuse's default auto_inval_data).
    private func addBlobHandleLocked(
        _ node: Node, _ descriptor: FileDescriptor, writable: Bool, append: Bool, uncached: Bool = false
    ) throws(FSError) -> OpenedFile {
        guard let id = node.id, let versionID = node.versionID else {
            try? descriptor.close()
            throw FSError.notFound()
        }
        cacheLocked(nodes[id] ?? node)
        references.opened(id)
        versionLastUsedNs[versionID] = Timespec.now().totalNanoseconds
        let sealed = versions[versionID]?.sealed == true
        let blob = BlobHandle(nodeID: id, versionID: versionID, descriptor: descriptor, writable: writable, append: append)
        return OpenedFile(handle: openFiles.add(.blob(blob)), directIO: uncached, keepCache: sealed)
    }

    private func truncateLocked(_ node: Node, to size: UInt64) throws(FSError) {
        guard let id = node.id else { return }
        try blobs.truncate(node.ino, size: size)
        var changed = nodes[id] ?? node
        let now = changeClock.now()
        changed.size = Int64(size)
        changed.mtimeNs = now.totalNanoseconds
        changed.ctimeNs = now.totalNanoseconds
        let saved = changed
        try writeCatalogLocked("truncating") { db in try saved.update(db) }
        nodes[id] = changed
        dirtyNodes.remove(id)
        touchVersionLocked(node.versionID, at: now)
    }
}
