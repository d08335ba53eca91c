// Streams entries into a seekable tar.gz (one gzip member per file or 4 MiB chunk) and builds its TOC.
internal import Crypto
import SystemPackage

/// Writes a version's entries as a tar stream compressed into independent gzip members.
///
/// Layout (docs/STORAGE_FORMAT.md): each regular file gets its own members, the first holding
/// its header(s) and up to `chunkSize` bytes of data, each further one the next `chunkSize` bytes.
/// Consecutive entries without data (directories, symlinks, hard links, FIFOs, devices) share
/// one member. Two zero blocks end the stream in a final member. Entries come in
/// ``ArchivePathOrder`` (each directory right before its contents).
/// Memory use is constant when the TOC goes to a sink (content is read in 256 KiB pieces; only
/// the entries of the open shared member wait for its length); without one, the TOC collects.
///
/// ```swift
/// let writer = try SeekableTarWriter(output: temporaryPath)
/// try writer.append(entry, contentsOf: contentPath)   // in archive order
/// let toc = try writer.finish()                        // flushes, fsyncs, returns the TOC
/// ```
///
/// An unchanged run of entries can be copied from an earlier archive, compressed members and
/// all (``appendReused(_:byteRange:from:)``): gzip members are independent, so the copy is
/// as good as compressing again.
///
/// Not thread-safe; one owner appends in order. An error thrown while writing (I/O, a content
/// file that changed size) leaves the archive incomplete: later calls throw
/// ``ArchiveError/writerUnusable(reason:)`` and the caller discards the output. An entry
/// rejected by validation (``ArchiveError/invalidEntry(path:reason:)``) writes nothing, so
/// the writer stays usable.
public final class SeekableTarWriter {
    public struct Options: Sendable {
        /// zlib level, 0…9. The default is 7, not gzip's 6: members cannot share a dictionary,
        /// and level 7 wins back about 0.5 % of size for about 5 % more CPU (docs/benchmarks.md).
        public var compressionLevel: Int32
        /// Data bytes per member for large files; a positive multiple of 512.
        public var chunkSize: Int
        /// 0 (the default): every regular file has its own members. Above 0: regular files whose
        /// tar bytes (headers, data, padding) fit in this many bytes are packed together into
        /// shared members of about this uncompressed size. Smaller archives; a read then
        /// inflates its neighbours too.
        public var smallFileGroupLimit: Int

        /// true (the default): an mtime with nanoseconds gets a pax `mtime` record, so `tar -x`
        /// restores it exactly. false: headers hold whole seconds, like GNU tar's own format, and
        /// the nanoseconds are in the TOC only. A 1 KiB pax header per file written through the
        /// mount (their mtimes all have nanoseconds) made archives of small files 2.4 × `tar -czf`'s.
        public var subSecondMtimes: Bool

        /// What the mount's snapshots and `codebegenfs pack` use: regular files up to 128 KiB of
        /// tar bytes share members of about 128 KiB (on 100-byte files, one member per file made
        /// the archive 7.3 × `tar -czf`'s; 32 KiB groups 1.55 ×, 128 KiB 1.15 ×), and whole-second
        /// mtimes in the headers (docs/benchmarks.md). A read from the bucket then inflates at most
        /// 128 KiB around the file it wants.
        public static let snapshot = Options(smallFileGroupLimit: 128 << 10, subSecondMtimes: false)

        public init(
            compressionLevel: Int32 = 7,
            chunkSize: Int = 4 << 20,
            smallFileGroupLimit: Int = 0,
            subSecondMtimes: Bool = true
        ) {
            self.compressionLevel = compressionLevel
            self.chunkSize = chunkSize
            self.smallFileGroupLimit = smallFileGroupLimit
            self.subSecondMtimes = subSecondMtimes
        }
    }

    private enum State {
        case open
        case finished
        case failed(String)
    }

    /// A member several entries share; its entries wait for its length until it closes.
    private struct SharedMember {
        var start: UInt64
        var uncompressed: UInt64 = 0
        var entries: [ArchiveTOC.Entry] = []
    }

    private static let readBufferSize = 256 * 1024

    /// Asked before each entry and each further member of a large file; false stops the writer
    /// with ``ArchiveError/stopped`` (its owner knows the archive is no longer wanted).
    public var keepGoing: () -> Bool = { true }
    private static let endOfArchive = [UInt8](repeating: 0, count: 2 * TarHeader.blockSize)

