// Unit tests of the names kept for directories made by this mount (lookups that miss from memory).
import Testing

@testable import GenerationStore

@Suite struct KnownChildrenTests {
    let a = Array("a".utf8)
    let b = Array("b".utf8)

    @Test func onlyDirectoriesMadeHereAnswerAbsence() {
        var known = KnownChildren()
        #expect(!known.isSurelyAbsent(a, in: 1), "a directory not made here is asked in the catalog")
        known.added(a, to: 1)
        #expect(!known.isSurelyAbsent(b, in: 1), "adding to an unknown directory does not make it known")
        known.directoryCreated(2)
        #expect(known.isSurelyAbsent(a, in: 2))
        known.added(a, to: 2)
        #expect(!known.isSurelyAbsent(a, in: 2))
        #expect(known.isSurelyAbsent(b, in: 2))
    }

    @Test func removalsAndRenamesKeepTheNamesExact() {
        var known = KnownChildren()
        known.directoryCreated(2)
        known.directoryCreated(3)
        known.added(a, to: 2)
        known.removed(a, from: 2)
        known.added(b, to: 3)
        #expect(known.isSurelyAbsent(a, in: 2))
        #expect(!known.isSurelyAbsent(b, in: 3))
        known.directoryRemoved(3)
        #expect(!known.isSurelyAbsent(b, in: 3), "a removed directory is no longer known")
        known.directoryCreated(2)
        #expect(known.isSurelyAbsent(a, in: 2))
    }

    @Test func pastTheLimitEverythingIsForgotten() {
        var known = KnownChildren(limit: 3)
        known.directoryCreated(2)
        for i in 0..<3 { known.added(Array("n\(i)".utf8), to: 2) }
        #expect(known.isSurelyAbsent(a, in: 2))
        known.added(Array("n3".utf8), to: 2)
        #expect(!known.isSurelyAbsent(a, in: 2), "lookups go back to the catalog")
    }
}
