// The FUSE-free file system facade: every request of the FUSE adapter is one synchronous call
// here. It builds the components and composes them; the rules live in them. The namespace
// (Namespace/) answers for the tree, names, attributes and versions; open files (OpenFiles) carry
// reads and writes without the namespace's lock; the snapshotter (Snapshots/), the upload queue
// (Upload/), fetched files (Remote/) and status (Status/) own the rest. docs/ARCHITECTURE.md has
// the picture and the lock order.
import Foundation
import Logging
import SupabaseStorage
import SystemPackage

public final class GenerationFileSystem: Sendable {
    let namespace: Namespace
    let openFiles: OpenFiles
    let snapshots: Snapshotter
    let fetched: FetchedFiles
    let blobs: BlobStore
    let blobPool: BlobPool
    let trash: Trash
    let logger: Logger
    /// The upload queue: the Uploader's workers take their jobs here.
    public let uploads: UploadQueue
    /// Wakes the background loops when there is work for them.
    public let wakeups: Wakeups
    /// What the daemon is busy with (packing), for `unmount` and a mount waiting for this one.
    public let board: ActivityBoard

    public init(
        dataDirectory: DataDirectory, configuration: Configuration, logger: Logger,
        connection: RemoteConnection? = nil, board: ActivityBoard = ActivityBoard()
    ) throws {
        let catalog = try Catalog(
            path: dataDirectory.catalogPath.string, journalPath: dataDirectory.createJournalPath,
            owner: Caller(uid: getuid(), gid: getgid()))
        let wakeups = Wakeups()
        trash = try Trash(root: dataDirectory.trashPath)
        blobs = try BlobStore(root: dataDirectory.blobsPath, trash: trash)
        blobPool = BlobPool(store: blobs, rangeFile: dataDirectory.blobsAheadPath) { try catalog.reserveIDs($0) }
        openFiles = OpenFiles()
        fetched = try FetchedFiles(root: dataDirectory.cachePath)
        snapshots = Snapshotter(
            writeBackDelay: configuration.writeBackDelay, blobs: blobs, openFiles: openFiles, board: board, logger: logger)
        uploads = UploadQueue(
            catalog: catalog, store: connection?.store, configuration: configuration, logger: logger, wakeups: wakeups)
        namespace = try Namespace(
            dataDirectory: dataDirectory, configuration: configuration, logger: logger, catalog: catalog, blobs: blobs,
            blobPool: blobPool, openFiles: openFiles, snapshots: snapshots, uploads: uploads, fetched: fetched,
            listings: ListingSchedule(interval: configuration.remoteListInterval), wakeups: wakeups, connection: connection)
        self.wakeups = wakeups
        self.board = board
        self.logger = logger
        uploads.setStager { [weak namespace] versionID in try namespace?.stageUpload(versionID) }
    }

    // MARK: - Names and attributes (the namespace)

    public func lookup(parent: InodeNumber, name: [UInt8]) throws(FSError) -> Entry {
        try namespace.lookup(parent: parent, name: name)
    }

    public func forget(_ ino: InodeNumber, count: UInt64) { namespace.forget(ino, count: count) }

    /// A file's attributes say how much of its blob is allocated (`du` after a punched hole);
    /// lookups and listings, far more frequent, estimate it from the size instead.
    public func getattr(_ ino: InodeNumber) throws(FSError) -> Entry {
        var entry = try namespace.getattr(ino)
        if entry.attributes.kind == .file, VirtualEntry(ino: ino) == nil {
            entry.attributes.blocks = blobs.allocatedBlocks(ino)
        }
        return entry
    }

    public func setattr(_ ino: InodeNumber, changes: AttributeChanges) throws(FSError) -> Entry {
        try namespace.setattr(ino, changes: changes)
    }

    public func readlink(_ ino: InodeNumber) throws(FSError) -> [UInt8] { try namespace.readlink(ino) }

    public func mkdir(parent: InodeNumber, name: [UInt8], mode: UInt32, caller: Caller) throws(FSError) -> Entry {
        try namespace.mkdir(parent: parent, name: name, mode: mode, caller: caller)
    }

    public func symlink(target: [UInt8], parent: InodeNumber, name: [UInt8], caller: Caller) throws(FSError) -> Entry {
        try namespace.symlink(target: target, parent: parent, name: name, caller: caller)
    }

    public func link(_ ino: InodeNumber, newParent: InodeNumber, newName: [UInt8]) throws(FSError) -> Entry {
        try namespace.link(ino, newParent: newParent, newName: newName)
    }

    public func mknod(parent: InodeNumber, name: [UInt8], mode: UInt32, rdev: UInt64, caller: Caller) throws(FSError) -> Entry {
        try namespace.mknod(parent: parent, name: name, mode: mode, rdev: rdev, caller: caller)
    }

    public func unlink(parent: InodeNumber, name: [UInt8]) throws(FSError) { try namespace.unlink(parent: parent, name: name) }

    public func rmdir(parent: InodeNumber, name: [UInt8]) throws(FSError) { try namespace.rmdir(parent: parent, name: name) }

    public func rename(
        parent: InodeNumber, name: [UInt8], newParent: InodeNumber, newName: [UInt8], mode: RenameMode
    ) throws(FSError) {
        try namespace.rename(parent: parent, name: name, newParent: newParent, newName: newName, mode: mode)
    }

    public func setxattr(_ ino: InodeNumber, name: [UInt8], value: [UInt8], flags: Int32) throws(FSError) {
        try namespace.setxattr(ino, name: name, value: value, flags: flags)
    }

