// A TOC kept in memory: the sink a writer uses when its owner wants the whole ArchiveTOC back.

/// Collects every entry a writer finishes, in order.
final class TOCCollector: TOCEntrySink {
    private(set) var entries: [ArchiveTOC.Entry] = []

    func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError) { entries.append(entry) }
}
