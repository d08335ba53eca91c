// The link to the bucket, and whether it has answered yet. A mount is local first: it serves
// every local version at once, whatever the storage does. Only once the bucket has answered
// (checked, and created if missing) does the mount list other mounts' versions and start the
// upload queue; until then it keeps asking, with backoff, and says why it waits.
import Foundation
import Logging
import SupabaseStorage

public final class RemoteConnection: @unchecked Sendable {
    public let store: any ObjectStore
    public let url: String
    public let bucket: String
    private let logger: Logger

    public enum State: Sendable, Equatable {
        case connecting
        /// The last bucket check failed; the next one runs at `retryAtNs` (wall clock).
        case waiting(reason: String, sinceNs: Int64, attempts: Int, retryAtNs: Int64)
        case connected(atNs: Int64)
    }

    // Guarded by `condition`:
    private let condition = NSCondition()
    private var state = State.connecting
    private var stopping = false
    private var finished = true

    /// Seconds between bucket checks: doubling from the first to the last while the storage is down.
    static let firstRetry = 0.5
    static let lastRetry = 15.0

    public init(store: any ObjectStore, url: String, bucket: String, logger: Logger) {
        self.store = store
        self.url = url
        self.bucket = bucket
        self.logger = logger
    }

    public var current: State { condition.withLock { state } }

    /// True once the bucket has answered. While the first check is still under way, waits for it
    /// (at most `timeout` seconds), so a lookup right after the mount starts still finds other
    /// mounts' versions; once a check has failed, answers false at once.
    func waitForFirstAnswer(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        return condition.withLock {
            while state == .connecting, condition.wait(until: deadline) {}
            if case .connected = state { return true }
            return false
        }
    }

    /// Checks the bucket on a thread of its own until it answers, then runs `onConnected` there once.
    public func start(onConnected: @escaping @Sendable () -> Void) {
        condition.withLock { finished = false }
        let thread = Thread { [self] in
            if connect() { onConnected() }
            condition.withLock {
                finished = true
                condition.broadcast()
            }
        }
        thread.name = "bucket check"
        thread.start()
    }

    /// Stops asking; waits for a check or an `onConnected` in progress to end.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    /// Returns true once the bucket answered, false if stopped first.
    private func connect() -> Bool {
        var attempts = 0
        while !condition.withLock({ stopping }) {
            attempts += 1
            let bucket = self.bucket
            let store = self.store
            switch BlockingCall.run({ try await store.createBucketIfMissing(name: bucket, public: false) }) {
            case .success(let created):
                if created { logger.info("created the private bucket \(bucket)") }
                if attempts > 1 { logger.notice("storage at \(url) answers again: uploads and listings resume") }
                condition.withLock {
                    state = .connected(atNs: Timespec.now().totalNanoseconds)
                    condition.broadcast()
                }
                return true
            case .failure(let error):
                let delay = min(Self.lastRetry, Self.firstRetry * pow(2, Double(attempts - 1)))
                let reason = Self.reason(error)
                let now = Timespec.now().totalNanoseconds
                condition.withLock {
                    let since: Int64
                    if case .waiting(_, let first, _, _) = state { since = first } else { since = now }
                    state = .waiting(reason: reason, sinceNs: since, attempts: attempts, retryAtNs: now + Int64(delay * 1e9))
                    condition.broadcast()
                }
                if attempts == 1 || attempts.isMultiple(of: 20) {
                    logger.warning(
                        "storage at \(url) (bucket \(bucket)) does not answer: \(reason); local versions are served, uploads wait (attempt \(attempts), retrying every \(Int(Self.lastRetry)) s at most)")
                }
                condition.withLock {
                    if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: delay)) }
                }
            }
        }
        return false
    }

    /// What a user should read: the storage client's typed error, with a hint for a refused key.
    static func reason(_ error: any Error) -> String {
        if case StorageError.unauthorized(let message) = error {
            return "the service key was refused (\(message)): check SUPABASE_SERVICE_KEY"
        }
        return "\(error)"
    }
}
