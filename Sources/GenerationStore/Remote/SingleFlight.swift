// One fetch per file (or TOC) however many readers ask for it at the same time.
import Foundation

/// Runs one job per key at a time: callers arriving while it runs wait and share its outcome.
final class SingleFlight<Key: Hashable>: @unchecked Sendable {
    private final class Flight {
        var outcome: Result<Void, FSError>?
    }

    private let condition = NSCondition()
    private var flights: [Key: Flight] = [:]  // guarded by `condition`

    func run(_ key: Key, _ job: () throws(FSError) -> Void) throws(FSError) {
        condition.lock()
        if let flight = flights[key] {
            while flight.outcome == nil { condition.wait() }
            condition.unlock()
            return try flight.outcome?.get() ?? ()
        }
        let flight = Flight()
        flights[key] = flight
        condition.unlock()
        let outcome: Result<Void, FSError>
        do {
            try job()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        condition.lock()
        flight.outcome = outcome
        flights[key] = nil
        condition.broadcast()
        condition.unlock()
        try outcome.get()
    }
}
