// A TOC file on local disk, either format: its summary, its entries in order, one entry by path.
// A format-2 TOC may be a partial copy of a remote one: its blocks are fetched when first needed.
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A TOC on local disk, opened once and asked many times (the mount keeps one per version whose
/// files are read from the bucket). Format 2 keeps only its block index in memory: an entry
/// costs one block read from the file (the last few decoded blocks are kept, so files read in
/// archive order mostly hit). Format 1 (JSON, from earlier releases) is decoded whole, as it
/// always was. Thread-safe.
///
/// **Partial copies.** A format-2 TOC in a bucket need not be fetched whole: a file of the TOC's
/// size that holds its tail (footer and trailer) at the right offset, and holes elsewhere, opens
/// like the complete file when `fetchMissing` is given. A block whose bytes are not there yet (a
/// hole reads as zeros; a block starts with the gzip magic) or do not decode is fetched through
/// `fetchMissing` and written into place, so each block crosses the network at most once.
public final class LocalTOC: Sendable {
    /// Fetches a byte range of the TOC from where the complete copy lives.
    public typealias RangeFetch = @Sendable (Range<UInt64>) throws -> [UInt8]

    enum Content: Sendable {
        /// Keyed by path bytes: String equality would merge names that differ only in Unicode
        /// normalization. `directories`: every path with an entry below it, for the directories a
        /// format-1 TOC leaves out.
        case format1(ArchiveTOC, positions: [[UInt8]: Int], directories: Set<[UInt8]>)
        case format2(TOCFileIndex)
    }

    public let path: FilePath
    public let summary: TOCSummary
    let content: Content
    private let fetchMissing: RangeFetch?
    /// Decoded blocks of a format-2 TOC, most recent last.
    private let recentBlocks = Mutex<[(index: Int, entries: [ArchiveTOC.Entry])]>([])
    private static let keptBlocks = 4
    /// Held while a missing block is fetched and written.
    private let fetching = Mutex<Void>(())
    private static let gzipMagic: UInt8 = 0x1F
    static let slash = UInt8(ascii: "/")

    public init(path: FilePath, fetchMissing: RangeFetch? = nil) throws(ArchiveError) {
        self.path = path
        self.fetchMissing = fetchMissing
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
            var positions: [[UInt8]: Int] = [:]
            var directories: Set<[UInt8]> = []
            for (position, entry) in toc.entries.enumerated() {
                var parent = entry.pathBytes
                positions[parent] = position
                while let slash = parent.lastIndex(of: Self.slash) {
                    parent.removeSubrange(slash...)
                    guard directories.insert(parent).inserted else { break }
                }
            }
            content = .format1(toc, positions: positions, directories: directories)
            summary = toc.summary
        }
    }

    /// Makes a partial copy at `path` of a remote format-2 TOC of `size` bytes whose last bytes are
    /// `tail`: a sparse file holding only the tail. Open it with `LocalTOC(path:fetchMissing:)`.
    public static func createPartial(at path: FilePath, size: UInt64, tail: [UInt8]) throws(ArchiveError) {
        guard UInt64(tail.count) <= size, size <= UInt64(Int64.max) else {
            throw .invalidTOC(reason: "a \(tail.count)-byte tail of a \(size)-byte TOC")
        }
        let descriptor = try FileIO.open(path, .writeOnly, options: [.create, .truncate])
        defer { try? descriptor.close() }
        if ftruncate(descriptor.rawValue, off_t(size)) != 0 {
            throw .io(operation: "ftruncate", path: path.string, errno: Errno(rawValue: errno))
        }
        try write(tail, at: size - UInt64(tail.count), to: descriptor, path: path)
    }

    /// The entry at `path` (its UTF-8 bytes), nil when the TOC has none.
    public func entry(at entryPath: String) throws(ArchiveError) -> ArchiveTOC.Entry? {
        try entry(at: Array(entryPath.utf8))
    }

    /// The entry at path bytes `entryPath`, nil when the TOC has none.
    public func entry(at entryPath: [UInt8]) throws(ArchiveError) -> ArchiveTOC.Entry? {
        guard case .entry(let entry)? = try treeEntry(at: entryPath) else { return nil }
        return entry
    }

    /// Every entry in TOC order; for format 2 one block is in memory at a time.
    public func forEachEntry(_ body: (ArchiveTOC.Entry) throws -> Void) throws {
        switch content {
        case .format1(let toc, _, _):
            for entry in toc.entries { try body(entry) }
        case .format2(let index):
            for block in index.blocks.indices {
                for entry in try decodedBlock(block, index) { try body(entry) }
            }
        }
    }

    /// Block `block`'s entries, from the few kept decoded or read (and if need be fetched) now.
    func entries(ofBlock block: Int, _ index: TOCFileIndex) throws(ArchiveError) -> [ArchiveTOC.Entry] {
        if let kept = recentBlocks.withLock({ $0.last { $0.index == block } }) { return kept.entries }
        let entries = try decodedBlock(block, index)
        recentBlocks.withLock { kept in
            kept.removeAll { $0.index == block }
            kept.append((block, entries))
            if kept.count > Self.keptBlocks { kept.removeFirst() }
        }
        return entries
    }

    private func decodedBlock(_ block: Int, _ index: TOCFileIndex) throws(ArchiveError) -> [ArchiveTOC.Entry] {
        guard let fetchMissing else { return try index.entries(inBlock: block, bytes: try readLocal(index.blocks[block].byteRange)) }
        if let entries = localEntries(ofBlock: block, index) { return entries }
        // One fetch at a time: a reader that waited finds the block written by the one before.
        return try fetching.withLock { _ throws(ArchiveError) -> [ArchiveTOC.Entry] in
            if let entries = localEntries(ofBlock: block, index) { return entries }
            let range = index.blocks[block].byteRange
            let fetched: [UInt8]
            do {
                fetched = try fetchMissing(range)
            } catch let error as ArchiveError {
                throw error
            } catch {
                throw .fetchFailed(range: range, reason: "\(error)")
            }
            let entries = try index.entries(inBlock: block, bytes: fetched)
            // Kept for next time; a failed write only means fetching again.
            if let descriptor = try? FileIO.open(path, .writeOnly) {
                try? Self.write(fetched, at: range.lowerBound, to: descriptor, path: path)
                try? descriptor.close()
            }
            return entries
        }
    }

    /// The block's entries when its bytes are on disk and decode (a hole reads as zeros, and a
    /// block starts with the gzip magic); nil when it has to be fetched.
    private func localEntries(ofBlock block: Int, _ index: TOCFileIndex) -> [ArchiveTOC.Entry]? {
        guard let local = try? readLocal(index.blocks[block].byteRange), local.first == Self.gzipMagic else { return nil }
        return try? index.entries(inBlock: block, bytes: local)
    }

    private func readLocal(_ range: Range<UInt64>) throws(ArchiveError) -> [UInt8] {
        let descriptor = try FileIO.open(path, .readOnly)
        defer { try? descriptor.close() }
        return try FileByteSource(descriptor: descriptor).archiveBytes(in: range)
    }

    private static func write(_ bytes: [UInt8], at offset: UInt64, to descriptor: FileDescriptor, path: FilePath) throws(ArchiveError) {
        do {
            _ = try bytes.withUnsafeBytes { try descriptor.writeAll(toAbsoluteOffset: Int64(offset), $0) }
        } catch {
            throw .io(operation: "pwrite", path: path.string, errno: error as? Errno ?? .ioError)
        }
    }
}