    private let options: Options
    private let output: ArchiveOutput
    private let ownsDescriptor: Bool
    private let deflater: GzipDeflater
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var state = State.open
    private var descriptorOpen = true
    private let toc: TOCEntrySink
    /// The TOC when no sink was given: `finish()` returns it.
    private let collected: TOCCollector?
    private var entryCount: UInt64 = 0
    private var shared: SharedMember?
    private var order = EntryOrder()
    private var hardLinkTargets = HardLinkTargets()
    /// True once an entry that format 2 cannot hold was written: the summary then says format 3.
    /// The highest format an entry so far needed (2 when none needed more).
    private var formatVersionNeeded = ArchiveTOC.currentFormatVersion

    /// Uncompressed bytes that went through the compressor (headers, data, padding).
    public private(set) var bytesCompressed: UInt64 = 0
    /// Compressed bytes copied from an earlier archive by ``appendReused(_:byteRange:from:)``.
    public private(set) var bytesReused: UInt64 = 0
    /// TOC blocks copied whole by ``appendCopied(_:byteRange:from:before:formatVersion:)``.
    public private(set) var tocBlocksCopied = 0

    /// Creates (or truncates) `output` and writes the archive there. `toc`: where each finished
    /// entry goes (e.g. a ``TOCFileWriter``); nil collects them for `finish()`.
    public convenience init(output: FilePath, options: Options = Options(), toc: TOCEntrySink? = nil) throws(ArchiveError) {
        let descriptor = try FileIO.open(output, .writeOnly, options: [.create, .truncate])
        do {
            try self.init(descriptor: descriptor, pathForErrors: output.string, owns: true, options: options, toc: toc)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    /// Writes the archive to `output` from its current position; TOC offsets count from there.
    /// `finish()` fsyncs but does not close it.
    public convenience init(output: FileDescriptor, options: Options = Options(), toc: TOCEntrySink? = nil) throws(ArchiveError) {
        try self.init(descriptor: output, pathForErrors: "<fd \(output.rawValue)>", owns: false, options: options, toc: toc)
    }

    private init(
        descriptor: FileDescriptor, pathForErrors: String, owns: Bool, options: Options, toc: TOCEntrySink?
    ) throws(ArchiveError) {
        guard options.chunkSize > 0, options.chunkSize % TarHeader.blockSize == 0 else {
            throw .writerUnusable(reason: "chunkSize \(options.chunkSize) is not a positive multiple of 512")
        }
        guard (0...9).contains(options.compressionLevel) else {
            throw .writerUnusable(reason: "compression level \(options.compressionLevel) is not in 0...9")
        }
        self.options = options
        let collector = toc == nil ? TOCCollector() : nil
        self.collected = collector
        self.toc = toc ?? collector!
        self.deflater = try GzipDeflater(level: options.compressionLevel)
        self.output = ArchiveOutput(descriptor: descriptor, pathForErrors: pathForErrors)
        self.ownsDescriptor = owns
        self.readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
        if ownsDescriptor && descriptorOpen { try? output.descriptor.close() }
    }

    /// Appends one entry. Regular files read `entry.size` bytes from `contentsOf` (nil only for
    /// an empty file); the other kinds have no content and ignore it.
    public func append(_ entry: ArchiveEntry, contentsOf source: FilePath?) throws(ArchiveError) {
        try checkOpen()
        guard keepGoing() else { throw .stopped }
        try EntryValidation.check(entry)
        guard entry.kind == .file else { return try appendChecked(entry, content: nil, sourcePath: "") }
        guard let source else {
            guard entry.size == 0 else {
                throw .invalidEntry(path: entry.path, reason: "a non-empty regular file needs a content source")
            }
            return try appendChecked(entry, content: nil, sourcePath: "")
        }
        let descriptor = try FileIO.open(source, .readOnly)
        defer { try? descriptor.close() }
        try appendChecked(entry, content: descriptor, sourcePath: source.string)
    }

    /// Appends one entry whose content is read from `contentsOf`'s current position (not closed).
    public func append(_ entry: ArchiveEntry, contentsOf source: FileDescriptor) throws(ArchiveError) {
        try checkOpen()
        try EntryValidation.check(entry)
        try appendChecked(entry, content: entry.kind == .file ? source : nil, sourcePath: "<fd \(source.rawValue)>")
    }

    /// Copies `byteRange` of the earlier archive `previous`: whole gzip members that hold exactly
    /// `entries`, as that archive's TOC lists them (its members' offsets). They land at the
    /// output's current end, their members moved there, without being compressed again. The
    /// caller vouches that the entries are unchanged; the writer checks order and ranges.
    public func appendReused(
        _ entries: [ArchiveTOC.Entry], byteRange: Range<UInt64>, from previous: FileDescriptor
    ) throws(ArchiveError) {
        try checkOpen()
        guard keepGoing() else { throw .stopped }
        var admitted = order
        var targets = hardLinkTargets
        for entry in entries {
            guard !entry.members.isEmpty,
                entry.members.allSatisfy({ byteRange.contains($0.offset) && $0.byteRange.upperBound <= byteRange.upperBound })
            else {
                throw .invalidEntry(path: entry.path, reason: "its members lie outside the bytes to reuse")
            }
            try admitted.admit(entry.pathBytes, isDirectory: entry.type == .directory)
            try targets.check(entry.pathBytes, kind: entry.type, target: entry.linkTargetBytes)
            targets.record(entry.pathBytes, kind: entry.type, links: entry.links ?? 1)
        }
        do {
            try closeShared()
            let start = output.offset
            try copy(byteRange, from: previous)
            bytesReused += UInt64(byteRange.count)
            order = admitted
            hardLinkTargets = targets
            for var entry in entries {
                for index in entry.members.indices {
                    entry.members[index].offset = entry.members[index].offset - byteRange.lowerBound + start
                }
                try emit(entry)
            }
        } catch {
            state = .failed(error.description)
            throw error
        }
    }

    /// Copies a run of an earlier archive's members together with the TOC blocks that describe
    /// them, neither decoded: `byteRange` is the blocks' members (from the first block's
    /// `membersStart` to the `membersStart` of the block after them, which holds `next`, the
    /// entry that must come next). Only a TOC file sink can take it. The blocks' entries are
    /// not checked: they come from a TOC whose archive was verified, and the caller must know
    /// that they hold no hard link (their targets would not be known here).
    public func appendCopied(
        _ blocks: [CopiedTOCBlock], byteRange: Range<UInt64>, from previous: FileDescriptor, before next: [UInt8],
        formatVersion: Int
    ) throws(ArchiveError) {
        try checkOpen()
        guard keepGoing() else { throw .stopped }
        guard let first = blocks.first, first.block.membersStart == byteRange.lowerBound else {
            throw .writerUnusable(reason: "copied TOC blocks must start where their members do")
        }
        var admitted = order
        try admitted.admit(first.block.firstPath, isDirectory: false)
        admitted.admitCopied(before: next)
        do {
            try closeShared()
            let start = output.offset
            try copy(byteRange, from: previous)
            try toc.appendCopied(
                blocks, shift: Int64(bitPattern: start &- byteRange.lowerBound), formatVersion: formatVersion)
            bytesReused += UInt64(byteRange.count)
            tocBlocksCopied += blocks.count
            entryCount += blocks.reduce(0) { $0 + UInt64($1.block.entries) }
            formatVersionNeeded = max(formatVersionNeeded, formatVersion)
            order = admitted
        } catch {
            state = .failed(error.description)
            throw error
        }
    }

    private func copy(_ range: Range<UInt64>, from source: FileDescriptor) throws(ArchiveError) {
        let path = "<fd \(source.rawValue)>"
        do {
            try source.seek(offset: Int64(range.lowerBound), from: .start)
        } catch {
            throw .io(operation: "lseek", path: path, errno: error as? Errno ?? .ioError)
        }
        var left = range.count
        while left > 0 {
            let target = UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<min(left, readBuffer.count)])
            let got = try FileIO.readFully(source, into: target, path: path)
            guard got == target.count else {
                throw .io(operation: "read of reused members", path: path, errno: .ioError)
            }
            try output.write(UnsafeRawBufferPointer(target))
            left -= got
        }
    }

