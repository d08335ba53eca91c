// A background thread that runs one job every `interval` seconds, or sooner when poked: the
// snapshotter (Snapshots/, which also commits batched creates: Catalog.swift), the cache
// clean-up (Cleanup/) and the trash emptier (Storage/Trash.swift), so FUSE threads never pack
// archives, delete copies or free the blocks of removed files themselves.
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

    private let idlePriority: Bool

    /// With `runFirst`, the job runs once as soon as the thread starts. With `idlePriority`, the
    /// thread runs only on a CPU nothing else wants (SCHED_IDLE): for work no request waits for.
    public init(
        name: String, interval: TimeInterval, runFirst: Bool = false, idlePriority: Bool = false,
        job: @escaping @Sendable () -> Void
    ) {
        self.name = name
        self.interval = interval
        self.job = job
        self.idlePriority = idlePriority
        poked = runFirst
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
        if idlePriority {
            var parameters = sched_param()
            _ = sched_setscheduler(0, Self.schedIdle, &parameters)  // 0: this thread
        }
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

    /// SCHED_IDLE from <sched.h> (Glibc does not export it to Swift).
    private static let schedIdle: Int32 = 5
}
