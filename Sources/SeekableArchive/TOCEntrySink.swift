// The protocol a TOC producer hands finished entries to, so entries can stream to a file.

/// Where a writer hands each finished TOC entry, in archive order.
public protocol TOCEntrySink: AnyObject {
    func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError)
    /// Blocks of an earlier TOC file copied as they are, their members moved by `shift` bytes
    /// (``SeekableTarWriter/appendCopied(_:byteRange:from:before:formatVersion:)``).
    func appendCopied(_ blocks: [CopiedTOCBlock], shift: Int64, formatVersion: Int) throws(ArchiveError)
}

extension TOCEntrySink {
    public func appendCopied(_ blocks: [CopiedTOCBlock], shift: Int64, formatVersion: Int) throws(ArchiveError) {
        throw .writerUnusable(reason: "this TOC is not a format-2 file: it cannot take copied blocks")
    }
}