    /// Writes the end of the archive, flushes and fsyncs the output, and returns the TOC's
    /// summary (its entries went to the sink). Metadata is the caller's to add.
    public func finishArchive() throws(ArchiveError) -> TOCSummary {
        try checkOpen()
        do {
            try closeShared()
            let start = output.offset
            try deflater.beginMember()
            try compress(Self.endOfArchive)
            try deflater.finishMember(sink: output.write)
            let endMember = ArchiveTOC.Member(
                offset: start,
                length: output.offset - start,
                dataOffset: 0,
                dataLength: 0,
                dataStart: 0
            )
            try output.flush()
            try FileIO.fsync(output.descriptor, path: output.pathForErrors)
            if ownsDescriptor {
                descriptorOpen = false
                try FileIO.close(output.descriptor, path: output.pathForErrors)
            }
            state = .finished
            return TOCSummary(
                formatVersion: formatVersionNeeded, chunkSize: UInt64(options.chunkSize),
                archiveSize: output.offset, archiveSHA256: output.digest(), endMember: endMember, metadata: nil,
                entryCount: entryCount)
        } catch {
            state = .failed(error.description)
            throw error
        }
    }

    /// Writes the end of the archive, flushes and fsyncs the output, and returns the whole TOC.
    /// Only for a writer without a TOC sink (its entries are collected in memory).
    public func finish() throws(ArchiveError) -> ArchiveTOC {
        guard let collected else {
            throw .writerUnusable(reason: "the TOC entries went to a sink: finish with finishArchive()")
        }
        let summary = try finishArchive()
        return ArchiveTOC(summary: summary, entries: collected.entries)
    }

