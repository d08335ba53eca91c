// The upload queue (DESIGN §5): one row per version in the catalog's `upload_job` table, so it
// survives crashes; which job runs next, the outcome of each attempt and its backoff, the progress
// of running uploads and the signed URLs of uploaded archives. The Uploader's workers take jobs
// from here; the snapshotter queues them; status.json reads them.
//
// Locks: `claimLock` serializes claims and is taken before the stager's locks (the snapshot lock,
// then the namespace lock); `lock` guards progress and signed URLs and is a leaf: nothing is
// called while holding it. Catalog calls need neither: the catalog serializes its writer itself.
import Foundation
import GRDB
import Logging
import SupabaseStorage

/// A snapshot's files linked aside for one upload, so a newer snapshot renamed into place
/// meanwhile cannot mix with it; made by the snapshotter (`Namespace.stageUpload`).
struct StagedUpload: Sendable {
    let snapshotNs: Int64
    let archiveSize: Int64
    let archive: String
    let toc: String
    let archiveKey: String
    let tocKey: String
}

/// One claimed upload.
public struct UploadTask: Sendable {
    let versionID: Int64
    let snapshotNs: Int64
    let firstPublish: Bool
    public let archive: String
    public let toc: String
    public let archiveKey: String
    public let tocKey: String
    let archiveSize: Int64
    /// The resumable upload of this very archive an earlier attempt began, to continue.
    public let resumableURL: String?
}

public enum UploadOutcome: Sendable {
    case uploaded(SignedURL?)
    case conflict(String)
    case transient(String)
    case failed(String)
}

public final class UploadQueue: @unchecked Sendable {
    private let catalog: Catalog
    /// Where archives go; nil when USE_CLOUD_STORAGE=false (the queue stays empty).
    let store: (any ObjectStore)?
    let configuration: Configuration
    let logger: Logger
    private let wakeups: Wakeups

    private let claimLock = NSLock()
    private let lock = NSLock()
    // Guarded by `lock`:
    private var progress: [Int64: (sent: Int64, total: Int64)] = [:]
    private var signedURLs: [Int64: SignedURL] = [:]
    /// The resumable upload URL last seen per version (saved in the catalog when it changes).
    private var resumableURLs: [Int64: String] = [:]
    private var stager: (@Sendable (Int64) throws -> StagedUpload?)?

    init(catalog: Catalog, store: (any ObjectStore)?, configuration: Configuration, logger: Logger, wakeups: Wakeups) {
        self.catalog = catalog
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.wakeups = wakeups
    }

    var isEnabled: Bool { store != nil }

    /// Who links a version's current snapshot aside for a claimed job.
    func setStager(_ stage: @escaping @Sendable (Int64) throws -> StagedUpload?) {
        lock.withLock { stager = stage }
    }

    // MARK: - Queueing and claiming

    /// Queues (or re-queues) the upload of a version's newest snapshot, in the transaction that
    /// records the snapshot. A version in conflict stays so.
    func enqueue(versionID: Int64, snapshotNs: Int64, _ db: Database) throws {
        guard isEnabled else { return }
        defer { wakeups.uploadQueued() }
        let now = Timespec.now().totalNanoseconds
        if var job = try UploadJob.fetchOne(db, key: versionID) {
            guard job.state != .conflict else { return }
            if job.state == .uploaded || job.state == .failed { job.enqueuedAtNs = now; job.attempts = 0 }
            if job.state != .uploading { job.state = .pending }
            job.snapshotNs = snapshotNs
            job.nextAttemptAtNs = now
            job.lastError = nil
            try job.update(db)
        } else {
            try UploadJob(
                versionNodeID: versionID, state: .pending, enqueuedAtNs: now, nextAttemptAtNs: now, snapshotNs: snapshotNs
            ).insert(db)
        }
    }

    /// Queues the newest snapshot of every version of this mount that has none queued: those
    /// packed while cloud storage was off (USE_CLOUD_STORAGE=false queues nothing).
    func queueUnqueuedSnapshots() throws {
        guard isEnabled else { return }
        let now = Timespec.now().totalNanoseconds
        let queued = try catalog.write { db -> Int in
            try db.execute(
                sql: """
                    INSERT INTO upload_job (version_node_id, state, enqueued_at_ns, next_attempt_at_ns, snapshot_ns)
                    SELECT node_id, 'pending', ?, ?, snapshotted_at_ns FROM version
                    WHERE origin = 'local' AND snapshotted_at_ns IS NOT NULL
                        AND node_id NOT IN (SELECT version_node_id FROM upload_job)
                    """, arguments: [now, now])
            return db.changesCount
        }
        if queued > 0 { logger.info("queued \(queued) versions packed while cloud storage was off for upload") }
    }