    public func getxattr(_ ino: InodeNumber, name: [UInt8]) throws(FSError) -> [UInt8] {
        try namespace.getxattr(ino, name: name)
    }

    public func listxattr(_ ino: InodeNumber) throws(FSError) -> [UInt8] { try namespace.listxattr(ino) }

    public func removexattr(_ ino: InodeNumber, name: [UInt8]) throws(FSError) {
        try namespace.removexattr(ino, name: name)
    }

    public func statfs() throws(FSError) -> FileSystemStatistics { try namespace.statfs() }

    // MARK: - Directories

    public func opendir(_ ino: InodeNumber) throws(FSError) -> OpenedDirectory { try namespace.opendir(ino) }

    /// Hands the entries from `offset` on to `add` until it returns false (its buffer is full).
    /// With `plus`, each real entry added gets a lookup reference, exactly as if looked up.
    public func readdir(
        handle: UInt64, offset: UInt64, plus: Bool, add: (DirectoryEntry, _ nextOffset: UInt64) -> Bool
    ) throws(FSError) {
        try namespace.readdir(handle: handle, offset: offset, plus: plus, add: add)
    }

    public func releasedir(handle: UInt64) { openFiles.removeDirectory(handle) }

    // MARK: - Files

    public func create(
        parent: InodeNumber, name: [UInt8], mode: UInt32, flags: Int32, caller: Caller
    ) throws(FSError) -> (Entry, OpenedFile) {
        try namespace.create(parent: parent, name: name, mode: mode, flags: flags, caller: caller)
    }

    public func open(_ ino: InodeNumber, flags: Int32) throws(FSError) -> OpenedFile { try namespace.open(ino, flags: flags) }

    public func flush(handle: UInt64) throws(FSError) { try namespace.flush(handle: handle) }

    public func fsync(handle: UInt64, dataOnly: Bool) throws(FSError) { try namespace.fsync(handle: handle, dataOnly: dataOnly) }

    public func release(handle: UInt64) { namespace.release(handle: handle) }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (0 at end of file).
    public func read(handle: UInt64, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(FSError) -> Int {
        switch try openFiles.file(handle) {
        case .computed(let content):
            guard offset < content.count else { return 0 }
            let count = min(buffer.count, content.count - Int(offset))
            content.withUnsafeBytes { source in
                buffer.baseAddress?.copyMemory(from: source.baseAddress! + Int(offset), byteCount: count)
            }
            return count
        case .blob(let blob):
            var done = 0
            while done < buffer.count {
                let result = pread(blob.descriptor.rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw FSError(Errno(rawValue: errno), "reading inode \(blob.nodeID)")
                }
                if result == 0 { break }
                done += result
            }
            return done
        }
    }

    /// Writes `data` at `offset` (at the end for O_APPEND handles); returns the bytes written.
    public func write(handle: UInt64, offset: UInt64, data: UnsafeRawBufferPointer) throws(FSError) -> Int {
        let blob = try openFiles.writableBlob(handle)
        guard blobs.hasRoom(for: data.count) else {
            throw FSError(.noSpace, "the disk holding the data directory is full")
        }
        var written = 0
        while written < data.count {
            let result = pwrite(blob.descriptor.rawValue, data.baseAddress! + written, data.count - written, off_t(offset) + off_t(written))
            if result < 0 {
                if errno == EINTR { continue }
                let error = FSError(Errno(rawValue: errno), "writing inode \(blob.nodeID)")
                if written == 0 { throw error }
                logger.warning("short write: \(error)")
                break
            }
            written += result
        }
        var end = Int64(offset) + Int64(written)
        if blob.append, let size = try? blob.descriptor.seek(offset: 0, from: .end) { end = size }
        // No namespace lock: the namespace takes the new size and times when it next reads the node.
        openFiles.recordWrite(blob, end: end, at: .now())
        return written
    }

    // MARK: - Background work

    /// Takes a snapshot of the version now if it has unsnapshotted changes. Returns whether the
    /// archive matches the version afterwards (false if it changed while being packed).
    @discardableResult
    public func snapshotIfDirty(versionID: Int64) throws(FSError) -> Bool {
        try snapshots.snapshot(versionID, from: namespace)
    }

    /// The trash emptier's job: deletes the removed blobs once removals pause (at the first call
    /// also those an earlier process left); `force` at unmount.
    public func emptyTrash(force: Bool = false) { trash.empty(force: force) }

    /// The snapshotter's job: every due snapshot.
    public func takeDueSnapshots() { snapshots.takeDue(from: namespace) }

    /// Every CATALOG_COMMIT_INTERVAL (on the snapshotter's tick): saves what waits in memory.
    public func saveChangesInBackground() { namespace.saveChangesInBackground() }

    /// At unmount: saves the sizes and times still waiting in memory, so the next mount starts clean.
    public func saveBeforeUnmount() { namespace.saveBeforeUnmount() }

    /// The blob maker's job: makes empty blobs for creates to take when they run low (BlobPool).
    /// Until it first runs, creates make their own blobs.
    public func makeBlobsAhead() { blobPool.refill { logger.warning("\($0)") } }

    /// At unmount, once the blob maker stopped: removes the blobs made ahead that no create took.
    public func stopMakingBlobsAhead() { blobPool.stop() }

    /// One clean-up pass (the clean-up loop's job).
    public func cleanUp() { namespace.cleanUp() }

    /// Lists the bucket under `scope` and adds the versions found there.
    public func listBucket(_ scope: BucketScope) { namespace.listBucket(scope) }
}
