// Snapshots (DESIGN §2): a version's files packed into its local seekable archive, taken once
// the version has been quiet for WRITE_BACK_DELAY with no writer, when it is sealed, and before
// `download_url` answers. The catalog rows are read under the lock; packing runs without it.
import Foundation
import GRDB
import SeekableArchive
import SystemPackage

/// In-memory change tracking of one version, for deciding when a snapshot is due.
struct VersionActivity: Sendable {
    var changes: UInt64 = 0
    var lastChange = ContinuousClock.now
}

extension GenerationFileSystem {
    /// `projects/<p>/generations/<g>/v<n>`: the version's key stem in the bucket (DESIGN §4) and,
    /// below `<data>/archives`, of its local archive. `.tar.gz` and `.toc.json` are appended.
    func objectStemLocked(_ version: VersionRecord) throws(FSError) -> String {
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        return "projects/\(String(decoding: project.nameBytes, as: UTF8.self))/generations/"
            + "\(String(decoding: generation.nameBytes, as: UTF8.self))/v\(version.number)"
    }

    func archivePathsLocked(_ version: VersionRecord) throws(FSError) -> (archive: FilePath, toc: FilePath) {
        let stem = archivesRoot.string + "/" + (try objectStemLocked(version))
        return (FilePath(stem + ".tar.gz"), FilePath(stem + ".toc.json"))
    }

    /// Every change the version has had: a snapshot whose count moved while packing is stale.
    /// Writes through open handles count at once, before the namespace has taken their sizes.
    func changesLocked(_ versionID: Int64) -> UInt64 {
        (activity[versionID]?.changes ?? 0) + openFiles.writeCount(versionID)
    }

    /// Versions whose snapshot is due: changed, and sealed or quiet for the write-back delay with no writer.
    func dueSnapshots() -> [Int64] {
        lock.lock()
        defer { lock.unlock() }
        let delay = Duration.milliseconds(Int64(configuration.writeBackDelay * 1000))
        return versions.values.filter { version in
            guard version.dirty else { return false }
            if version.sealed { return true }
            let activity = activity[version.nodeID] ?? VersionActivity(lastChange: .now - delay)
            return !openFiles.hasWriters(version.nodeID) && ContinuousClock.now - activity.lastChange >= delay
        }.map(\.nodeID)
    }

    /// `download_url` always names an archive that matches what `ls` shows: a version with
    /// unsnapshotted changes is packed before its URL is answered.
    func snapshotBeforeAnswering(_ virtual: VirtualEntry) throws(FSError) {
        let versionID: Int64? = withLockNonThrowing {
            switch virtual.kind {
            case .versionDownloadURL: virtual.owner
            case .generationDownloadURL: latestVersion[virtual.owner]
            default: nil
            }
        }
        guard let versionID else { return }
        for _ in 0..<3 where try !snapshotIfDirty(versionID: versionID) {}
        refreshSignedURLIfNeeded(versionID: versionID)
    }

    /// After a failed snapshot, waits a full write-back delay before trying again.
    func postponeSnapshot(versionID: Int64) {
        withLockNonThrowing { activity[versionID, default: VersionActivity()].lastChange = .now }
    }

    /// Takes a snapshot of the version now if it has unsnapshotted changes. Returns whether the
    /// archive matches the version afterwards (false if it changed while being packed).
    @discardableResult
    public func snapshotIfDirty(versionID: Int64) throws(FSError) -> Bool {
        // Files left in the bucket by clean-up are fetched back first, without the snapshot lock:
        // upload workers wait for that lock on Swift's small thread pool, which the fetch needs.
        let cleanedUp = withLockNonThrowing {
            takeAllWrittenLocked()
            return versions[versionID].map { $0.dirty && !$0.localCopy } ?? false
        }
        if cleanedUp { try makeVersionLocal(versionID) }
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        let plan = try withLock { () throws(FSError) -> SnapshotPlan? in
            takeAllWrittenLocked()
            guard let version = versions[versionID], version.dirty else { return nil }
            return try snapshotPlanLocked(version)
        }
        guard let plan else { return true }
        let started = ContinuousClock.now
        let toc: ArchiveTOC
        let job = board.begin("packing \(plan.title): 0 of \(plan.entries.count) entries")
        defer { board.end(job) }
        do {
            // A change makes this archive stale: packing stops there rather than finish in vain.
            toc = try plan.write(
                blobs: blobs,
                keepGoing: { [self] in withLockNonThrowing { changesLocked(versionID) == plan.changes } },
                progress: { [board] done in board.update(job, "packing \(plan.title): \(done) of \(plan.entries.count) entries") })
        } catch ArchiveError.stopped {
            logger.debug("v\(plan.version.number) changed while it was packed; packing stopped, it is packed again later")
            return false
        } catch {
            throw FSError.wrapping(error, "packing v\(plan.version.number)")
        }
        return try withLock { () throws(FSError) -> Bool in
            guard changesLocked(versionID) == plan.changes, var version = versions[versionID] else {
                logger.debug("v\(plan.version.number) changed while it was packed; it is packed again later")
                return false
            }
            version.dirty = false
            version.localCopy = true
            version.archiveSize = Int64(toc.archiveSize)
            version.snapshottedAtNs = Timespec.now().totalNanoseconds
            let saved = version
            try writeCatalogLocked("recording a snapshot") { db in
                try saved.update(db)
                if let snapshot = saved.snapshottedAtNs { try self.uploads.enqueue(versionID: saved.nodeID, snapshotNs: snapshot, db) }
            }
            versions[versionID] = version
            dirtyVersions.remove(versionID)
            fetched.setTOC(versionID, nil)
            logger.info(
                "snapshot \(plan.archive): \(plan.entries.count) entries, \(toc.archiveSize) bytes in \(ContinuousClock.now - started)")
            return true
        }
    }

