// A whole in-memory ArchiveTOC to and from format-2 bytes, through the same code as the file writer and reader.

extension ArchiveTOC {
    /// The format-2 (or 3) bytes of this TOC, the same bytes ``TOCFileWriter`` would write for its entries
    /// and ``summary``. Entries must be strictly increasing in ``ArchivePathOrder``.
    /// The footer says 3 when an entry needs it, else 2, whatever ``formatVersion`` holds.
    public func encodeFormat2() throws(ArchiveError) -> [UInt8] {
        try Self.validateHardLinkTargets(entries)
        final class Buffer {
            var bytes: [UInt8] = []
        }
        let buffer = Buffer()
        let encoder = try TOCStreamEncoder { bytes throws(ArchiveError) in buffer.bytes.append(contentsOf: bytes) }
        for entry in entries { try encoder.append(entry) }
        _ = try encoder.finish(summary)
        return buffer.bytes
    }

    /// A whole format-2 TOC held in memory (``decode(from:)`` found its trailer).
    static func decodeFormat2(_ bytes: [UInt8]) throws(ArchiveError) -> ArchiveTOC {
        guard case .index(let index) = try TOCFileIndex.parse(tail: bytes, fileSize: UInt64(bytes.count)) else {
            throw .invalidTOC(reason: "the footer lies outside the TOC's bytes")
        }
        let reader = TOCFileReader(index: index) { range throws(ArchiveError) in
            guard range.upperBound <= UInt64(bytes.count) else {
                throw .shortFetch(range: range, received: 0)
            }
            return Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        }
        var entries: [ArchiveTOC.Entry] = []
        entries.reserveCapacity(Int(min(index.summary.entryCount, UInt64(bytes.count))))
        while let entry = try reader.next() { entries.append(entry) }
        try validateHardLinkTargets(entries)
        return ArchiveTOC(summary: index.summary, entries: entries)
    }
}
