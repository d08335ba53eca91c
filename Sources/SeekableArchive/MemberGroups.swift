// The runs of TOC entries that own whole gzip members together: what can be copied from an
// archive into another without compressing again (SeekableTarWriter.appendReused).

/// Entries that own a run of gzip members together: the entries of one shared member, or one
/// file with members of its own. `byteRange` is their members' compressed bytes.
public struct MemberGroup: Sendable, Equatable {
    public var entries: [ArchiveTOC.Entry]
    public var byteRange: Range<UInt64>
    /// The TOC block whose first entry is the group's first, when it is one.
    public var startsBlock: Int? = nil
}

/// Splits TOC entries, in TOC order, into ``MemberGroup``s, reading one entry ahead.
public struct MemberGroups {
    private let next: () throws(ArchiveError) -> ArchiveTOC.Entry?
    private let blockStartingAtNext: () -> Int?
    private var lookahead: ArchiveTOC.Entry?
    private var lookaheadStartsBlock: Int?

    /// `next` gives the TOC's entries in order, nil after the last (e.g. ``TOCFileReader/next()``);
    /// `blockStartingAtNext`, the block whose first entry `next` gives next, if it does.
    public init(
        next: @escaping () throws(ArchiveError) -> ArchiveTOC.Entry?, blockStartingAtNext: @escaping () -> Int? = { nil }
    ) throws(ArchiveError) {
        self.next = next
        self.blockStartingAtNext = blockStartingAtNext
        try refill()
    }

    /// Reads the entry ahead again, after the source skipped entries.
    public mutating func refill() throws(ArchiveError) {
        lookaheadStartsBlock = blockStartingAtNext()
        lookahead = try next()
    }

    /// The groups of a TOC held in memory.
    public static func of(_ entries: [ArchiveTOC.Entry]) -> [MemberGroup] {
        var remaining = entries[...]
        guard var groups = try? MemberGroups(next: { remaining.popFirst() }) else { return [] }
        var all: [MemberGroup] = []
        while let group = try? groups.nextGroup() { all.append(group) }
        return all
    }

    /// The next group; nil after the last entry.
    public mutating func nextGroup() throws(ArchiveError) -> MemberGroup? {
        guard let first = lookahead else { return nil }
        let startsBlock = lookaheadStartsBlock
        var entries = [first]
        try refill()
        // A shared member: every entry of the run has that one member.
        if first.members.count == 1 {
            while let following = lookahead, following.members.count == 1,
                following.members[0].offset == first.members[0].offset
            {
                entries.append(following)
                try refill()
            }
        }
        let start = first.members.first?.offset ?? 0
        let end = entries.flatMap(\.members).map(\.byteRange.upperBound).max() ?? start
        return MemberGroup(entries: entries, byteRange: start..<end, startsBlock: startsBlock)
    }
}
