// The snapshotter (DESIGN §2): when each version changed last and how often, which versions are
// due (changed, and sealed or quiet for WRITE_BACK_DELAY with no writer), and taking a snapshot:
// a plan from the namespace, packing without any lock (stopped as soon as the version changes),
// then the namespace records the archive and queues its upload.
//
// Locks: `packing` serializes snapshots and is taken before the namespace lock (the upload
// queue's stager takes it too, so a snapshot renamed into place never mixes with a staged one);
// `lock` guards the activity below and is a leaf.
import Foundation
import Logging
import SeekableArchive

/// In-memory change tracking of one version, for deciding when a snapshot is due.
struct VersionActivity: Sendable {
    var changes: UInt64 = 0
    var lastChange = ContinuousClock.now
}

/// What the snapshotter needs from the namespace.
protocol SnapshotSource: AnyObject {
    /// Versions with changes not in their archive yet, and whether each is sealed.
    func unsnapshottedVersions() -> [(id: Int64, sealed: Bool)]
    /// Whether some of the version's files are only in the bucket (clean-up removed them locally).
    func isCleanedUp(_ versionID: Int64) -> Bool
    /// Fetches every file of the version that is only in the bucket back into a local blob.
    func makeVersionLocal(_ versionID: Int64) throws(FSError)
    /// What to pack, with `changes(versionID)` read under the same lock; nil when nothing changed.
    func planSnapshot(_ versionID: Int64, changes: (Int64) -> UInt64) throws(FSError) -> SnapshotPlan?
    /// Records the packed archive unless `isCurrent` says the version changed meanwhile; returns whether it did.
    func recordSnapshot(_ plan: SnapshotPlan, archiveSize: UInt64, isCurrent: () -> Bool) throws(FSError) -> Bool
}

final class Snapshotter: @unchecked Sendable {
    let packing = NSLock()
    private let lock = NSLock()
    private var activity: [Int64: VersionActivity] = [:]  // guarded by `lock`
    private var lastPacked: SnapshotPlan.Result?  // guarded by `lock`
    private let delay: Duration
    private let blobs: BlobStore
    private let openFiles: OpenFiles
    private let board: ActivityBoard
    private let logger: Logger

    init(writeBackDelay: Double, blobs: BlobStore, openFiles: OpenFiles, board: ActivityBoard, logger: Logger) {
        delay = .milliseconds(Int64(writeBackDelay * 1000))
        self.blobs = blobs
        self.openFiles = openFiles
        self.board = board
        self.logger = logger
    }

    // MARK: - Activity

    /// A change to the version (the namespace calls this for every change it records).
    func noteChange(_ versionID: Int64) {
        lock.withLock {
            activity[versionID, default: VersionActivity()].changes += 1
            activity[versionID]?.lastChange = .now
        }
    }

    /// A new version: its quiet period starts now, so it is not packed empty at once.
    func startQuietPeriod(_ versionID: Int64) { lock.withLock { activity[versionID] = VersionActivity() } }

    /// After a failed snapshot, waits a full write-back delay before trying again.
    func postpone(_ versionID: Int64) {
        lock.withLock { activity[versionID, default: VersionActivity()].lastChange = .now }
    }

    /// Every change the version has had: a snapshot whose count moved while packing is stale.
    /// Writes through open handles count at once, before the namespace has taken their sizes.
    func changes(_ versionID: Int64) -> UInt64 {
        lock.withLock { activity[versionID]?.changes ?? 0 } + openFiles.writeCount(versionID)
    }

    // MARK: - Snapshots

    /// Versions whose snapshot is due: changed, and sealed or quiet for the write-back delay with no writer.
    func due(in source: some SnapshotSource) -> [Int64] {
        source.unsnapshottedVersions().filter { version in
            if version.sealed { return true }
            let quietSince = lock.withLock { activity[version.id]?.lastChange } ?? .now - delay
            return !openFiles.hasWriters(version.id) && ContinuousClock.now - quietSince >= delay
        }.map(\.id)
    }

    /// Every due snapshot (the background loop's job); a failed one is retried after the write-back delay.
    func takeDue(from source: some SnapshotSource) {
        for versionID in due(in: source) {
            do {
                try snapshot(versionID, from: source, inBackground: true)
            } catch {
                logger.error("snapshot failed: \(error); retrying after the write-back delay")
                postpone(versionID)
            }
        }
    }

    /// Takes a snapshot of the version now if it has unsnapshotted changes. Returns whether the
    /// archive matches the version afterwards (false if it changed while being packed).
    /// `inBackground`: nobody waits for it, so it is compressed at a lower CPU priority.
    @discardableResult
    func snapshot(_ versionID: Int64, from source: some SnapshotSource, inBackground: Bool = false) throws(FSError) -> Bool {
        // Files left in the bucket by clean-up are fetched back first, outside `packing`: upload
        // workers wait for that lock on Swift's small thread pool, which the fetch needs.
        if source.isCleanedUp(versionID) { try source.makeVersionLocal(versionID) }
        packing.lock()
        defer { packing.unlock() }
        guard let plan = try source.planSnapshot(versionID, changes: changes) else { return true }
        let isCurrent: @Sendable () -> Bool = { [self] in changes(versionID) == plan.changes }
        let started = ContinuousClock.now
        let packed: SnapshotPlan.Result
        let job = board.begin("packing \(plan.title): 0 of \(plan.entryCount) entries")
        defer { board.end(job) }
        let pack: @Sendable () throws -> SnapshotPlan.Result = { [blobs, board, logger] in
            // A change makes this archive stale: packing stops there rather than finish in vain.
            try plan.write(
                blobs: blobs, keepGoing: isCurrent,
                progress: { done in board.update(job, "packing \(plan.title): \(done) of \(plan.entryCount) entries") },
                log: { logger.notice("\($0)") })
        }
        do {
            packed = try inBackground ? LowPriorityThread.run("packing", pack) : pack()
        } catch ArchiveError.stopped {
            logger.debug("v\(plan.version.number) changed while it was packed; packing stopped, it is packed again later")
            return false
        } catch {
            throw FSError.wrapping(error, "packing v\(plan.version.number)")
        }
        guard try source.recordSnapshot(plan, archiveSize: packed.summary.archiveSize, isCurrent: isCurrent) else {
            logger.debug("v\(plan.version.number) changed while it was packed; it is packed again later")
            return false
        }
        lock.withLock { lastPacked = packed }
        logger.info(
            "snapshot \(plan.archive): \(packed.entries) entries, \(packed.summary.archiveSize) bytes in \(ContinuousClock.now - started); compressed \(packed.bytesCompressed) bytes, copied \(packed.bytesReused) compressed bytes from the previous archive; \(packed.entriesNotRead) entries of unchanged directories not read from the catalog, \(packed.tocBlocksCopied) TOC blocks copied")
        return true
    }

    /// What the last recorded snapshot packed (tests check that unchanged members were copied).
    var lastPack: SnapshotPlan.Result? { lock.withLock { lastPacked } }
}
