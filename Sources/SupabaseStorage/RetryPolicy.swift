// Exponential backoff with full jitter, retrying only transient storage errors.

/// How often and how patiently to retry an operation that failed with a transient ``StorageError``.
///
/// A POST upload whose answer was lost may have succeeded: retry it with `upsert: true`, or treat
/// ``StorageError/conflict(_:)`` on a retry as success.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before retry number `attempt` (1-based): uniform in [0, min(maxDelay, base * 2^(attempt-1))].
    public func delay(beforeRetry attempt: Int) -> Duration {
        let cap = min(maxDelay, baseDelay * (1 << min(max(attempt - 1, 0), 30)))
        let capNanos = cap.components.seconds * 1_000_000_000 + cap.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(capNanos, 0)))
    }

    /// Runs `operation`, retrying while it throws a transient ``StorageError`` and attempts remain.
    /// Other errors, and the last transient one, are rethrown.
    public func run<T>(_ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as StorageError where error.isTransient && attempt < maxAttempts {
                try await Task.sleep(for: delay(beforeRetry: attempt))
                attempt += 1
            }
        }
    }
}
