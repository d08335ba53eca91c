// Injected 503s and dropped connections: a retrying client still completes every upload intact.
import Foundation
import SupabaseStorage
import Testing

@Suite struct FaultInjectionTests {
    @Test func twoHundredUploadsSurviveThirtyPercentFaults() async throws {
        let h = try await Harness.start(faultRate: 0.15, faultResetRate: 0.15)
        defer { Task { await h.stop() } }
        let retry = RetryPolicy(maxAttempts: 30, baseDelay: .milliseconds(1), maxDelay: .milliseconds(20))
        let store = h.store
        let dir = h.directory
        let faults = FaultCounter()
        // Upsert makes a retried upload whose first answer was lost idempotent.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in stride(from: worker, to: 200, by: 4) {
                        let src = try dir.write("f\(i)", patternBytes(1000 + i * 37, seed: UInt64(i)))
                        _ = try await retry.run {
                            do {
                                return try await store.put(
                                    key: "faulty/\(i)",
                                    fromFile: src,
                                    contentType: "x/y",
                                    upsert: true,
                                    progress: nil
                                )
                            } catch let e as StorageError {
                                faults.add(e)
                                throw e
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        for i in 0..<200 {
            let back = try await retry.run { try await store.get(key: "faulty/\(i)", range: nil) }
            #expect(back == patternBytes(1000 + i * 37, seed: UInt64(i)), "object \(i)")
        }
        let seen = faults.all
        // With 30 % faults over 200+ requests, transient failures certainly happened, and only those.
        #expect(seen.count > 20)
        #expect(seen.allSatisfy { $0.isTransient })
        // Both kinds of fault were met: 503 answers and dropped connections (seen by libcurl).
        #expect(seen.contains { "\($0)".contains("503") })
        #expect(seen.contains { "\($0)".contains("libcurl") })
        let listed = try await retry.run { try await store.listAll(prefix: "faulty", pageSize: 1000) }
        #expect(listed.count == 200)
    }

    @Test func retryPolicyGivesUpOnPermanentErrorsAndAfterMaxAttempts() async throws {
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let calls = FaultCounter()
        await #expect(throws: StorageError.notFound("x")) {
            try await policy.run { () async throws -> Int in
                calls.add(.notFound("x"))
                throw StorageError.notFound("x")
            }
        }
        #expect(calls.all.count == 1)
        let transientCalls = FaultCounter()
        await #expect(throws: StorageError.transient("t")) {
            try await policy.run { () async throws -> Int in
                transientCalls.add(.transient("t"))
                throw StorageError.transient("t")
            }
        }
        #expect(transientCalls.all.count == 3)
        #expect(policy.delay(beforeRetry: 1) <= .milliseconds(1))
        #expect(RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(3)).delay(beforeRetry: 10) <= .seconds(3))
    }
}

/// Errors seen by concurrent workers; `lock` protects `errors`.
final class FaultCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [StorageError] = []

    func add(_ e: StorageError) {
        lock.lock()
        errors.append(e)
        lock.unlock()
    }

    var all: [StorageError] {
        lock.lock()
        defer { lock.unlock() }
        return errors
    }
}
