// What the daemon is busy with, for whoever waits on it: `codebegenfs unmount` and a mount
// waiting for this daemon to finish (over the control socket), and systemd's STATUS line.
// Its own lock; never held while calling out.
import Foundation

public final class ActivityBoard: @unchecked Sendable {
    public enum Phase: String, Sendable, Codable {
        case starting, serving
        /// Unmounted: finishing a snapshot, saving the catalog, stopping uploads.
        case stopping
        /// Everything saved; the process is about to exit.
        case finished
    }

    public struct State: Sendable, Equatable {
        public var phase: Phase
        /// One line per job in progress, oldest first, e.g. "packing v3 of g1 (project p1): 1204 of 2000 entries".
        public var doing: [String]
        /// Grows with every change, for `waitForChange`.
        public var revision: UInt64
    }

    public typealias Job = UInt64

    // Guarded by `condition`:
    private let condition = NSCondition()
    private var state = State(phase: .starting, doing: [], revision: 0)
    private var jobs: [(Job, String)] = []
    private var nextJob: Job = 1

    public init() {}

    public var current: State { condition.withLock { state } }

    public func enter(_ phase: Phase) {
        change { $0.phase = phase }
    }

    public func begin(_ text: String) -> Job {
        condition.withLock {
            let job = nextJob
            nextJob += 1
            jobs.append((job, text))
            publishLocked()
            return job
        }
    }

    public func update(_ job: Job, _ text: String) {
        condition.withLock {
            guard let index = jobs.firstIndex(where: { $0.0 == job }) else { return }
            jobs[index].1 = text
            publishLocked()
        }
    }

    public func end(_ job: Job) {
        condition.withLock {
            jobs.removeAll { $0.0 == job }
            publishLocked()
        }
    }

    /// Runs `body` as a job described by `text`.
    public func during<T>(_ text: String, _ body: () throws -> T) rethrows -> T {
        let job = begin(text)
        defer { end(job) }
        return try body()
    }

    /// The state once its revision is past `revision`, or the current one after `timeout` seconds.
    public func waitForChange(after revision: UInt64, timeout: Double) -> State {
        let deadline = Date(timeIntervalSinceNow: timeout)
        return condition.withLock {
            while state.revision <= revision, condition.wait(until: deadline) {}
            return state
        }
    }

    private func change(_ body: (inout State) -> Void) {
        condition.withLock {
            body(&state)
            state.revision += 1
            condition.broadcast()
        }
    }

    private func publishLocked() {
        state.doing = jobs.map(\.1)
        state.revision += 1
        condition.broadcast()
    }
}
