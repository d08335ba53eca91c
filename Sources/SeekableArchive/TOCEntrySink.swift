// The protocol a TOC producer hands finished entries to, so entries can stream to a file.

/// Where a writer hands each finished TOC entry, in archive order.
public protocol TOCEntrySink: AnyObject {
    func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError)
}
