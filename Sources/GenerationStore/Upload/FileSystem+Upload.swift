// The upload queue's bookkeeping on the file system side: queueing a version after each
// snapshot, handing due jobs to the Uploader, recording outcomes, and signed URLs (DESIGN §3, §5).
import Foundation
import GRDB
import SupabaseStorage
import SystemPackage

/// One claimed upload: hard links to the archive and TOC of one snapshot, so a newer snapshot
/// renamed into place meanwhile cannot mix with it.
public struct UploadTask: Sendable {
    let versionID: Int64
    let snapshotNs: Int64
    let firstPublish: Bool
    public let archive: String
    public let toc: String
    public let archiveKey: String
    public let tocKey: String
}

public enum UploadOutcome: Sendable {
    case uploaded(SignedURL?)
    case conflict(String)
    case transient(String)
    case failed(String)
}

extension GenerationFileSystem {
    /// Queues (or re-queues) the upload of a version's newest snapshot. Conflicted versions stay so.
    func enqueueUploadLocked(_ version: VersionRecord, _ db: Database) throws {
        guard remote != nil, let snapshot = version.snapshottedAtNs else { return }
        defer { wakeups.uploadQueued() }
        let now = Timespec.now().totalNanoseconds
        if var job = try UploadJob.fetchOne(db, key: version.nodeID) {
            guard job.state != .conflict else { return }
            if job.state == .uploaded || job.state == .failed { job.enqueuedAtNs = now; job.attempts = 0 }
            if job.state != .uploading { job.state = .pending }
            job.snapshotNs = snapshot
            job.nextAttemptAtNs = now
            job.lastError = nil
            try job.update(db)
        } else {
            try UploadJob(
                versionNodeID: version.nodeID, state: .pending, enqueuedAtNs: now, nextAttemptAtNs: now,
                snapshotNs: snapshot
            ).insert(db)
        }
    }

    /// Jobs left `uploading` by a crash or an unmount are pending again.
    func resumeInterruptedUploads() throws {
        let resumed = try catalog.write { db in
            try UploadJob.filter(Column("state") == UploadState.uploading).updateAll(db, Column("state").set(to: UploadState.pending))
        }
        if resumed > 0 { logger.info("resuming \(resumed) uploads interrupted by the last unmount") }
    }

    /// The oldest due pending job, marked uploading, or nil.
    public func claimUpload() -> UploadTask? {
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        return withLockNonThrowing { () -> UploadTask? in
            let now = Timespec.now().totalNanoseconds
            do {
                return try catalog.write { db -> UploadTask? in
                    guard
                        var job = try UploadJob.filter(Column("state") == UploadState.pending && Column("next_attempt_at_ns") <= now)
                            .order(Column("enqueued_at_ns")).fetchOne(db),
                        let version = versions[job.versionNodeID], let snapshot = version.snapshottedAtNs
                    else { return nil }
                    let paths = try archivePathsLocked(version)
                    let keys = try remoteKeysLocked(version)
                    let staged = (paths.archive.string + ".upload", paths.toc.string + ".upload")
                    for (source, link) in [(paths.archive.string, staged.0), (paths.toc.string, staged.1)] {
                        Glibc.unlink(link)
                        if Glibc.link(source, link) != 0 { throw Errno(rawValue: errno) }
                    }
                    job.state = .uploading
                    job.snapshotNs = snapshot
                    job.bytesUploaded = 0
                    job.bytesTotal = version.archiveSize ?? 0
                    try job.update(db)
                    return UploadTask(
                        versionID: version.nodeID, snapshotNs: snapshot, firstPublish: !job.published,
                        archive: staged.0, toc: staged.1, archiveKey: keys.archive, tocKey: keys.toc)
                }
            } catch {
                logger.error("could not start an upload: \(error)")
                return nil
            }
        }
    }

    /// Progress of a running upload, for status.json (kept in memory; saved with the outcome).
    public func recordProgress(_ task: UploadTask, sent: Int64, total: Int64) {
        withLockNonThrowing { uploadProgress[task.versionID] = (sent, total) }
    }

    public func finishUpload(_ task: UploadTask, _ outcome: UploadOutcome) {
        Glibc.unlink(task.archive)
        Glibc.unlink(task.toc)
        withLockNonThrowing {
            let progress = uploadProgress.removeValue(forKey: task.versionID)
            do {
                try catalog.write { db in
                    guard var job = try UploadJob.fetchOne(db, key: task.versionID) else { return }
                    let now = Timespec.now().totalNanoseconds
                    job.attempts += 1
                    if let progress { job.bytesUploaded = progress.0; job.bytesTotal = progress.1 }
                    switch outcome {
                    case .uploaded(let signed):
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
                        signedURLs[task.versionID] = signed
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
    }

    /// Re-signs the archive URL of an uploaded version once it is no longer reusable (`signedURLReuseMargin`).
    func refreshSignedURLIfNeeded(versionID: Int64) {
        guard let remote else { return }
        let key: String? = withLockNonThrowing {
            guard let version = versions[versionID], uploadJobLocked(versionID)?.state == .uploaded else { return nil }
            if let signed = signedURLs[versionID], configuration.isReusable(signed) { return nil }
            return try? remoteKeysLocked(version).archive
        }
        guard let key else { return }
        let ttl = configuration.signedURLTTL
        let retries = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500))
        let signed = BlockingCall.run { try await retries.run { try await remote.sign(key: key, expiresIn: ttl) } }
        switch signed {
        case .success(let url): withLockNonThrowing { signedURLs[versionID] = url }
        case .failure(let error): logger.warning("could not sign \(key); answering the local URL: \(error)")
        }
    }

    func uploadJobLocked(_ versionID: Int64) -> UploadJob? {
        try? catalog.readOnWriter { try UploadJob.fetchOne($0, key: versionID) }
    }

    func remoteKeysLocked(_ version: VersionRecord) throws(FSError) -> (archive: String, toc: String) {
        let stem = try objectStemLocked(version)
        return (stem + ".tar.gz", stem + ".toc.json")
    }
}

/// Runs async work to completion from a thread outside Swift concurrency (a FUSE worker).
public enum BlockingCall {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task.detached {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return box.result ?? .failure(CancellationError())
    }
}

/// Written once by the task before it signals, read once after the wait: the semaphore orders them.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
