// Unit tests of clean-up's choice (DESIGN §6): TTL first, then least recently used down to the limit.
import Testing

@testable import GenerationStore

@Suite struct CleanUpPolicyTests {
    private let hour: Int64 = 3_600_000_000_000
    private let now: Int64 = 100 * 3_600_000_000_000

    private func copy(_ id: Int64, bytes: Int64, hoursAgo: Int64, removable: Bool = true, cached: Bool = false) -> CleanCopy {
        CleanCopy(
            kind: cached ? .cachedFile(nodeID: id) : .versionFiles(versionID: id), bytes: bytes,
            lastUsedNs: now - hoursAgo * hour, removable: removable)
    }

    @Test func removesWhatOutlivedTheTTLEvenUnderTheLimit() {
        let copies = [copy(1, bytes: 10, hoursAgo: 30), copy(2, bytes: 10, hoursAgo: 1), copy(3, bytes: 10, hoursAgo: 25, cached: true)]
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 1000)
            == [.versionFiles(versionID: 1), .cachedFile(nodeID: 3)])
    }

    @Test func removesLeastRecentlyUsedFirstUntilUnderTheLimit() {
        let copies = [copy(1, bytes: 40, hoursAgo: 2), copy(2, bytes: 40, hoursAgo: 3, cached: true), copy(3, bytes: 40, hoursAgo: 1)]
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 100) == [.cachedFile(nodeID: 2)])
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 40)
            == [.cachedFile(nodeID: 2), .versionFiles(versionID: 1)])
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 120) == [])
    }

    @Test func openCopiesCountTowardsTheLimitButStay() {
        let copies = [copy(1, bytes: 50, hoursAgo: 50, removable: false), copy(2, bytes: 50, hoursAgo: 1)]
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 60) == [.versionFiles(versionID: 2)])
        #expect(CleanUpPolicy.choose(copies, nowNs: now, ttlNs: 24 * hour, maxBytes: 0) == [.versionFiles(versionID: 2)])
    }

    @Test func aTTLOfZeroRemovesEverythingRemovable() {
        let copies = [copy(1, bytes: 1, hoursAgo: 0), copy(2, bytes: 1, hoursAgo: 0, cached: true)]
        #expect(CleanUpPolicy.choose(copies, nowNs: now + 1, ttlNs: 0, maxBytes: .max).count == 2)
    }

    @Test func versionTOCNamesAreRecognised() {
        #expect(Namespace.tocVersionNumber("v12.toc.json") == 12)
        for other in ["v12.tar.gz", "v0.toc.json", "x.toc.json", "v1.toc.json.tmp", "v01.toc.json"] {
            #expect(Namespace.tocVersionNumber(other) == nil, "\(other)")
        }
    }
}
