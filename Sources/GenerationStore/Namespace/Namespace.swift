// The namespace: the catalog-backed tree of projects, generations, versions and their files,
// the naming and lifecycle rules of DESIGN §1–§2 and §8, attributes, the kernel's lookup counts,
// versions and sealing. GenerationFileSystem composes it with the other components for the FUSE
// adapter; the namespace calls them (open files, the snapshotter, the upload queue, fetched files)
// through their own interfaces.
//
// Locking (order in docs/ARCHITECTURE.md): `lock` guards the namespace's state below and its
// catalog writes, so the cache and the catalog change together. File data moves without it:
// OpenFiles finds the handle, pread/pwrite move the bytes, and OpenFiles records what a write did
// until the namespace takes it (`takeWrittenLocked`). Helpers whose names end in `Locked` expect
// the lock to be held. `snapshots.packing` serializes snapshots; it is taken before `lock`,
// never while holding it. The components it calls have leaf locks of their own.
import Foundation
import GRDB
import Logging
import SeekableArchive
import SupabaseStorage
import SystemPackage

final class Namespace: @unchecked Sendable {
    let catalog: Catalog
    let blobs: BlobStore
    let blobPool: BlobPool
    let configuration: Configuration
    let logger: Logger
    let owner: Caller
    let archivesRoot: FilePath
    /// Where the catalog, blobs and archives live; status.json names it so `unmount` finds the daemon.
    let dataDirectory: DataDirectory
    // The components the namespace calls, each with its own lock:
    let openFiles: OpenFiles
    let snapshots: Snapshotter
    let uploads: UploadQueue
    let fetched: FetchedFiles
    let listings: ListingSchedule
    let readahead: ListingReadahead
    /// One discovery per version of the bucket however many listings find it at once.
    let discoveries = SingleFlight<String>()
    let wakeups: Wakeups
    /// The bucket versions are uploaded to; nil when USE_CLOUD_STORAGE=false.
    let connection: RemoteConnection?
    var remote: (any ObjectStore)? { connection?.store }

    /// Seconds the kernel may cache entries and attributes of the structure (projects, generations),
    /// which the bucket listing changes behind its back.
    static let structureTimeout = 1.0
    /// Seconds for everything inside a version: sealed content never changes, and open versions
    /// change only through this mount's kernel, which updates its own copy (ARCHITECTURE.md,
    /// "Kernel caching"). Saves the GETATTR before every unlink of an `rm -rf`.
    static let versionTimeout = 86_400.0

    let lock = NSLock()
    // Guarded by `lock`:
    var nodes = NodeCache()
    /// Nodes whose size, times, mode or owner changed since they were last written to the
    /// catalog (saveDirtyLocked writes only those columns; other changes are written at once).
    var dirtyNodes: Set<Int64> = []
    var versions: [Int64: VersionRecord] = [:]
    /// Nodes kept in `nodes` beyond those that must stay; a million-file version would otherwise keep
    /// every node the kernel holds (about 300 bytes each). Those dropped are read again on demand.
    /// (65 536 until hard links added three fields to a node: the million-file run then peaked at
    /// 152 MB, over issue 13's 150.)
    static let cachedNodesLimit = 49_152
    /// How many nodes may wait in `dirtyNodes` after a release before it saves them itself.
    static let unsavedNodesLimit = 256
    /// Versions changed by touchVersionLocked (updated time, dirty) since they were last saved.
    var dirtyVersions: Set<Int64> = []
    /// Names of the directories this mount made, for lookups that miss without a query.
    var knownChildren = KnownChildren()
    var lastBackgroundSave = ContinuousClock.now
    /// The newest version node of each generation node.
    var latestVersion: [Int64: Int64] = [:]
    var references = References()
    /// Local versions' content totals for status.json, kept until the version changes.
    var countedTotals: [Int64: Node.ContentTotals] = [:]
    /// When a version's files were last opened (wall clock, ns), for clean-up's LRU.
    var versionLastUsedNs: [Int64: Int64] = [:]
    /// Stamps changes (ctime) and snapshots, always forwards.
    var changeClock = ChangeClock(floor: 0)
    /// Versions whose next snapshot packs everything again: after an unclean stop, a change the
    /// catalog never heard of (a write whose size and time were not saved) may hide in a file
    /// whose ctime says it is unchanged.
    var fullPackNeeded: Set<Int64> = []

