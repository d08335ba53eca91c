// Unit tests of the kernel's lookup counts kept in pages of consecutive inode numbers.
import Testing

@testable import GenerationStore

@Suite struct LookupCountsTests {
    @Test func countsAreExactPerInodeAndForgetStopsAtZero() {
        var counts = LookupCounts()
        for _ in 0..<3 { counts.add(7) }
        counts.add(8)
        #expect(counts.count(7) == 3)
        #expect(counts.count(8) == 1)
        #expect(counts.count(9) == 0)
        let gone1 = counts.remove(7, count: 2)
        #expect(!gone1, "one lookup of 7 remains")
        #expect(counts.count(7) == 1)
        let gone2 = counts.remove(7, count: 1)
        #expect(gone2)
        #expect(counts.count(7) == 0)
        let gone3 = counts.remove(9, count: 1)
        #expect(gone3, "an inode never looked up has none")
        let gone4 = counts.remove(8, count: 5)
        #expect(gone4, "a larger forget than given leaves zero, not a wrapped count")
        #expect(counts.count(8) == 0)
    }

    @Test func aMillionInodesTakePagesThatAreGivenBackWhenForgotten() {
        var counts = LookupCounts()
        for id in Int64(1)...1_000_000 { counts.add(id) }
        #expect(counts.pageCount == 977, "1 000 000 consecutive ids in pages of 1024")
        #expect(counts.count(123_456) == 1)
        for id in Int64(1)...999_999 { _ = counts.remove(id, count: 1) }
        #expect(counts.pageCount == 1, "only the page of the one inode still held")
        #expect(counts.count(1_000_000) == 1)
    }

    @Test func countsBeyond32BitsStayExact() {
        let id: Int64 = 42
        var big = LookupCounts()
        big.setCount(id, UInt64(UInt32.max) - 1)
        big.add(id)
        big.add(id)
        #expect(big.count(id) == UInt64(UInt32.max) + 1)
        let gone5 = big.remove(id, count: 2)
        #expect(!gone5)
        #expect(big.count(id) == UInt64(UInt32.max) - 1)
        let gone6 = big.remove(id, count: UInt64(UInt32.max) - 1)
        #expect(gone6)
        #expect(big.pageCount == 0)
    }
}
