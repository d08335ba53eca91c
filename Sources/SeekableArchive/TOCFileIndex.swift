// The tail of a format-2 TOC (summary and block index) and the lookups it allows: one block per entry.

/// The tail of a format-2 TOC: summary and block index, parsed from the last bytes of the file.
///
/// A remote reader fetches ``suggestedTailLength`` bytes from the end (an HTTP suffix Range),
/// calls ``parse(tail:fileSize:)`` (fetching more if it says so), then finds any entry by
/// fetching one block: ``entry(at:fetch:)``.
public struct TOCFileIndex: Sendable {
    /// One block: a gzip member of records. `firstPath` is its first record's path bytes.
    /// `membersStart`, when known (written since format 5 existed), is the archive offset of its
    /// first entry's first member, and says that no gzip member is shared with the block before:
    /// the members of a run of such blocks are the archive bytes between their `membersStart`s.
    /// `memberBase` is what the block's first member offset is a delta from (format 5: not 0 in
    /// a block copied from an earlier TOC whose members moved; 0 otherwise).
    public struct Block: Sendable, Equatable {
        public var offset: UInt64
        public var length: UInt64
        public var entries: Int
        public var firstPath: [UInt8]
        public var membersStart: UInt64?
        public var memberBase: Int64

        public init(
            offset: UInt64, length: UInt64, entries: Int, firstPath: [UInt8], membersStart: UInt64? = nil,
            memberBase: Int64 = 0
        ) {
            self.offset = offset
            self.length = length
            self.entries = entries
            self.firstPath = firstPath
            self.membersStart = membersStart
            self.memberBase = memberBase
        }

        public var byteRange: Range<UInt64> { offset..<(offset + length) }
    }

    public enum ParseResult: Sendable {
        case index(TOCFileIndex)
        /// Fetch this many bytes from the end of the file and parse again.
        case needMore(UInt64)
    }

    /// A million-entry TOC's footer (about 950 blocks) compresses to well under this.
    public static let suggestedTailLength: UInt64 = 64 << 10
    /// A block's records are about 64 KiB; one huge entry (a file of a million members) can make
    /// a block larger, but nothing legitimate comes near this. Stops a crafted block from
    /// inflating without end.
    static let maximumBlockSize = 256 << 20
    /// The same guard for the footer JSON.
    static let maximumFooterSize = 256 << 20

    public let summary: TOCSummary
    public let blocks: [Block]

    /// `tail` = the last `tail.count` bytes of a TOC file of `fileSize` bytes. Returns
    /// `.needMore(tailLength)` when the footer starts before the tail, `.index(TOCFileIndex)` otherwise.
    public static func parse(tail: [UInt8], fileSize: UInt64) throws(ArchiveError) -> ParseResult {
        let trailerLength = UInt64(TOCFooter.trailerLength)
        guard UInt64(tail.count) <= fileSize else {
            throw .invalidTOC(reason: "the tail (\(tail.count) bytes) is longer than the file (\(fileSize))")
        }
        guard fileSize >= trailerLength else {
            throw .invalidTOC(reason: "a format-2 TOC has at least \(trailerLength) bytes, this one \(fileSize)")
        }
        guard tail.count >= TOCFooter.trailerLength else { return .needMore(trailerLength) }
        guard let footerOffset = TOCFooter.footerOffset(trailerOf: tail) else {
            throw .invalidTOC(reason: "the file does not end in the CBFSTOC2 trailer")
        }
        guard footerOffset < fileSize - trailerLength else {
            throw .invalidTOC(reason: "footer offset \(footerOffset) is not inside the \(fileSize)-byte file")
        }
        let needed = fileSize - footerOffset
        guard needed <= UInt64(tail.count) else { return .needMore(needed) }
        let footerStart = tail.count - Int(needed)
        let member = Array(tail[footerStart..<(tail.count - TOCFooter.trailerLength)])
        let json = try inflate(member, limit: maximumFooterSize, what: "the footer at offset \(footerOffset)")
        let footer = try TOCFooter.decode(json: json)
        try footer.summary.validate()
        try checkBlocks(footer, footerOffset: footerOffset)
        return .index(TOCFileIndex(summary: footer.summary, blocks: footer.blocks))
    }

    /// Blocks tile the file up to the footer, are non-empty, sum to `entry_count`, and their first
    /// paths increase: what the lookups and the reader rely on.
    private static func checkBlocks(_ footer: TOCFooter, footerOffset: UInt64) throws(ArchiveError) {
        var expectedOffset: UInt64 = 0
        var total: UInt64 = 0
        var previousFirst: [UInt8]?
        for (number, block) in footer.blocks.enumerated() {
            guard block.offset == expectedOffset, block.length > 0, block.length <= footerOffset - block.offset else {
                throw .invalidTOC(reason: "block \(number) (offset \(block.offset), length \(block.length)) "
                    + "does not follow the previous one inside the \(footerOffset) bytes before the footer")
            }
            guard block.entries > 0, !block.firstPath.isEmpty else {
                throw .invalidTOC(reason: "block \(number) has no entries or no first path")
            }
            if let previousFirst, !ArchivePathOrder.areInIncreasingOrder(previousFirst, block.firstPath) {
                throw .invalidTOC(reason: "block \(number)'s first path does not come after block \(number - 1)'s")
            }
            previousFirst = block.firstPath
            expectedOffset = block.offset + block.length
            total = total.addingReportingOverflow(UInt64(block.entries)).partialValue
        }
        guard expectedOffset == footerOffset else {
            throw .invalidTOC(reason: "blocks end at \(expectedOffset), the footer starts at \(footerOffset)")
        }
        guard total == footer.summary.entryCount else {
            throw .invalidTOC(reason: "entry_count is \(footer.summary.entryCount), the blocks hold \(total)")
        }
    }