    /// Opens the namespace on `catalog` and brings it to where the last run left it: files
    /// unlinked while open removed, sizes the catalog missed taken from the blobs, interrupted
    /// uploads queued again.
    init(
        dataDirectory: DataDirectory, configuration: Configuration, logger: Logger, catalog: Catalog, blobs: BlobStore,
        blobPool: BlobPool, openFiles: OpenFiles, snapshots: Snapshotter, uploads: UploadQueue, fetched: FetchedFiles, listings: ListingSchedule,
        wakeups: Wakeups, connection: RemoteConnection?
    ) throws {
        self.dataDirectory = dataDirectory
        self.configuration = configuration
        self.logger = logger
        self.catalog = catalog
        self.blobs = blobs
        self.blobPool = blobPool
        self.openFiles = openFiles
        self.snapshots = snapshots
        self.uploads = uploads
        self.fetched = fetched
        self.listings = listings
        readahead = ListingReadahead(catalog: catalog)
        self.wakeups = wakeups
        self.connection = connection
        owner = Caller(uid: getuid(), gid: getgid())
        archivesRoot = dataDirectory.archivesPath
        for skipped in catalog.replaySkipped {
            logger.warning("a create journal entry could not be restored and is skipped: \(skipped)")
        }
        if catalog.replayedChanges > 0 {
            logger.notice("restored \(catalog.replayedChanges) created or changed entries from the journal (not yet committed when the last run stopped)")
        }
        try removeOrphans()
        let leftovers = try BlobPool.removeLeftovers(rangeFile: dataDirectory.blobsAheadPath, store: blobs) { range in
            try catalog.read { try Node.ids($0, in: range) }
        }
        if leftovers > 0 { logger.info("removed \(leftovers) empty blobs made ahead of creates by the last run") }
        // After a clean stop every size is in the catalog: no stat per file (a million at that scale).
        let stoppedCleanly = dataDirectory.takeCleanStopMark()
        if !stoppedCleanly { try recoverSizesFromBlobs() }
        try uploads.resumeInterrupted()
        try uploads.queueUnqueuedSnapshots()
        let all = try catalog.read(VersionRecord.all)
        for version in all { versions[version.nodeID] = version }
        changeClock = ChangeClock(floor: all.map { max($0.updatedAtNs, $0.snapshottedAtNs ?? 0) }.max() ?? 0)
        if !stoppedCleanly { fullPackNeeded = Set(all.map(\.nodeID)) }
        for (generation, own) in Dictionary(grouping: all, by: \.generationNodeID) {
            latestVersion[generation] = own.max { $0.number < $1.number }?.nodeID
        }
    }

    /// Files unlinked while open when the last run ended: nothing can reach them any more.
    private func removeOrphans() throws {
        let orphans = try catalog.write { db in
            // Removed names first: a hard link row refers to its inode.
            let orphans = try Node.orphans(db).sorted { $0.role == .hardLink && $1.role != .hardLink }
            for orphan in orphans { _ = try orphan.delete(db) }
            return orphans
        }
        for orphan in orphans where orphan.role == .file { removeContent(orphan.ino) }
        let files = orphans.filter { $0.role != .hardLink }.count
        if files > 0 { logger.info("removed \(files) files unlinked while open before the last unmount") }
    }

