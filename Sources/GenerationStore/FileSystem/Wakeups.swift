// How the file system wakes the background workers instead of letting them poll: clean-up when
// a fetch added to the cache, the upload workers when a job was queued, the blob maker when
// creates ran its pool low (Storage/BlobPool.swift). Its own lock, so it may
// be rung while the file system's lock is held.
import Foundation

public final class Wakeups: @unchecked Sendable {
    private let lock = NSLock()
    private var onContentAdded: @Sendable () -> Void = {}  // guarded by `lock`
    private var onUploadQueued: @Sendable () -> Void = {}  // guarded by `lock`
    private var onBlobsWanted: @Sendable () -> Void = {}  // guarded by `lock`

    public init() {}

    public func set(
        contentAdded: @escaping @Sendable () -> Void, uploadQueued: @escaping @Sendable () -> Void,
        blobsWanted: @escaping @Sendable () -> Void
    ) {
        lock.withLock {
            onContentAdded = contentAdded
            onUploadQueued = uploadQueued
            onBlobsWanted = blobsWanted
        }
    }

    func contentAdded() { lock.withLock { onContentAdded }() }
    func uploadQueued() { lock.withLock { onUploadQueued }() }
    func blobsWanted() { lock.withLock { onBlobsWanted }() }
}

/// Lets idle async workers sleep until rung or until `timeout` passes (for work that becomes due by time).
public actor Doorbell {
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private var rungWhileBusy = false

    public init() {}

    public func ring() {
        if waiters.isEmpty { rungWhileBusy = true }
        for waiter in waiters.values { waiter.resume() }
        waiters.removeAll()
    }

    public func wait(timeout: Duration) async {
        if rungWhileBusy {
            rungWhileBusy = false
            return
        }
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { continuation in
            waiters[id] = continuation
            Task {
                try? await Task.sleep(for: timeout)
                self.timeOut(id)
            }
        }
    }

    private func timeOut(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
