// Reads a format-2 TOC file entry by entry, in order, holding one decoded block at a time.
import SystemPackage

/// Reads every entry of a format-2 TOC file in order, one block in memory at a time.
///
/// ```swift
/// let reader = try TOCFileReader(path: tocPath)
/// while let entry = try reader.next() { … }
/// ```
///
/// Each entry is checked with ``ArchiveTOC/validate(_:archiveSize:)``, and paths must increase
/// in ``ArchivePathOrder`` across the whole file; anything else throws
/// ``ArchiveError/invalidTOC(reason:)``. Not thread-safe.
public final class TOCFileReader {
    private let index: TOCFileIndex
    private let fetch: (Range<UInt64>) throws(ArchiveError) -> [UInt8]
    /// Called once the last block has been read (closes the file).
    private let onEnd: () -> Void
    private var nextBlock = 0
    private var pending: [ArchiveTOC.Entry] = []
    private var pendingPosition = 0
    private var lastPath: [UInt8]?

    /// Opens `path` and reads its tail and block index; throws ``ArchiveError/invalidTOC(reason:)``
    /// or ``ArchiveError/unsupportedFormatVersion(_:)`` for anything that is not a format-2 TOC this build reads.
    public convenience init(path: FilePath) throws(ArchiveError) {
        let descriptor = try FileIO.open(path, .readOnly)
        let source = FileByteSource(descriptor: descriptor)
        let fetch = { (range: Range<UInt64>) throws(ArchiveError) -> [UInt8] in try source.archiveBytes(in: range) }
        let index: TOCFileIndex
        do throws(ArchiveError) {
            let size: Int64
            do {
                size = try descriptor.seek(offset: 0, from: .end)
            } catch {
                throw ArchiveError.io(operation: "lseek", path: path.string, errno: error as? Errno ?? .ioError)
            }
            index = try TOCFileIndex.read(fileSize: UInt64(size), fetch: fetch)
        } catch {
            try? descriptor.close()
            throw error
        }
        self.init(index: index, fetch: fetch, onEnd: { try? descriptor.close() })
    }

    /// Reads entries through `fetch` (byte ranges of the TOC); `onEnd` runs after the last block.
    init(
        index: TOCFileIndex,
        fetch: @escaping (Range<UInt64>) throws(ArchiveError) -> [UInt8],
        onEnd: @escaping () -> Void = {}
    ) {
        self.index = index
        self.fetch = fetch
        self.onEnd = onEnd
        if index.blocks.isEmpty { onEnd() }
    }

    deinit {
        if nextBlock < index.blocks.count { onEnd() }
    }

    public var summary: TOCSummary { index.summary }
    public var blocks: [TOCFileIndex.Block] { index.blocks }

    /// The block whose first entry ``next()`` returns next; nil when the next entry is inside a block.
    public var blockStartingAtNextEntry: Int? {
        if pendingPosition == 0 && !pending.isEmpty { return nextBlock - 1 }
        return pendingPosition == pending.count && nextBlock < index.blocks.count ? nextBlock : nil
    }

    /// The compressed bytes of block `i`, as they are in the file.
    public func compressedBlock(_ i: Int) throws(ArchiveError) -> [UInt8] {
        let bytes = try fetch(index.blocks[i].byteRange)
        guard bytes.count == Int(index.blocks[i].length) else {
            throw .shortFetch(range: index.blocks[i].byteRange, received: bytes.count)
        }
        return bytes
    }

    /// Goes on at the first entry of block `i` (not before a block already read), skipping
    /// what is left of the current block and every block before `i`.
    public func skip(toBlock i: Int) {
        precondition(i >= nextBlock - 1 && i <= index.blocks.count, "TOCFileReader.skip(toBlock:) goes forwards only")
        pendingPosition = 0
        // The block read last is still decoded (and the file may be closed after the last block).
        if i == nextBlock - 1 { return }
        pending = []
        if nextBlock < index.blocks.count && i >= index.blocks.count { onEnd() }
        nextBlock = i
    }

    /// The next entry in file order; nil after the last one.
    public func next() throws(ArchiveError) -> ArchiveTOC.Entry? {
        while pendingPosition == pending.count {
            guard nextBlock < index.blocks.count else { return nil }
            let block = index.blocks[nextBlock]
            let entries = try index.entries(inBlock: nextBlock, bytes: try fetch(block.byteRange))
            if let lastPath, let first = entries.first,
                !ArchivePathOrder.areInIncreasingOrder(lastPath, first.pathBytes)
            {
                throw .invalidTOC(
                    reason: "block \(nextBlock) starts with '\(first.path)', not after '\(NameBytes.text(lastPath))'")
            }
            nextBlock += 1
            if nextBlock == index.blocks.count { onEnd() }
            pending = entries
            pendingPosition = 0
            lastPath = entries.last?.pathBytes
        }
        defer { pendingPosition += 1 }
        return pending[pendingPosition]
    }
}
