// One lock per resumable upload, with Supabase's hand-over rules: a request that finds the upload locked asks
// the holder to let go, the holder stops taking body bytes once it has been asked for 3 s, and the asker gives
// up with "acquiring lock timeout" (503) after 5 s.
import Foundation

/// One request's hold on an upload. The holder polls ``mustYield`` between body buffers.
final class UploadLease: @unchecked Sendable {
    let id: String
    private let drainTimeout: Duration
    /// `lock` protects `releaseRequested`.
    private let lock = NSLock()
    private var releaseRequested: ContinuousClock.Instant?

    init(id: String, drainTimeout: Duration) {
        self.id = id
        self.drainTimeout = drainTimeout
    }

    /// Another request waits for this upload.
    func requestRelease() {
        lock.withLock { if releaseRequested == nil { releaseRequested = .now } }
    }

    /// True once a release has been requested the drain timeout ago: the holder stores what it has,
    /// answers with its offset and lets go (@tus/server aborts the holder's request after `lockDrainTimeout`).
    var mustYield: Bool {
        lock.withLock { releaseRequested.map { ContinuousClock.now - $0 >= drainTimeout } ?? false }
    }
}

/// The locks of all uploads. Waiters poll, as Supabase's Postgres locker does (`pg_try_advisory_xact_lock` in a loop).
actor UploadLocks {
    /// Supabase's PgLocker gives up after this long.
    static let acquireTimeout: Duration = .seconds(5)
    /// Supabase polls every 500 ms; shorter here, so that a client's HEAD after its own dropped PATCH waits less.
    static let pollInterval: Duration = .milliseconds(50)

    private var held: [String: UploadLease] = [:]
    /// How long a holder keeps taking bytes once asked to let go: @tus/server's `lockDrainTimeout`,
    /// 3 s by default (StorageServerConfiguration); tests shorten it to widen the gap to the
    /// waiter's 5 s on a loaded machine.
    private let drainTimeout: Duration

    init(drainTimeout: Duration) { self.drainTimeout = drainTimeout }

    /// A new lease when the upload is free; otherwise asks the holder to let go and returns nil.
    private func tryAcquire(_ id: String) -> UploadLease? {
        if let holder = held[id] {
            holder.requestRelease()
            return nil
        }
        let lease = UploadLease(id: id, drainTimeout: drainTimeout)
        held[id] = lease
        return lease
    }

    private func release(_ lease: UploadLease) {
        if held[lease.id] === lease { held[lease.id] = nil }
    }

    /// Runs `body` holding the lock of upload `id`; ``TusError/lockTimeout`` when it stays held for 5 s.
    nonisolated func withLock<T>(_ id: String, _ body: (UploadLease) async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + Self.acquireTimeout
        var lease = await tryAcquire(id)
        while lease == nil {
            guard ContinuousClock.now < deadline else { throw TusError.lockTimeout }
            try await Task.sleep(for: Self.pollInterval)
            lease = await tryAcquire(id)
        }
        guard let lease else { throw TusError.lockTimeout }
        do {
            let result = try await body(lease)
            await release(lease)
            return result
        } catch {
            await release(lease)
            throw error
        }
    }
}