    /// Jobs left `uploading` by a crash or an unmount are pending again; so are failed ones, once per
    /// mount: what failed for good (an archive over the bucket's size limit) may go through now
    /// that the user changed something (raised the limit), without retrying in a loop meanwhile.
    func resumeInterrupted() throws {
        let (resumed, retried) = try catalog.write { db in
            let resumed = try UploadJob.filter(Column("state") == UploadState.uploading)
                .updateAll(db, Column("state").set(to: UploadState.pending))
            let retried = try UploadJob.filter(Column("state") == UploadState.failed)
                .updateAll(db, Column("state").set(to: UploadState.pending))
            return (resumed, retried)
        }
        if resumed > 0 { logger.info("resuming \(resumed) uploads interrupted by the last unmount") }
        if retried > 0 { logger.info("trying \(retried) failed uploads once more") }
    }

    /// The oldest due pending job, marked uploading, or nil.
    public func claim() -> UploadTask? {
        claimLock.lock()
        defer { claimLock.unlock() }
        guard let stage = lock.withLock({ stager }) else { return nil }
        let now = Timespec.now().totalNanoseconds
        do {
            let due = try catalog.read { db in
                try UploadJob.filter(Column("state") == UploadState.pending && Column("next_attempt_at_ns") <= now)
                    .order(Column("enqueued_at_ns")).fetchOne(db)
            }
            guard let due, let staged = try stage(due.versionNodeID) else { return nil }
            return try catalog.write { db -> UploadTask? in
                guard var job = try UploadJob.fetchOne(db, key: due.versionNodeID), job.state == .pending else { return nil }
                job.state = .uploading
                // A snapshot queued since the staging is newer: keeping its time makes `finish`
                // queue the version again instead of taking this upload for the newest.
                job.snapshotNs = max(job.snapshotNs, staged.snapshotNs)
                job.bytesUploaded = 0
                job.bytesTotal = staged.archiveSize
                try job.update(db)
                // An upload begun for another snapshot's archive holds other bytes: start anew.
                let resumable = job.resumableSnapshotNs == staged.snapshotNs ? job.resumableURL : nil
                return UploadTask(
                    versionID: job.versionNodeID, snapshotNs: staged.snapshotNs, firstPublish: !job.published,
                    archive: staged.archive, toc: staged.toc, archiveKey: staged.archiveKey, tocKey: staged.tocKey,
                    archiveSize: staged.archiveSize, resumableURL: resumable)
            }
        } catch {
            logger.error("could not start an upload: \(error)")
            return nil
        }
    }

    /// Progress of a running upload, for status.json (kept in memory; saved with the outcome).
    public func recordProgress(_ task: UploadTask, sent: Int64, total: Int64) {
        lock.withLock { progress[task.versionID] = (sent, total) }
    }

    /// Progress of a resumable upload: `acknowledged` bytes are on the server. A new upload URL
    /// is saved at once, so that a crash or unmount continues it rather than starting over.
    public func recordResumable(_ task: UploadTask, url: String, acknowledged: Int64, total: Int64) {
        let isNew = lock.withLock { () -> Bool in
            progress[task.versionID] = (acknowledged, total)
            return resumableURLs.updateValue(url, forKey: task.versionID) != url
        }
        guard isNew, url != task.resumableURL else { return }
        do {
            try catalog.write { db in
                try db.execute(
                    sql: "UPDATE upload_job SET resumable_url = ?, resumable_snapshot_ns = ? WHERE version_node_id = ?",
                    arguments: [url, task.snapshotNs, task.versionID])
            }
        } catch {
            logger.warning("could not save the resumable upload of \(task.archiveKey); a restart sends it again: \(error)")
        }
    }