    private func checkOpen() throws(ArchiveError) {
        switch state {
        case .open: return
        case .finished: throw .writerUnusable(reason: "finish() was already called")
        case .failed(let reason): throw .writerUnusable(reason: "an earlier append failed: \(reason)")
        }
    }

    private func appendChecked(_ entry: ArchiveEntry, content: FileDescriptor?, sourcePath: String) throws(ArchiveError)
    {
        var admitted = order
        try admitted.admit(entry.pathBytes, isDirectory: entry.kind == .directory)
        try hardLinkTargets.check(entry.pathBytes, kind: entry.kind, target: entry.linkTargetBytes)
        do {
            if entry.kind == .file {
                try appendFile(entry, content: content, sourcePath: sourcePath)
            } else {
                try appendToShared(
                    entry, headers: EntryHeaders.encode(entry, subSecondMtimes: options.subSecondMtimes), content: nil,
                    sourcePath: sourcePath)
            }
        } catch {
            state = .failed(error.description)
            throw error
        }
        order = admitted
        hardLinkTargets.record(entry.pathBytes, kind: entry.kind, links: entry.links)
    }

    private func appendFile(_ entry: ArchiveEntry, content: FileDescriptor?, sourcePath: String) throws(ArchiveError) {
        let headers = EntryHeaders.encode(entry, subSecondMtimes: options.subSecondMtimes)
        let tarBytes = UInt64(headers.count) + entry.size + UInt64(TarHeader.padding(for: entry.size))
        if options.smallFileGroupLimit > 0 && tarBytes <= UInt64(options.smallFileGroupLimit) {
            return try appendToShared(entry, headers: headers, content: content, sourcePath: sourcePath)
        }
        try closeShared()
        var hasher = SHA256()
        var members: [ArchiveTOC.Member] = []
        var memberStart = output.offset
        var memberData: UInt64 = 0
        var dataStart = UInt64(headers.count)
        var done: UInt64 = 0
        let chunk = UInt64(options.chunkSize)
        /// Ends the current member and records where it lies and which bytes of the file it holds.
        func closeMember() throws(ArchiveError) {
            try deflater.finishMember(sink: output.write)
            members.append(
                ArchiveTOC.Member(
                    offset: memberStart, length: output.offset - memberStart, dataOffset: done - memberData,
                    dataLength: memberData, dataStart: dataStart))
        }
        try deflater.beginMember()
        try compress(headers)
        while done < entry.size {
            if memberData == chunk {
                guard keepGoing() else { throw .stopped }
                try closeMember()
                memberStart = output.offset
                memberData = 0
                dataStart = 0
                try deflater.beginMember()
            }
            let want = Int(min(UInt64(readBuffer.count), chunk - memberData, entry.size - done))
            let piece = try readContent(content, count: want, entry: entry, done: done, sourcePath: sourcePath)
            hasher.update(bufferPointer: piece)
            try compress(piece)
            done += UInt64(want)
            memberData += UInt64(want)
        }
        try expectEndOfContent(content, entry: entry, sourcePath: sourcePath)
        try compress([UInt8](repeating: 0, count: TarHeader.padding(for: entry.size)))
        try closeMember()
        try emit(tocEntry(entry, sha256: Hex.string(hasher.finalize()), members: members))
    }

