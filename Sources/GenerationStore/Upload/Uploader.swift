// Background uploads (DESIGN §5): N workers take due jobs from the catalog queue, upload the
// archive, then the TOC (without upsert on a version's first publish: a 409 means another mount
// owns it), and record the outcome. Transient failures retry with backoff, without limit.
import Foundation
import Logging
import SupabaseStorage

public final class Uploader: Sendable {
    private let queue: UploadQueue
    private let store: any ObjectStore
    private let concurrency: Int
    private let workers = WorkerHandles()
    /// Rung when a job is queued; idle workers also look once a second for retries that became due.
    public let doorbell = Doorbell()

    public init(queue: UploadQueue, store: any ObjectStore, concurrency: Int = 4) {
        self.queue = queue
        self.store = store
        self.concurrency = concurrency
    }

    public func start() {
        for _ in 0..<concurrency {
            workers.add(Task.detached { [self] in await work() })
        }
    }

    /// Stops taking jobs and cancels running transfers; their jobs stay queued for the next mount.
    public func stop() async {
        let tasks = workers.takeAll()
        for task in tasks { task.cancel() }
        await doorbell.ring()
        for task in tasks { await task.value }
    }

    private func work() async {
        while !Task.isCancelled {
            guard let task = queue.claim() else {
                await doorbell.wait(timeout: .seconds(1))
                continue
            }
            let outcome = await upload(task)
            if Task.isCancelled, case .transient = outcome {
                queue.finish(task, .transient("interrupted by unmount"))
                queue.logger.notice("unmounting with \(task.archiveKey) still queued; the next mount uploads it")
                return
            }
            queue.finish(task, outcome)
        }
    }

    /// A few quick retries per request before the whole job backs off: with one request in three
    /// failing, an archive and its TOC then go through on the first job attempt nine times in ten.
    private static let requestRetries = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1))

    private func upload(_ task: UploadTask) async -> UploadOutcome {
        let archiveSize = task.archiveSize
        do {
            do {
                try await uploadArchive(task, size: archiveSize)
            } catch StorageError.conflict(let message) {
                // Our own earlier attempt may have stored the archive before a crash: same size, ours.
                let remote = try await Self.requestRetries.run { try await store.info(key: task.archiveKey) }
                if remote.size != archiveSize { return .conflict(message) }
            }
            do {
                _ = try await Self.requestRetries.run {
                    try await store.put(
                        key: task.tocKey, fromFile: task.toc, contentType: "application/octet-stream", upsert: !task.firstPublish,
                        progress: nil)
                }
            } catch StorageError.conflict(let message) {
                // A retry after a lost acknowledgement finds our own TOC: identical bytes, ours.
                let remote = try await Self.requestRetries.run { try await store.get(key: task.tocKey, range: nil) }
                let local = FileManager.default.contents(atPath: task.toc).map { [UInt8]($0) }
                if remote != local { return .conflict(message) }
            }
            let ttl = queue.configuration.signedURLTTL
            let signed = try? await Self.requestRetries.run { try await store.sign(key: task.archiveKey, expiresIn: ttl) }
            return .uploaded(signed)
        } catch StorageError.tooLarge(let message) {
            return .failed(
                "the archive (\(archiveSize) bytes) is larger than the bucket accepts (\(message)); it stays local "
                    + "(download_url serves the local copy) and is not retried until the next mount: raise the "
                    + "bucket's file_size_limit (or the plan's upload limit), then remount")
        } catch let error as StorageError {
            return error.isTransient || Task.isCancelled ? .transient("\(error)") : .failed("\(error)")
        } catch {
            return Task.isCancelled ? .transient("cancelled") : .failed("\(error)")
        }
    }
}

extension Uploader {
    /// The archive goes up in one request up to RESUMABLE_UPLOAD_MIN_BYTES (6 MiB), and with a
    /// resumable (TUS) upload above it, as Supabase advises past 6 MB: a failure then costs at most the chunk in flight,
    /// and the upload URL, saved by the queue, lets a later attempt (after a crash too) continue
    /// from the server's offset.
    private func uploadArchive(_ task: UploadTask, size: Int64) async throws {
        if size > queue.configuration.resumableUploadMinBytes, let resumable = store as? any ResumableObjectStore {
            try await resumable.uploadResumably(
                key: task.archiveKey, fromFile: task.archive, contentType: "application/gzip", upsert: !task.firstPublish,
                resumeFrom: task.resumableURL, retry: Self.chunkRetries,
                onProgress: { [queue] url, acknowledged in
                    queue.recordResumable(task, url: url, acknowledged: acknowledged, total: size)
                })
            return
        }
        _ = try await Self.requestRetries.run {
            try await store.put(
                key: task.archiveKey, fromFile: task.archive, contentType: "application/gzip",
                upsert: !task.firstPublish,
                progress: { [queue] sent, total in queue.recordProgress(task, sent: sent, total: total) })
        }
    }

    /// Consecutive failed chunks (each followed by a HEAD for the server's offset) before the job
    /// backs off as a whole; any chunk that gets through resets the count.
    private static let chunkRetries = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
}

/// The worker tasks, so `stop` can cancel and await them.
private final class WorkerHandles: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Task<Void, Never>] = []  // guarded by `lock`

    func add(_ task: Task<Void, Never>) { lock.withLock { tasks.append(task) } }
    func takeAll() -> [Task<Void, Never>] { lock.withLock { defer { tasks = [] }; return tasks } }
}
