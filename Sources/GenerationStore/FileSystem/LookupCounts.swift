// The kernel's lookup count of every inode it holds, exactly, in about 4 bytes an inode.
// After a million creates (or a `find` over a million files) the kernel holds a million inodes;
// a dictionary of them took 32 MB and grew to 48 MB while rehashing. Node ids are catalog row
// ids, handed out in order and never reused, so the counts live in pages of consecutive ids.

struct LookupCounts {
    private static let pageBits = 10
    private static let pageSize = 1 << pageBits

    private struct Page {
        /// `UInt32.max` means the count is in `large`.
        var counts = [UInt32](repeating: 0, count: LookupCounts.pageSize)
        var held = 0
    }

    private var pages: [Int64: Page] = [:]
    /// Counts that do not fit 32 bits (a name the kernel revalidates for days): rare.
    private var large: [Int64: UInt64] = [:]

    /// Pages allocated, for tests: a page is given back when its last inode is forgotten.
    var pageCount: Int { pages.count }

    func count(_ id: Int64) -> UInt64 {
        guard let page = pages[id >> Self.pageBits] else { return 0 }
        let stored = page.counts[Self.slot(id)]
        return stored == .max ? large[id] ?? 0 : UInt64(stored)
    }

    mutating func add(_ id: Int64) { setCount(id, count(id) + 1) }

    /// Takes `count` lookups away (never below zero); returns true when none remain.
    mutating func remove(_ id: Int64, count removed: UInt64) -> Bool {
        let current = count(id)
        setCount(id, current - min(removed, current))
        return removed >= current
    }

    /// Sets the count outright (tests start from counts no test could reach by adding). Every
    /// lookup and forget comes here: the page is taken out of the table and put back, two hash
    /// operations, and is mutated in place in between.
    mutating func setCount(_ id: Int64, _ value: UInt64) {
        let key = id >> Self.pageBits
        guard value > 0 || pages[key] != nil else { return }
        let slot = Self.slot(id)
        var page = pages.removeValue(forKey: key) ?? Page()
        let old = page.counts[slot]
        if old == .max { large[id] = nil }
        if value >= UInt64(UInt32.max) {
            page.counts[slot] = .max
            large[id] = value
        } else {
            page.counts[slot] = UInt32(value)
        }
        page.held += (value > 0 ? 1 : 0) - (old != 0 ? 1 : 0)
        if page.held > 0 { pages[key] = page }
    }

    private static func slot(_ id: Int64) -> Int { Int(id & Int64(pageSize - 1)) }
}
