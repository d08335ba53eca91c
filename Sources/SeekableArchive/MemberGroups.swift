// The runs of TOC entries that own whole gzip members together: what can be copied from an
// archive into another without compressing again (SeekableTarWriter.appendReused).

/// Entries that own a run of gzip members together: the entries of one shared member, or one
/// file with members of its own. `byteRange` is their members' compressed bytes.
public struct MemberGroup: Sendable, Equatable {
    public var entries: [ArchiveTOC.Entry]
    public var byteRange: Range<UInt64>
}

/// Splits TOC entries, in TOC order, into ``MemberGroup``s, reading one entry ahead.
public struct MemberGroups {
    private let next: () throws(ArchiveError) -> ArchiveTOC.Entry?
    private var lookahead: ArchiveTOC.Entry?

    /// `next` gives the TOC's entries in order, nil after the last (e.g. ``TOCFileReader/next()``).
    public init(next: @escaping () throws(ArchiveError) -> ArchiveTOC.Entry?) throws(ArchiveError) {
        self.next = next
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
        var entries = [first]
        lookahead = try next()
        // A shared member: every entry of the run has that one member.
        if first.members.count == 1 {
            while let following = lookahead, following.members.count == 1,
                following.members[0].offset == first.members[0].offset
            {
                entries.append(following)
                lookahead = try next()
            }
        }
        let start = first.members.first?.offset ?? 0
        let end = entries.flatMap(\.members).map(\.byteRange.upperBound).max() ?? start
        return MemberGroup(entries: entries, byteRange: start..<end)
    }
}