    /// Adds an entry without data (directory, symlink, hard link, FIFO, device) or, when
    /// grouping, a small file to the shared member.
    private func appendToShared(
        _ entry: ArchiveEntry,
        headers: [UInt8],
        content: FileDescriptor?,
        sourcePath: String
    ) throws(ArchiveError) {
        if shared == nil {
            shared = SharedMember(start: output.offset)
            try deflater.beginMember()
        }
        guard var member = shared else { return }
        try compress(headers)
        member.uncompressed += UInt64(headers.count)
        var sha256: String?
        if entry.kind == .file {
            var hasher = SHA256()
            var done: UInt64 = 0
            while done < entry.size {
                let want = Int(min(UInt64(readBuffer.count), entry.size - done))
                let piece = try readContent(content, count: want, entry: entry, done: done, sourcePath: sourcePath)
                hasher.update(bufferPointer: piece)
                try compress(piece)
                done += UInt64(want)
            }
            try expectEndOfContent(content, entry: entry, sourcePath: sourcePath)
            let padding = [UInt8](repeating: 0, count: TarHeader.padding(for: entry.size))
            try compress(padding)
            sha256 = Hex.string(hasher.finalize())
        }
        let dataLength = entry.kind == .file ? entry.size : 0
        let placeholder = ArchiveTOC.Member(
            offset: member.start,
            length: 0,
            dataOffset: 0,
            dataLength: dataLength,
            dataStart: member.uncompressed
        )
        member.uncompressed += dataLength + UInt64(entry.kind == .file ? TarHeader.padding(for: entry.size) : 0)
        member.entries.append(tocEntry(entry, sha256: sha256, members: [placeholder]))
        shared = member
        if options.smallFileGroupLimit > 0 && member.uncompressed >= UInt64(options.smallFileGroupLimit) {
            try closeShared()
        }
    }

    /// Ends the shared member, if one is open, and records its length in its entries.
    private func closeShared() throws(ArchiveError) {
        guard let member = shared else { return }
        shared = nil
        try deflater.finishMember(sink: output.write)
        let length = output.offset - member.start
        for var entry in member.entries {
            entry.members[0].length = length
            try emit(entry)
        }
    }

    private func compress(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        try deflater.compress(bytes, sink: output.write)
        bytesCompressed += UInt64(bytes.count)
    }

    private func compress(_ bytes: [UInt8]) throws(ArchiveError) {
        try deflater.compress(bytes, sink: output.write)
        bytesCompressed += UInt64(bytes.count)
    }

    private func emit(_ entry: ArchiveTOC.Entry) throws(ArchiveError) {
        try toc.append(entry)
        entryCount += 1
        formatVersionNeeded = max(formatVersionNeeded, entry.formatVersionNeeded)
    }

    private func readContent(
        _ content: FileDescriptor?,
        count: Int,
        entry: ArchiveEntry,
        done: UInt64,
        sourcePath: String
    ) throws(ArchiveError) -> UnsafeRawBufferPointer {
        guard let content else {
            throw .contentSizeMismatch(path: entry.path, expected: entry.size, actual: done)
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<count])
        let got = try FileIO.readFully(content, into: target, path: sourcePath)
        guard got == count else {
            throw .contentSizeMismatch(path: entry.path, expected: entry.size, actual: done + UInt64(got))
        }
        return UnsafeRawBufferPointer(target)
    }

    /// A content file that grew after its size was taken would make the TOC lie: refuse it.
    private func expectEndOfContent(
        _ content: FileDescriptor?,
        entry: ArchiveEntry,
        sourcePath: String
    ) throws(ArchiveError) {
        guard let content else { return }
        let probe = UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<1])
        let extra = try FileIO.readFully(content, into: probe, path: sourcePath)
        guard extra == 0 else {
            throw .contentSizeMismatch(path: entry.path, expected: entry.size, actual: entry.size + UInt64(extra))
        }
    }

    private func tocEntry(_ entry: ArchiveEntry, sha256: String?, members: [ArchiveTOC.Member]) -> ArchiveTOC.Entry {
        ArchiveTOC.Entry(
            pathBytes: entry.pathBytes,
            type: entry.kind,
            mode: entry.mode & 0o7777,
            size: entry.kind == .file ? entry.size : 0,
            mtime: entry.mtime,
            linkTargetBytes: entry.kind == .symlink || entry.kind == .hardLink ? entry.linkTargetBytes : nil,
            sha256: sha256,
            members: members,
            device: entry.kind.isDevice ? entry.device : nil,
            links: entry.kind == .file && entry.links > 1 ? entry.links : nil,
            xattrs: entry.xattrs
        )
    }
}