    func withLock<T>(_ body: () throws(FSError) -> T) throws(FSError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    func withLockNonThrowing<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// Runs a catalog transaction; any failure becomes an FSError naming `context` (built only
    /// then: lookups and creates are too frequent to format a file name for nothing).
    func writeCatalogLocked<T>(_ context: @autoclosure () -> String, _ body: (Database) throws -> T) throws(FSError) -> T {
        try catalogCall(context) { try catalog.write(body) }
    }

    /// writeCatalogLocked for a change whose commit may wait for the batch (Catalog.writeBatched):
    /// `body` returns the rows it wrote.
    func writeBatchedLocked<T>(
        _ context: @autoclosure () -> String, singleStatement: Bool = false, _ body: (Database) throws -> (T, [Node])
    ) throws(FSError) -> T {
        try catalogCall(context) { try catalog.writeBatched(singleStatement: singleStatement, body) }
    }

    func readCatalogLocked<T>(_ context: @autoclosure () -> String, _ body: (Database) throws -> T) throws(FSError) -> T {
        try catalogCall(context) { try catalog.readOnWriter(body) }
    }

    private func catalogCall<T>(_ context: () -> String, _ call: () throws -> T) throws(FSError) -> T {
        do {
            return try call()
        } catch {
            throw FSError.wrapping(error, context())
        }
    }

    // MARK: - Nodes

    func nodeLocked(_ id: Int64) throws(FSError) -> Node {
        takeWrittenLocked(id)
        if let node = nodes[id] { return node }
        guard let node = try readCatalogLocked("reading inode \(id)", { try Node.withID($0, id) }) else {
            throw FSError.notFound("inode \(id) does not exist")
        }
        return node
    }

    func nodeLocked(ino: InodeNumber) throws(FSError) -> Node {
        guard ino < VirtualEntry.marker, ino > 0 else { throw FSError.notFound("inode \(ino) is not a stored node") }
        return try nodeLocked(Int64(ino))
    }

    /// The real child called `name`, preferring the cached copy (it may hold unsaved sizes).
    func childLocked(_ parent: Node, _ name: [UInt8]) throws(FSError) -> Node? {
        guard let parentID = parent.id, !knownChildren.isSurelyAbsent(name, in: parentID) else { return nil }
        // A node the kernel holds is found by name in memory; only the others cost a query.
        var found = nodes.child(of: parentID, named: name)
        if found == nil {
            found = try readCatalogLocked("looking up \(NameRules.printable(name))") { try Node.child($0, parent: parentID, name: name) }
        }
        guard let found, let id = found.id else { return nil }
        takeWrittenLocked(id)
        return nodes[id] ?? found
    }

    /// Keeps `node` in the cache while the kernel or a handle refers to it.
    func cacheLocked(_ node: Node) {
        guard let id = node.id else { return }
        nodes[id] = node
        if nodes.count > Self.cachedNodesLimit {
            // Kept: unsaved changes, open files, and the nameless (the root; files unlinked while
            // the kernel or a handle still refers to them, removed for good at their last release).
            nodes.trim(to: Self.cachedNodesLimit * 7 / 8) { node in
                guard let id = node.id else { return true }
                return dirtyNodes.contains(id) || references.isOpen(id) || node.isUnlinked || node.role == .root
            }
        }
    }

    /// Drops a node from the cache once nothing refers to it and its changes are saved;
    /// removes it for good if it was unlinked.
    func releaseIfUnreferencedLocked(_ id: Int64) {
        guard !references.isReferenced(id) else { return }
        if let node = nodes[id], node.isUnlinked {
            purgeLocked(node)
            return
        }
        if !dirtyNodes.contains(id) { nodes[id] = nil }
    }

    /// Deletes an unlinked node's row and content.
    func purgeLocked(_ node: Node) {
        guard let id = node.id else { return }
        do {
            _ = try writeCatalogLocked("removing unlinked inode \(id)") { try node.deleteRow($0) }
        } catch {
            logger.error("could not remove unlinked inode \(id): \(error); it is removed at the next mount")
        }
        if node.role == .file { removeContent(node.ino) }
        nodes[id] = nil
        dirtyNodes.remove(id)
        if let version = node.versionID { countedTotals[version] = nil }
    }

    /// Removes a file's blob and its cached copy, if any.
    func removeContent(_ ino: InodeNumber) {
        blobs.remove(ino)
        fetched.remove(Int64(ino), ino: ino)
    }

    /// Folds what writes through open handles did to node `id` into its size and times, and
    /// counts them as a change of its version. Files being written are always cached (`nodes`).
    func takeWrittenLocked(_ id: Int64) {
        if let extent = openFiles.takeWritten(id) { applyLocked(extent, to: id) }
    }

    /// takeWrittenLocked for every file written since the last take.
    func takeAllWrittenLocked() {
        for (id, extent) in openFiles.takeAllWritten() { applyLocked(extent, to: id) }
    }

    private func applyLocked(_ extent: WrittenExtent, to id: Int64) {
        if var node = nodes[id] {
            node.size = max(node.size, extent.size)
            node.mtimeNs = extent.timeNs
            node.ctimeNs = changeClock.stamp(atLeast: extent.timeNs)
            nodes[id] = node
            dirtyNodes.insert(id)
        }
        touchVersionLocked(extent.versionID, at: Timespec(totalNanoseconds: extent.timeNs))
    }

    /// Writes the unsaved sizes and times of nodes and versions to the catalog.
    func saveDirtyLocked() throws(FSError) {
        takeAllWrittenLocked()
        guard !dirtyNodes.isEmpty || !dirtyVersions.isEmpty else { return }
        let changed = dirtyNodes.compactMap { nodes[$0] }
        let changedVersions = dirtyVersions.compactMap { versions[$0] }
        try writeCatalogLocked("saving file sizes and times") { db in
            for node in changed { try node.updateAttributes(db) }
            for version in changedVersions { try version.updateActivity(db) }
        }
        dirtyNodes.removeAll()
        dirtyVersions.removeAll()
        for id in changed.compactMap(\.id) { releaseIfUnreferencedLocked(id) }
    }

    /// Every CATALOG_COMMIT_INTERVAL (on the snapshotter's tick): saves the sizes and times
    /// waiting in memory and commits the batch of creates, off the requests' path; and once a
    /// second checkpoints the catalog's WAL, outside the namespace lock.
    public func saveChangesInBackground() {
        let now = ContinuousClock.now
        let interval = Duration.milliseconds(Int64(configuration.catalogCommitInterval * 1000))
        do {
            let due = try withLock { () throws(FSError) -> Bool in
                guard now - lastBackgroundSave >= interval else { return false }
                lastBackgroundSave = now
                try saveDirtyLocked()
                return true
            }
            if due { try catalog.commitBatch() }
            try catalog.checkpointIfDue()
        } catch {
            logger.error("could not save the latest changes to the catalog (blobs and the create journal keep them): \(error)")
        }
    }

    /// At unmount: saves the sizes and times still waiting in memory, so the next mount starts clean.
    public func saveBeforeUnmount() {
        withLockNonThrowing {
            do {
                try saveDirtyLocked()
                try catalog.commitBatch()
                dataDirectory.markCleanStop()
            } catch {
                logger.error("could not save file sizes and creates at unmount (the next mount takes them from the blobs and the create journal): \(error)")
            }
        }
    }

    // MARK: - Versions

    /// The version a node belongs to, if it is a version directory or inside one.
    func versionLocked(of node: Node) -> VersionRecord? {
        node.versionID.flatMap { versions[$0] }
    }

    /// Version `number` of the generation node `generation`, if it exists.
    func versionLocked(generation: Int64, number: Int) -> VersionRecord? {
        versions.values.first { $0.generationNodeID == generation && $0.number == number }
    }

    /// Refuses any change inside a sealed version.
    func checkWritableLocked(_ node: Node) throws(FSError) {
        if let version = versionLocked(of: node), version.sealed {
            throw FSError.sealed("v\(version.number) is sealed: its content can no longer change")
        }
    }

    func touchVersionLocked(_ versionID: Int64?, at time: Timespec) {
        guard let versionID, var version = versions[versionID] else { return }
        version.updatedAtNs = time.totalNanoseconds
        version.dirty = true
        versions[versionID] = version
        countedTotals[versionID] = nil
        dirtyVersions.insert(versionID)
        snapshots.noteChange(versionID)
    }

    // MARK: - Attributes

    func attributes(of node: Node) -> Attributes {
        Attributes(
            ino: node.ino, kind: node.kind, mode: node.mode, nlink: node.links, rdev: node.rdev,
            uid: node.uid, gid: node.gid,
            size: node.kind == .directory ? 4096 : UInt64(node.size),
            atime: Timespec(totalNanoseconds: node.atimeNs), mtime: Timespec(totalNanoseconds: node.mtimeNs),
            ctime: Timespec(totalNanoseconds: node.ctimeNs))
    }

    func timeoutLocked(for node: Node) -> Double {
        node.versionID != nil ? Self.versionTimeout : Self.structureTimeout
    }

    func entryLocked(_ node: Node) -> Entry {
        Entry(attributes: attributes(of: node), timeout: timeoutLocked(for: node))
    }
}
