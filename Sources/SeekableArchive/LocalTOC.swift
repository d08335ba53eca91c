// A TOC file on local disk, either format: its summary, its entries in order, one entry by path.
import Synchronization
import SystemPackage

/// A TOC on local disk, opened once and asked many times (the mount keeps one per version whose
/// files are read from the bucket). Format 2 keeps only its block index in memory: an entry
/// costs one block read from the file (the last few decoded blocks are kept, so files read in
/// archive order mostly hit). Format 1 (JSON, from earlier releases) is decoded whole, as it
/// always was. Thread-safe.
public final class LocalTOC: Sendable {
    private enum Content: Sendable {
        case format1(ArchiveTOC, positions: [String: Int])
        case format2(TOCFileIndex)
    }

    public let path: FilePath
    public let summary: TOCSummary
    private let content: Content
    /// Decoded blocks of a format-2 TOC, most recent last.
    private let recentBlocks = Mutex<[(index: Int, entries: [ArchiveTOC.Entry])]>([])
    private static let keptBlocks = 4

    public init(path: FilePath) throws(ArchiveError) {
        self.path = path
        let descriptor = try FileIO.open(path, .readOnly)
        defer { try? descriptor.close() }
        let source = FileByteSource(descriptor: descriptor)
        let size: UInt64
        do {
            size = UInt64(try descriptor.seek(offset: 0, from: .end))
        } catch {
            throw .io(operation: "lseek", path: path.string, errno: error as? Errno ?? .ioError)
        }
        let fetch = { (range: Range<UInt64>) throws(ArchiveError) -> [UInt8] in try source.archiveBytes(in: range) }
        if size >= UInt64(TOCFooter.trailerLength),
            TOCFooter.hasTrailer(try fetch((size - UInt64(TOCFooter.trailerLength))..<size))
        {
            let index = try TOCFileIndex.read(fileSize: size, fetch: fetch)
            content = .format2(index)
            summary = index.summary
        } else {
            let toc = try ArchiveTOC.decode(from: try fetch(0..<size))
            var positions: [String: Int] = [:]
            for (position, entry) in toc.entries.enumerated() { positions[entry.path] = position }
            content = .format1(toc, positions: positions)
            summary = toc.summary
        }
    }

    /// The entry at `path`, nil when the TOC has none.
    public func entry(at entryPath: String) throws(ArchiveError) -> ArchiveTOC.Entry? {
        switch content {
        case .format1(let toc, let positions):
            return positions[entryPath].map { toc.entries[$0] }
        case .format2(let index):
            guard let block = index.blockIndex(containing: entryPath.utf8) else { return nil }
            return try entries(ofBlock: block, index).first { $0.path == entryPath }
        }
    }

    /// Every entry in TOC order; for format 2 one block is in memory at a time.
    public func forEachEntry(_ body: (ArchiveTOC.Entry) throws -> Void) throws {
        switch content {
        case .format1(let toc, _):
            for entry in toc.entries { try body(entry) }
        case .format2:
            let reader = try TOCFileReader(path: path)
            while let entry = try reader.next() { try body(entry) }
        }
    }

    private func entries(ofBlock block: Int, _ index: TOCFileIndex) throws(ArchiveError) -> [ArchiveTOC.Entry] {
        if let kept = recentBlocks.withLock({ $0.last { $0.index == block } }) { return kept.entries }
        let descriptor = try FileIO.open(path, .readOnly)
        defer { try? descriptor.close() }
        let bytes = try FileByteSource(descriptor: descriptor).archiveBytes(in: index.blocks[block].byteRange)
        let entries = try index.entries(inBlock: block, bytes: bytes)
        recentBlocks.withLock { kept in
            kept.removeAll { $0.index == block }
            kept.append((block, entries))
            if kept.count > Self.keptBlocks { kept.removeFirst() }
        }
        return entries
    }
}
