// An earlier archive a snapshot may copy from (the version's own, or the previous version's), read
// as runs of entries that share gzip members.
import SeekableArchive
import SystemPackage

/// An earlier archive and its format-2 TOC, read front to back in step with the new snapshot.
/// Its entries come in groups (`MemberGroups`): the entries of one shared member, or one file
/// with members of its own. A group is the unit a snapshot can copy without compressing again.
final class PreviousArchive {
    /// How an entry that comes again with the same header fields is known to be unchanged.
    enum Trust: Sendable {
        /// The version's own previous archive: entries whose ctime is at most this are as they were.
        case changedBefore(Int64)
        /// The previous version's archive: a file must have the same content (sha256 of its blob).
        case sameContent
    }

    let archive: FileDescriptor
    let trust: Trust
    private let toc: TOCFileReader
    private var groups: MemberGroups
    private(set) var current: MemberGroup?

    /// Opens the archive and its TOC; throws when there is no usable pair (none yet, a format-1
    /// TOC, or a TOC that does not describe this archive file).
    init(archive archivePath: FilePath, toc tocPath: FilePath, trust: Trust) throws {
        let toc = try TOCFileReader(path: tocPath)
        let archive = try FileDescriptor.open(archivePath, .readOnly, options: .closeOnExec)
        do {
            // A crash between the renames of a new archive and its TOC leaves a pair that does not match.
            let size = try archive.seek(offset: 0, from: .end)
            guard UInt64(size) == toc.summary.archiveSize,
                try FileDigest.sha256(of: archive, path: archivePath.string) == toc.summary.archiveSHA256
            else {
                throw FSError(.ioError, "\(tocPath) does not describe the archive beside it")
            }
            groups = try MemberGroups(next: toc.next, blockStartingAtNext: { toc.blockStartingAtNextEntry })
            current = try groups.nextGroup()
        } catch {
            try? archive.close()
            throw error
        }
        self.archive = archive
        self.trust = trust
        self.toc = toc
    }

    deinit { try? archive.close() }

    /// Moves to the next group; `current` is nil after the last.
    func advance() throws { current = try groups.nextGroup() }

    /// Whole TOC blocks from the current group on (it must start a block) whose entries all
    /// satisfy `isTaken`, with their members' offsets known: they can be copied without being
    /// decoded. Entries lie between their block's first path and the next block's, so a block is
    /// wholly taken when the next block's first path is; the last block whose first path is
    /// taken may reach past and is left out.
    func copyableBlocks(where isTaken: ([UInt8]) -> Bool) -> Range<Int>? {
        let blocks = toc.blocks
        guard let first = current?.startsBlock, blocks[first].membersStart != nil else { return nil }
        var end = first
        while end + 1 < blocks.count, blocks[end + 1].membersStart != nil, isTaken(blocks[end + 1].firstPath) { end += 1 }
        return end > first ? first..<end : nil
    }

    /// Copies blocks (from ``copyableBlocks(where:)``) and their members into `writer` and moves
    /// to the group after them; returns how many entries they hold.
    func copy(_ run: Range<Int>, into writer: SeekableTarWriter) throws -> Int {
        let blocks = toc.blocks
        // Records of formats 2 to 4; format 5 is only the footer's member bases.
        let recordFormat = min(toc.summary.formatVersion, ArchiveTOC.xattrsFormatVersion)
        var entries = 0
        // In pieces, so memory holds a few blocks, not a whole TOC.
        for start in stride(from: run.lowerBound, to: run.upperBound, by: Self.blocksPerCopy) {
            let end = min(start + Self.blocksPerCopy, run.upperBound)
            let copied = try (start..<end).map { CopiedTOCBlock(block: blocks[$0], bytes: try toc.compressedBlock($0)) }
            guard let from = blocks[start].membersStart, let to = blocks[end].membersStart, from <= to else {
                throw FSError(.ioError, "the previous TOC's blocks \(start)..<\(end) have no member offsets in order")
            }
            try writer.appendCopied(
                copied, byteRange: from..<to, from: archive, before: blocks[end].firstPath, formatVersion: recordFormat)
            entries += copied.reduce(0) { $0 + $1.block.entries }
        }
        toc.skip(toBlock: run.upperBound)
        try groups.refill()
        current = try groups.nextGroup()
        return entries
    }

    private static let blocksPerCopy = 64
}
