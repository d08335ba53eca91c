// Runs a piece of background work on a thread of its own at a lower CPU priority (nice 10) and
// waits for it. For the lock-free, CPU-bound part of background jobs (compressing a snapshot):
// on a machine with few cores, requests from the user's tools then get the CPU first. The calling
// thread keeps its priority, so the locks it takes before and after are never held at a low one
// (a process may lower a thread's priority, but raising it back needs CAP_SYS_NICE).
import Foundation

enum LowPriorityThread {
    static let niceness: Int32 = 10

    static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let thread = Thread {
            // On Linux the nice value is per thread, and who = 0 is the calling thread. Never raised.
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            _ = setpriority(which, 0, max(getpriority(which, 0), niceness))
            outcome.finish(Result { try body() })
        }
        thread.name = name
        thread.start()
        return try outcome.wait().get()
    }

    private final class Outcome<T: Sendable>: @unchecked Sendable {
        private let condition = NSCondition()
        private var result: Result<T, any Error>?  // guarded by `condition`

        func finish(_ result: Result<T, any Error>) {
            condition.withLock {
                self.result = result
                condition.signal()
            }
        }

        func wait() -> Result<T, any Error> {
            condition.withLock {
                while true {
                    if let result { return result }
                    condition.wait()
                }
            }
        }
    }
}
