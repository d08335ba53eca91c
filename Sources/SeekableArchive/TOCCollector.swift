// A TOC kept in memory: the sink a writer uses when its owner wants the whole ArchiveTOC back.

/// Collects every entry a writer finishes, in order.
final class TOCCollector: TOCEntrySink {
    private(set) var entries: [ArchiveTOC.Entry] = []

    func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError) { entries.append(entry) }
}

extension ArchiveTOC {
    /// A whole TOC from its summary and its entries.
    public init(summary: TOCSummary, entries: [Entry]) {
        self.init(
            formatVersion: summary.formatVersion, chunkSize: summary.chunkSize, archiveSize: summary.archiveSize,
            archiveSHA256: summary.archiveSHA256, entries: entries, endMember: summary.endMember)
        metadata = summary.metadata
    }
}
