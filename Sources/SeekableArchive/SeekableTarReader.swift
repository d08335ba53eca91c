// Reads files and byte ranges out of a seekable tar.gz through its TOC, inflating only the members needed.
internal import Crypto
import SystemPackage

/// Random access into an archive written by ``SeekableTarWriter``.
///
/// Each read fetches the compressed bytes of the members that overlap it, one member at a
/// time (at most `chunkSize` of data, so memory stays bounded), and inflates only up to the
/// last byte it needs. Whole-file reads check the sha256 from the TOC; partial reads cannot.
/// Thread-safe: every call has its own inflate state.
///
/// Paths are bytes: each lookup takes `[UInt8]` (any name) or a `String` (its UTF-8 bytes, so
/// only a UTF-8 name is found through it).
public struct SeekableTarReader: Sendable {
    public let toc: ArchiveTOC
    private let source: any ArchiveByteSource
    private let index: [[UInt8]: Int]

    /// `toc` is validated (see ``ArchiveTOC/validate()``).
    public init(toc: ArchiveTOC, source: any ArchiveByteSource) throws(ArchiveError) {
        try toc.validate()
        self.toc = toc
        self.source = source
        var index: [[UInt8]: Int] = [:]
        for (position, entry) in toc.entries.enumerated() { index[entry.pathBytes] = position }
        self.index = index
    }

    public init(
        toc: ArchiveTOC,
        fetch: @escaping @Sendable (Range<UInt64>) throws -> [UInt8]
    ) throws(ArchiveError) {
        try self.init(toc: toc, source: ClosureByteSource(fetch))
    }

    public func entry(at path: String) -> ArchiveTOC.Entry? {
        entry(at: Array(path.utf8))
    }

    public func entry(at path: [UInt8]) -> ArchiveTOC.Entry? {
        index[path].map { toc.entries[$0] }
    }

    public func readFile(at path: String) throws -> [UInt8] {
        try readFile(at: Array(path.utf8))
    }

    public func read(at path: String, range: Range<UInt64>) throws -> [UInt8] {
        try read(at: Array(path.utf8), range: range)
    }

    public func writeFile(at path: String, to destination: FileDescriptor) throws {
        try writeFile(at: Array(path.utf8), to: destination)
    }

    /// The whole content of a regular file (or of the file a hard link names), verified against its sha256.
    public func readFile(at path: [UInt8]) throws -> [UInt8] {
        let entry = try fileEntry(path)
        var content: [UInt8] = []
        content.reserveCapacity(Int(min(entry.size, UInt64(Int.max))))
        var hasher = SHA256()
        try forEachPiece(of: entry, in: 0..<entry.size) { piece throws(ArchiveError) in
            hasher.update(bufferPointer: piece)
            content.append(contentsOf: piece)
        }
        try verify(entry, Hex.string(hasher.finalize()))
        return content
    }

    /// Bytes `range` of a file, clamped to its size like `pread` (past the end: empty).
    /// Not verified against the sha256 (that needs the whole file); damage in the members it
    /// inflates usually shows as ``ArchiveError/corruptMember(path:offset:reason:)``.
    public func read(at path: [UInt8], range: Range<UInt64>) throws -> [UInt8] {
        let entry = try fileEntry(path)
        let clamped = min(range.lowerBound, entry.size)..<min(range.upperBound, entry.size)
        var content: [UInt8] = []
        content.reserveCapacity(Int(min(UInt64(clamped.count), UInt64(Int.max))))
        try forEachPiece(of: entry, in: clamped) { piece throws(ArchiveError) in content.append(contentsOf: piece) }
        return content
    }

    /// Streams a whole file to `destination` (from its current position) in constant memory,
    /// then checks the sha256. On a mismatch the bytes are already written: discard them.
    public func writeFile(at path: [UInt8], to destination: FileDescriptor) throws {
        let entry = try fileEntry(path)
        var hasher = SHA256()
        try forEachPiece(of: entry, in: 0..<entry.size) { piece throws(ArchiveError) in
            hasher.update(bufferPointer: piece)
            try FileIO.writeAll(destination, piece, path: "<fd \(destination.rawValue)>")
        }
        try verify(entry, Hex.string(hasher.finalize()))
    }

    /// The file at `path`; a hard link stands for the file it names (the entry holding the data).
    private func fileEntry(_ path: [UInt8]) throws(ArchiveError) -> ArchiveTOC.Entry {
        guard var entry = entry(at: path) else { throw .notFound(path: NameBytes.text(path)) }
        if entry.type == .hardLink, let target = entry.linkTargetBytes {
            guard let linked = self.entry(at: target) else { throw .notFound(path: NameBytes.text(target)) }
            entry = linked
        }
        guard entry.type == .file else { throw .notARegularFile(path: NameBytes.text(path)) }
        return entry
    }

    private func verify(_ entry: ArchiveTOC.Entry, _ actual: String) throws(ArchiveError) {
        let expected = entry.sha256 ?? ""
        guard actual == expected else {
            throw .checksumMismatch(path: entry.path, expected: expected, actual: actual)
        }
    }

    /// Calls `body` with the file's bytes in `range`, in order, fetching each overlapping member once.
    private func forEachPiece(
        of entry: ArchiveTOC.Entry,
        in range: Range<UInt64>,
        body: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void
    ) throws {
        guard !range.isEmpty else { return }
        let inflater = try GzipInflater()
        for member in entry.members {
            let memberData = member.dataOffset..<(member.dataOffset + member.dataLength)
            guard memberData.overlaps(range) else { continue }
            // Uncompressed positions within the member that the caller wants.
            let wantStart = member.dataStart + (max(range.lowerBound, memberData.lowerBound) - member.dataOffset)
            let wantEnd = member.dataStart + (min(range.upperBound, memberData.upperBound) - member.dataOffset)
            let compressed = try source.bytes(in: member.byteRange)
            guard compressed.count == Int(member.length) else {
                throw ArchiveError.shortFetch(range: member.byteRange, received: compressed.count)
            }
            var position: UInt64 = 0
            let outcome: GzipInflater.Outcome
            do {
                outcome = try inflater.inflateMember(compressed) { chunk throws(ArchiveError) in
                    let chunkRange = position..<(position + UInt64(chunk.count))
                    position = chunkRange.upperBound
                    let from = max(chunkRange.lowerBound, wantStart)
                    let to = min(chunkRange.upperBound, wantEnd)
                    if from < to {
                        let slice = chunk[Int(from - chunkRange.lowerBound)..<Int(to - chunkRange.lowerBound)]
                        try body(UnsafeRawBufferPointer(rebasing: slice))
                    }
                    return position < wantEnd
                }
            } catch {
                if let underlying = error.underlying { throw underlying }
                throw ArchiveError.corruptMember(path: entry.path, offset: member.offset, reason: error.reason)
            }
            if outcome == .complete && position < wantEnd {
                throw ArchiveError.corruptMember(
                    path: entry.path,
                    offset: member.offset,
                    reason: "inflates to \(position) bytes, the TOC needs \(wantEnd)"
                )
            }
        }
    }
}
