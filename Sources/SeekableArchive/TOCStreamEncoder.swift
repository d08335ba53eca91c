// Turns entries into format-2 TOC bytes as they come: blocks of records, then the footer and trailer.

/// The one format-2 encoder, behind ``TOCFileWriter`` (bytes to a file) and
/// ``ArchiveTOC/encodeFormat2()`` (bytes to memory). Holds one uncompressed block and the
/// block index; every finished block goes to `sink` at once.
///
/// An entry it rejects (``ArchiveError/invalidEntry(path:reason:)``) changes nothing; an error
/// from the sink or zlib makes later calls throw ``ArchiveError/writerUnusable(reason:)``.
final class TOCStreamEncoder {
    typealias Sink = (UnsafeRawBufferPointer) throws(ArchiveError) -> Void

    /// zlib level 6: as small as level 9 on TOC records (47.90 bytes per entry either way on the
    /// million-entry test tree) and much cheaper on repetitive ones, which level 9 searches longest.
    static let compressionLevel: Int32 = 6

    private enum State {
        case open
        case finished
        case failed(String)
    }

    private let sink: Sink
    private let deflater: GzipDeflater
    private var state = State.open
    /// Bytes handed to the sink so far: the offset of the next block.
    private var written: UInt64 = 0
    private var block: [UInt8] = []
    private var blockEntries = 0
    private var blockFirstPath: [UInt8] = []
    private var blockMembersStart: UInt64 = 0
    /// The block is full: it ends before the next entry that does not share the last member.
    private var blockFull = false
    private var lastMemberOffset: UInt64?
    private var context = TOCRecord.BlockContext()
    private var blocks: [TOCFileIndex.Block] = []
    private var entryCount: UInt64 = 0
    /// The last appended path, across blocks: the next must come after it.
    private var lastPath: [UInt8]?
    /// The end of the furthest member seen, checked against the archive size at `finish`.
    private var furthestMemberEnd: UInt64 = 0
    private var furthestMemberPath: [UInt8] = []
    /// True once a record format 2 cannot hold was written (type 3–7, or a name that is not
    /// UTF-8): the footer then says format 3.
    /// The highest format an entry so far needed (2 when none needed more).
    private var formatVersionNeeded = ArchiveTOC.currentFormatVersion

    init(sink: @escaping Sink) throws(ArchiveError) {
        self.sink = sink
        deflater = try GzipDeflater(level: Self.compressionLevel)
        block.reserveCapacity(TOCFileWriter.blockSize + 4096)
    }

