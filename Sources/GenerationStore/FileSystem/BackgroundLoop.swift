// A background thread that runs one job every `interval` seconds, or sooner when poked: the
// snapshotter (FileSystem+Snapshot.swift, which also commits batched creates: Catalog.swift)
// and the cache clean-up (FileSystem+Cleanup.swift),
// so FUSE threads never pack archives or delete copies themselves.
import Foundation

public final class BackgroundLoop: @unchecked Sendable {
    private let name: String
    private let interval: TimeInterval
    private let job: @Sendable () -> Void
    // Guarded by `condition`:
    private let condition = NSCondition()
    private var poked = false
    private var stopping = false
    private var stopped = false

    public init(name: String, interval: TimeInterval, job: @escaping @Sendable () -> Void) {
        self.name = name
        self.interval = interval
        self.job = job
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Runs the job soon instead of at the end of the interval.
    public func poke() {
        condition.lock()
        poked = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops after the job in progress, if any.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            if !stopping && !poked { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
            poked = false
            let exit = stopping
            condition.unlock()
            if exit { break }
            job()
        }
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