    private func snapshotPlanLocked(_ version: VersionRecord) throws(FSError) -> SnapshotPlan {
        try saveDirtyLocked()
        let (archive, toc) = try archivePathsLocked(version)
        let entries = try versionTreeLocked(version)
        if let remoteOnly = entries.first(where: { $0.node.archivePath != nil }) {
            throw FSError(.ioError, "\(String(decoding: remoteOnly.path, as: UTF8.self)) is not local yet")
        }
        let attributes = try readCatalogLocked("reading a version's metadata") {
            try ExtendedAttribute.all($0, node: version.nodeID)
        }
        var metadata: [String: String] = [:]
        for attribute in attributes {
            let (key, value) = Self.metadataMember(attribute)
            metadata[key] = value
        }
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        // Ids are ASCII by the naming rules.
        let title = "v\(version.number) of \(String(decoding: generation.nameBytes, as: UTF8.self)) "
            + "(project \(String(decoding: project.nameBytes, as: UTF8.self)))"
        return SnapshotPlan(
            version: version, title: title, changes: changesLocked(version.nodeID), archive: archive, toc: toc,
            entries: entries, metadata: metadata)
    }

    /// Every user entry of a version with its path inside the version, in byte order of paths
    /// (which puts each directory before its contents).
    func versionTreeLocked(_ version: VersionRecord) throws(FSError) -> [(path: [UInt8], node: Node)] {
        let rows = try readCatalogLocked("reading a version's files") { db in
            try Node.filter(Node.Columns.versionID == version.nodeID).fetchAll(db)
        }
        var byID: [Int64: Node] = [:]
        for row in rows { if let id = row.id { byID[id] = row } }
        var paths: [Int64: [UInt8]] = [version.nodeID: []]
        func path(_ node: Node) -> [UInt8]? {
            guard let id = node.id else { return nil }
            if let known = paths[id] { return known }
            guard let parentID = node.parentID, let parent = byID[parentID], let parentPath = path(parent) else { return nil }
            let full = parentPath.isEmpty ? node.nameBytes : parentPath + [UInt8(ascii: "/")] + node.nameBytes
            paths[id] = full
            return full
        }
        var entries: [(path: [UInt8], node: Node)] = []
        for row in rows where row.role.isUserContent {
            if let full = path(row) { entries.append((full, row)) }
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return entries
    }
}

/// What one snapshot packs, read from the catalog under the lock and written without it.
struct SnapshotPlan {
    let version: VersionRecord
    /// "v3 of g1 (project p1)", for progress reports.
    let title: String
    let changes: UInt64
    let archive: FilePath
    let toc: FilePath
    let entries: [(path: [UInt8], node: Node)]
    /// The version's `user.*` xattrs, kept in the TOC so other mounts show them.
    let metadata: [String: String]

    /// Writes the archive and its TOC to temporary names, syncs them and renames them into place.
    /// `progress` hears how many entries are packed, every `progressStep` entries.
    func write(blobs: BlobStore, keepGoing: @escaping () -> Bool, progress: (Int) -> Void) throws -> ArchiveTOC {
        try FileManager.default.createDirectory(
            atPath: archive.removingLastComponent().string, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let temporaryArchive = FilePath(archive.string + ".tmp")
        let temporaryTOC = FilePath(toc.string + ".tmp")
        let writer = try SeekableTarWriter(output: temporaryArchive)
        writer.keepGoing = keepGoing
        for (index, (path, node)) in entries.enumerated() {
            if index % Self.progressStep == 0 { progress(index) }
            let mtime = Timespec(totalNanoseconds: node.mtimeNs)
            let entry = ArchiveEntry(
                path: String(decoding: path, as: UTF8.self), kind: Self.kind(node.role), mode: node.mode,
                mtime: (mtime.seconds, Int32(mtime.nanoseconds)), size: node.role == .file ? UInt64(node.size) : 0,
                linkTarget: node.linkTarget.map { String(decoding: $0, as: UTF8.self) })
            try writer.append(entry, contentsOf: node.role == .file ? blobs.path(node.ino) : nil)
        }
        var toc = try writer.finish()
        toc.metadata = metadata.isEmpty ? nil : metadata
        let descriptor = try FileDescriptor.open(
            temporaryTOC, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        try descriptor.closeAfter {
            _ = try descriptor.writeAll(try toc.encodeJSON())
            _ = Glibc.fsync(descriptor.rawValue)
        }
        try Self.rename(temporaryArchive, to: archive)
        try Self.rename(temporaryTOC, to: self.toc)
        return toc
    }

    static let progressStep = 64

    private static func kind(_ role: NodeRole) -> ArchiveEntry.Kind {
        switch role {
        case .file: .file
        case .symlink: .symlink
        default: .directory
        }
    }

    private static func rename(_ from: FilePath, to: FilePath) throws {
        if Glibc.rename(from.string, to.string) != 0 { throw Errno(rawValue: errno) }
    }
}