    func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError) {
        try checkOpen()
        let path = entry.pathBytes
        if let lastPath, !ArchivePathOrder.areInIncreasingOrder(lastPath, path) {
            let reason =
                lastPath == path
                ? "an entry with this path was already appended"
                : "it does not come after '\(NameBytes.text(lastPath))' in archive path order"
            throw .invalidEntry(path: entry.path, reason: reason)
        }
        do {
            // Ranges are checked against the archive size at `finish`, when it is known.
            try ArchiveTOC.validate(entry, archiveSize: .max)
        } catch {
            guard case .invalidTOC(let reason) = error else { throw error }
            throw .invalidEntry(path: entry.path, reason: reason)
        }
        // Blocks end between gzip members, never inside one: a run of blocks then owns whole
        // members, which is what lets a later snapshot copy blocks and members together.
        if blockFull, entry.members.first?.offset != lastMemberOffset { try guarded(closeBlock) }
        let blockStart = block.count
        let contextBefore = context
        do {
            try TOCRecord.encode(entry, path: path, context: &context, into: &block)
        } catch {
            block.removeSubrange(blockStart...)
            context = contextBefore
            throw error
        }
        formatVersionNeeded = max(formatVersionNeeded, entry.formatVersionNeeded)
        if blockEntries == 0 {
            blockFirstPath = path
            blockMembersStart = entry.members.first?.offset ?? 0
        }
        blockEntries += 1
        entryCount += 1
        lastPath = path
        lastMemberOffset = entry.members.last?.offset
        for member in entry.members where member.offset + member.length > furthestMemberEnd {
            furthestMemberEnd = member.offset + member.length
            furthestMemberPath = entry.pathBytes
        }
        if block.count >= TOCFileWriter.blockSize { blockFull = true }
    }

    /// Adds blocks copied as they are from an earlier TOC, after the archive members they
    /// describe were copied `shift` bytes from where they were; `formatVersion` is what their
    /// records need. Their last entries are not decoded: the entry appended next is not
    /// checked against them (the archive writer checks it against the index of the earlier TOC).
    func appendCopied(_ copied: [CopiedTOCBlock], shift: Int64, formatVersion: Int) throws(ArchiveError) {
        try checkOpen()
        guard let first = copied.first else { return }
        if let lastPath, !ArchivePathOrder.areInIncreasingOrder(lastPath, first.block.firstPath) {
            throw .invalidEntry(
                path: NameBytes.text(first.block.firstPath),
                reason: "copied TOC blocks do not come after '\(NameBytes.text(lastPath))' in archive path order")
        }
        try guarded { () throws(ArchiveError) in
            try closeBlock()
            for piece in copied {
                let offset = written
                try write(piece.bytes)
                var block = piece.block
                block.offset = offset
                block.memberBase = block.memberBase &+ shift
                block.membersStart = block.membersStart.map { UInt64(bitPattern: Int64(bitPattern: $0) &+ shift) }
                blocks.append(block)
                entryCount += UInt64(block.entries)
                // A block whose members are not where its records say needs a reader of member_base.
                if block.memberBase != 0 { formatVersionNeeded = max(formatVersionNeeded, ArchiveTOC.copiedBlocksFormatVersion) }
            }
        }
        formatVersionNeeded = max(formatVersionNeeded, formatVersion)
        lastPath = nil
        lastMemberOffset = nil
    }

    /// Writes the last block, the footer and the trailer; returns the total bytes written. The
    /// footer says the highest format a record needed (3 or 4), else 2 (what older builds read).
    func finish(_ summary: TOCSummary) throws(ArchiveError) -> UInt64 {
        try checkOpen()
        var summary = summary
        summary.formatVersion = formatVersionNeeded
        summary.entryCount = entryCount
        try summary.validate()
        guard furthestMemberEnd <= summary.archiveSize else {
            throw .invalidTOC(
                reason: "a member of '\(NameBytes.text(furthestMemberPath))' ends at \(furthestMemberEnd), "
                    + "after the archive's \(summary.archiveSize) bytes")
        }
        try guarded { () throws(ArchiveError) in
            try closeBlock()
            let footer = try TOCFooter(summary: summary, blocks: blocks).encodeJSON()
            let footerOffset = written
            try deflater.beginMember()
            try deflater.compress(footer, sink: write)
            try deflater.finishMember(sink: write)
            try write(TOCFooter.trailer(footerOffset: footerOffset))
        }
        state = .finished
        return written
    }

    private func checkOpen() throws(ArchiveError) {
        switch state {
        case .open: return
        case .finished: throw .writerUnusable(reason: "finish() was already called")
        case .failed(let reason): throw .writerUnusable(reason: "an earlier write failed: \(reason)")
        }
    }

    /// Runs a step that writes; if it throws, the output is incomplete and the encoder unusable.
    private func guarded(_ step: () throws(ArchiveError) -> Void) throws(ArchiveError) {
        do {
            try step()
        } catch {
            state = .failed(error.description)
            throw error
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        try sink(bytes)
        written += UInt64(bytes.count)
    }

    private func write(_ bytes: [UInt8]) throws(ArchiveError) {
        var failure: ArchiveError?
        bytes.withUnsafeBytes { buffer in
            do throws(ArchiveError) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Compresses the open block (if it has records) into one gzip member and indexes it.
    private func closeBlock() throws(ArchiveError) {
        guard blockEntries > 0 else { return }
        let offset = written
        try deflater.beginMember()
        try deflater.compress(block, sink: write)
        try deflater.finishMember(sink: write)
        blocks.append(
            TOCFileIndex.Block(
                offset: offset, length: written - offset, entries: blockEntries, firstPath: blockFirstPath,
                membersStart: blockMembersStart)
        )
        block.removeAll(keepingCapacity: true)
        blockEntries = 0
        blockFirstPath = []
        blockFull = false
        context = TOCRecord.BlockContext()
    }
}

/// A block of an earlier TOC, copied without decoding: its compressed bytes and its index entry
/// as that TOC had it.
public struct CopiedTOCBlock: Sendable {
    public var block: TOCFileIndex.Block
    public var bytes: [UInt8]

    public init(block: TOCFileIndex.Block, bytes: [UInt8]) {
        self.block = block
        self.bytes = bytes
    }
}