    /// Reads the index of a TOC of `fileSize` bytes through `fetch` (byte ranges of the file, e.g.
    /// HTTP Range requests): the suggested tail, then more if the footer is longer.
    public static func read(
        fileSize: UInt64,
        fetch: (Range<UInt64>) throws(ArchiveError) -> [UInt8]
    ) throws(ArchiveError) -> TOCFileIndex {
        var length = min(TOCFileIndex.suggestedTailLength, fileSize)
        while true {
            let range = (fileSize - length)..<fileSize
            let tail = try fetch(range)
            guard tail.count == Int(length) else { throw .shortFetch(range: range, received: tail.count) }
            switch try TOCFileIndex.parse(tail: tail, fileSize: fileSize) {
            case .index(let index):
                return index
            case .needMore(let more):
                guard more > length, more <= fileSize else {
                    throw .invalidTOC(reason: "the footer needs \(more) bytes of a \(fileSize)-byte file")
                }
                length = more
            }
        }
    }

    /// The block that would hold `path` (binary search on firstPath in ArchivePathOrder), nil if before the first.
    public func blockIndex(containing path: some Collection<UInt8>) -> Int? {
        // The last block whose first path is not after `path`.
        var low = 0
        var high = blocks.count
        while low < high {
            let middle = (low + high) / 2
            if ArchivePathOrder.areInIncreasingOrder(path, blocks[middle].firstPath) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low == 0 ? nil : low - 1
    }

    /// Decodes one block's compressed bytes (exactly `blocks[i].length` bytes) into its entries; checks the count.
    ///
    /// Every entry is checked with ``ArchiveTOC/validate(_:archiveSize:)``, paths must increase
    /// within the block and the first must be the index's `firstPath`.
    public func entries(inBlock i: Int, bytes: [UInt8]) throws(ArchiveError) -> [ArchiveTOC.Entry] {
        guard blocks.indices.contains(i) else {
            throw .invalidTOC(reason: "block \(i) does not exist (the TOC has \(blocks.count))")
        }
        let block = blocks[i]
        let what = "block \(i) at offset \(block.offset)"
        guard UInt64(bytes.count) == block.length else {
            throw .shortFetch(range: block.byteRange, received: bytes.count)
        }
        let raw = try Self.inflate(bytes, limit: Self.maximumBlockSize, what: what)
        var cursor = ByteCursor(raw, context: what)
        var context = TOCRecord.BlockContext(previousMemberOffset: UInt64(bitPattern: block.memberBase))
        var entries: [ArchiveTOC.Entry] = []
        entries.reserveCapacity(min(block.entries, raw.count))  // `entries` comes from the footer: bound it
        while !cursor.isAtEnd {
            guard entries.count < block.entries else {
                throw .invalidTOC(reason: "\(what) holds more than the \(block.entries) entries the index says")
            }
            let previous = context.previousPath
            let (entry, path) = try TOCRecord.decode(&cursor, context: &context, formatVersion: summary.formatVersion)
            if entries.isEmpty {
                guard path == block.firstPath else {
                    throw .invalidTOC(reason: "\(what) starts with '\(entry.path)', not the index's first path")
                }
            } else if !ArchivePathOrder.areInIncreasingOrder(previous, path) {
                throw .invalidTOC(reason: "'\(entry.path)' in \(what) does not come after the path before it")
            }
            try ArchiveTOC.validate(entry, archiveSize: summary.archiveSize)
            entries.append(entry)
        }
        guard entries.count == block.entries else {
            throw .invalidTOC(reason: "\(what) holds \(entries.count) entries, the index says \(block.entries)")
        }
        return entries
    }

    /// Finds one entry by fetching the needed block through `fetch` (byte range of the TOC file) —
    /// the Range-read path. Fetches one block, or nothing when `path` sorts before the first.
    public func entry(
        at path: some Collection<UInt8>,
        fetch: (Range<UInt64>) throws(ArchiveError) -> [UInt8]
    ) throws(ArchiveError) -> ArchiveTOC.Entry? {
        guard let i = blockIndex(containing: path) else { return nil }
        let candidates = try entries(inBlock: i, bytes: try fetch(blocks[i].byteRange))
        return candidates.first { $0.pathBytes.elementsEqual(path) }
    }

    /// Inflates one whole gzip member held in memory; damage is ``ArchiveError/invalidTOC(reason:)``.
    static func inflate(_ member: [UInt8], limit: Int, what: String) throws(ArchiveError) -> [UInt8] {
        var output: [UInt8] = []
        let inflater = try GzipInflater()
        do {
            _ = try inflater.inflateMember(member) { chunk throws(ArchiveError) in
                guard output.count + chunk.count <= limit else {
                    throw .invalidTOC(reason: "\(what) inflates to more than \(limit) bytes")
                }
                output.append(contentsOf: chunk)
                return true
            }
        } catch {
            if let underlying = error.underlying { throw underlying }
            throw .invalidTOC(reason: "\(what) does not inflate: \(error.reason)")
        }
        return output
    }
}