    public func finish(_ task: UploadTask, _ outcome: UploadOutcome) {
        Glibc.unlink(task.archive)
        Glibc.unlink(task.toc)
        let sent = lock.withLock { () -> (sent: Int64, total: Int64)? in
            resumableURLs[task.versionID] = nil
            return progress.removeValue(forKey: task.versionID)
        }
        if case .uploaded(let signed) = outcome { lock.withLock { signedURLs[task.versionID] = signed } }
        do {
            try catalog.write { db in
                guard var job = try UploadJob.fetchOne(db, key: task.versionID) else { return }
                let now = Timespec.now().totalNanoseconds
                job.attempts += 1
                if let sent { job.bytesUploaded = sent.sent; job.bytesTotal = sent.total }
                if case .transient = outcome {} else {
                    // Done with, for good or not: only an interrupted upload is continued.
                    job.resumableURL = nil
                    job.resumableSnapshotNs = nil
                }
                switch outcome {
                case .uploaded:
                    job.published = true
                    job.lastError = nil
                    job.uploadedAtNs = now
                    job.bytesUploaded = job.bytesTotal
                    // A snapshot taken while this one was uploading is uploaded next.
                    job.state = job.snapshotNs == task.snapshotNs ? .uploaded : .pending
                    if job.state == .pending {
                        job.nextAttemptAtNs = now
                        wakeups.uploadQueued()
                    }
                case .conflict(let message):
                    job.state = .conflict
                    job.lastError = message
                    logger.warning("upload conflict: \(task.tocKey) exists in the bucket (another mount owns it); local data kept")
                case .transient(let message):
                    job.state = .pending
                    job.lastError = message
                    job.nextAttemptAtNs = now + Int64(UploadBackoff.delay(afterAttempt: job.attempts) * 1e9)
                    logger.notice("upload of \(task.archiveKey) failed (attempt \(job.attempts)), retrying: \(message)")
                case .failed(let message):
                    job.state = .failed
                    job.lastError = message
                    logger.error("upload of \(task.archiveKey) failed for good: \(message)")
                }
                try job.update(db)
            }
        } catch {
            logger.error("could not record the upload of \(task.archiveKey): \(error)")
        }
    }

    // MARK: - What status.json shows

    func job(_ versionID: Int64) -> UploadJob? {
        try? catalog.readOnWriter { try UploadJob.fetchOne($0, key: versionID) }
    }

    /// Every job, by version.
    func jobs() throws -> [Int64: UploadJob] {
        let all = try catalog.readOnWriter { try UploadJob.fetchAll($0) }
        return Dictionary(all.map { ($0.versionNodeID, $0) }) { first, _ in first }
    }

    /// A version without a job has not been snapshotted yet: its upload is pending.
    func state(_ job: UploadJob?) -> String {
        guard isEnabled else { return "disabled" }
        return job?.state.rawValue ?? "pending"
    }

    func state(of versionID: Int64) -> String { state(isEnabled ? job(versionID) : nil) }

    /// The `upload` object of a version's status.json. `waitingFor`: why no upload runs at all
    /// yet (the storage has not answered since the mount started), shown as the pending job's error.
    func statusJSON(versionID: Int64, archiveSize: Int64?, waitingFor: String? = nil) -> JSONValue {
        let job = isEnabled ? job(versionID) : nil
        let running = lock.withLock { progress[versionID] }
        let pending = state(job) == "pending"
        return .object([
            ("state", .string(state(job))), ("attempts", .int(Int64(job?.attempts ?? 0))),
            ("bytes_uploaded", .int(running?.sent ?? job?.bytesUploaded ?? 0)),
            ("bytes_total", .int(running?.total ?? job?.bytesTotal ?? archiveSize ?? 0)),
            ("last_error", .optional(job?.lastError ?? (pending ? waitingFor : nil))),
            ("uploaded_at", .optional(job?.uploadedAtNs.map(StatusReport.iso8601))),
        ])
    }

    // MARK: - Signed URLs

    /// The signed URL of an uploaded version's archive while it is still good to hand out.
    func reusableSignedURL(_ versionID: Int64) -> SignedURL? {
        guard let signed = lock.withLock({ signedURLs[versionID] }), configuration.isReusable(signed),
            job(versionID)?.state == .uploaded
        else { return nil }
        return signed
    }

    /// Re-signs the archive URL of an uploaded version once it is no longer reusable.
    func refreshSignedURLIfNeeded(_ versionID: Int64, archiveKey: String) {
        guard let store, job(versionID)?.state == .uploaded, reusableSignedURL(versionID) == nil else { return }
        let ttl = configuration.signedURLTTL
        let retries = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500))
        switch BlockingCall.run({ try await retries.run { try await store.sign(key: archiveKey, expiresIn: ttl) } }) {
        case .success(let url): lock.withLock { signedURLs[versionID] = url }
        case .failure(let error): logger.warning("could not sign \(archiveKey); answering the local URL: \(error)")
        }
    }
}
