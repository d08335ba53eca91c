// Tests of TOC format 2: path order, round trips, streaming files, one-block lookups, size, damage.
import Foundation
import SeededRandom
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct TOCFormat2Tests {
    // MARK: Path order

    @Test func pathOrderComparesComponentsWithSlashFirst() {
        func less(_ a: String, _ b: String) -> Bool {
            ArchivePathOrder.areInIncreasingOrder(Array(a.utf8), Array(b.utf8))
        }
        #expect(less("a/b", "a.b") && less("a.b", "a0") && less("a/b", "a0"))
        #expect(!less("a.b", "a/b") && !less("a0", "a.b"))
        #expect(less("a", "a/x") && !less("a/x", "a"))
        #expect(less("a/z", "a.b"), "a directory's whole subtree comes before its next sibling")
        #expect(!less("a/b", "a/b") && !less("", ""))
        #expect(less("", "a"))
        #expect(less("d", "données") && less("données", "e"), "non-ASCII bytes compare as bytes")
    }

    // MARK: Round trips

    @Test func inMemoryTOCRoundTripsThroughFormat2() throws {
        for metadata in [["origin": "generator-7", "note": "héllo"], nil] as [[String: String]?] {
            let toc = Self.mixedTOC(metadata: metadata)
            let bytes = try toc.encodeFormat2()
            #expect(Array(bytes.suffix(8)) == Array("CBFSTOC2".utf8))
            let decoded = try ArchiveTOC.decode(from: bytes)
            #expect(decoded == toc)
            #expect(decoded.formatVersion == 2)
            #expect(decoded.summary.entryCount == UInt64(toc.entries.count))
            #expect(try decoded.encodeFormat2() == bytes, "the same TOC always encodes to the same bytes")
        }
    }

    /// The record of `src/hello.txt` spelled out in docs/STORAGE_FORMAT.md.
    @Test func recordBytesMatchTheDocumentedExample() throws {
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        var toc = ArchiveTOC(entries: [
            ArchiveTOC.Entry(
                path: "src", type: .directory, mode: 0o755, size: 0, mtime: ArchiveTimestamp(seconds: 1_700_000_000),
                linkTarget: nil, sha256: nil,
                members: [ArchiveTOC.Member(offset: 0, length: 73, dataOffset: 0, dataLength: 0, dataStart: 512)]),
            ArchiveTOC.Entry(
                path: "src/hello.txt", type: .file, mode: 0o644, size: 6,
                mtime: ArchiveTimestamp(seconds: 1_700_000_000, nanoseconds: 250_000_000), linkTarget: nil,
                sha256: sha,
                members: [ArchiveTOC.Member(offset: 73, length: 152, dataOffset: 0, dataLength: 6, dataStart: 1536)]),
        ])
        toc.metadata = nil
        var records: [UInt8] = []
        _ = try Surgery.rebuild(try toc.encodeFormat2()) { blocks, _ in records = blocks[0] }
        let path: [UInt8] = [0x03, 0x0a] + Array("/hello.txt".utf8)
        let fields: [UInt8] = [0x00, 0xa4, 0x03, 0x80, 0xc4, 0x9f, 0xd5, 0x0c, 0x80, 0xe5, 0x9a, 0x77, 0x06]
        let members: [UInt8] = [0x01, 0x92, 0x01, 0x98, 0x01, 0x06, 0x80, 0x0c]
        let hello = path + fields + (Hex.bytes(sha) ?? []) + members
        #expect(Array(records.suffix(hello.count)) == hello)
        #expect(Array(records.prefix(6)) == [0x00, 0x03] + Array("src".utf8) + [0x01], "first record: no shared bytes")
    }

    @Test func fileWriterWritesTheSameBytesAsEncodeFormat2() throws {
        let temp = try TemporaryDirectory("toc2-same")
        let toc = Self.mixedTOC(metadata: ["k": "v"])
        let umaskBefore = try Self.processUmask()
        let writer = try TOCFileWriter(output: temp.sub("v1.toc"))
        for entry in toc.entries { try writer.append(entry) }
        var summary = toc.summary
        summary.entryCount = 0  // overwritten by the writer
        summary.formatVersion = 7  // likewise
        let size = try writer.finish(summary)
        let onDisk = try Self.readFile(temp.sub("v1.toc"))
        #expect(UInt64(onDisk.count) == size)
        #expect(onDisk == (try toc.encodeFormat2()))
        // 0644 as the writer asks, less the process umask, which a DataDirectory opened by another
        // test in this process may set to 077 at any moment (before: `umaskBefore`).
        let allowed = Set([umaskBefore, try Self.processUmask()].map { 0o644 & ~$0 })
        #expect(allowed.contains(try temp.sub("v1.toc").stat().permissions.rawValue & 0o777))
        #expect(throws: ArchiveError.writerUnusable(reason: "finish() was already called")) {
            try writer.finish(summary)
        }
    }

    @Test func emptyTOCHasNoBlocks() throws {
        var toc = Self.mixedTOC(metadata: nil)
        toc.entries = []
        let bytes = try toc.encodeFormat2()
        guard case .index(let index) = try TOCFileIndex.parse(tail: bytes, fileSize: UInt64(bytes.count)) else {
            Issue.record("an empty TOC's tail is all of it")
            return
        }
        #expect(index.blocks.isEmpty && index.summary.entryCount == 0)
        #expect(index.blockIndex(containing: Array("a".utf8)) == nil)
        #expect(try ArchiveTOC.decode(from: bytes) == toc)
    }

    @Test func format1JSONStillDecodes() throws {
        var toc = Self.mixedTOC(metadata: ["k": "v"])
        toc.formatVersion = 1
        let json = try toc.encodeJSON()
        #expect(String(decoding: json, as: UTF8.self).contains("\"format_version\":1"))
        let decoded = try ArchiveTOC.decode(from: json)
        #expect(decoded == toc && decoded.formatVersion == 1)
    }

    // MARK: Streaming and one-block lookups

    @Test func writerAndReaderStreamManyBlocksAndALookupFetchesOneBlock() throws {
        let temp = try TemporaryDirectory("toc2-stream")
        let path = temp.sub("v1.toc")
        let writer = try TOCFileWriter(output: path)
        var tree = GeneratedTree(directories: 200, filesPerDirectory: 999, seed: 11)
        var written: [ArchiveTOC.Entry] = []
        while let entry = tree.next() {
            try writer.append(entry)
            written.append(entry)
        }
        #expect(written.count == 200_000)
        try writer.finish(tree.summary)

        let reader = try TOCFileReader(path: path)
        #expect(reader.summary.entryCount == 200_000)
        #expect(reader.summary.formatVersion == 2)
        var position = 0
        while let entry = try reader.next() {
            guard position < written.count, entry == written[position] else {
                Issue.record("entry \(position) differs: \(entry.path)")
                return
            }
            position += 1
        }
        #expect(position == written.count)
        #expect(try reader.next() == nil)

        // The Range-read path: the tail, then exactly one block per lookup.
        let file = try Self.readFile(path)
        var calls = 0
        var fetched = 0
        let fetch = { (range: Range<UInt64>) throws(ArchiveError) -> [UInt8] in
            calls += 1
            fetched += range.count
            return Array(file[Int(range.lowerBound)..<Int(range.upperBound)])
        }
        let index = try TOCFileIndex.read(fileSize: UInt64(file.count), fetch: fetch)
        #expect(index.blocks.count > 10, "\(index.blocks.count) blocks")
        let tailCalls = calls
        let tailBytes = fetched
        print(
            "format 2, 200 000 entries: \(file.count) bytes, \(index.blocks.count) blocks, "
                + "tail fetch \(tailBytes) bytes")
        for wanted in [written[0], written[100_000], written[written.count - 1]] {
            calls = 0
            fetched = 0
            #expect(try index.entry(at: Array(wanted.path.utf8), fetch: fetch) == wanted)
            #expect(calls == 1, "one block for '\(wanted.path)'")
            #expect(tailBytes + fetched < 1_000_000)
        }
        for absent in ["a", "d0100/f0500.txt.bak", "d0100.x", "z"] {
            calls = 0
            #expect(try index.entry(at: Array(absent.utf8), fetch: fetch) == nil, "\(absent)")
            #expect(calls <= 1 && tailCalls >= 1)
        }
    }

    /// Format 2's size goal: ≤ 64 bytes per entry on a million 100-byte files in shared members.
    @Test func aMillionSmallFilesTakeAtMost64BytesPerEntry() throws {
        let temp = try TemporaryDirectory("toc2-size")
        let path = temp.sub("v1.toc")
        let started = Date()
        let writer = try TOCFileWriter(output: path)
        var tree = GeneratedTree(directories: 1000, filesPerDirectory: 1000, seed: 5)
        while let entry = tree.next() { try writer.append(entry) }
        let size = try writer.finish(tree.summary)
        let entries = 1000 + 1000 * 1000
        let perEntry = Double(size) / Double(entries)
        print(
            "format 2, \(entries) entries: \(size) bytes = \(String(format: "%.2f", perEntry)) bytes/entry, "
                + "written in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
        )
        #expect(perEntry <= 64)
        let file = try Self.readFile(path)
        guard case .index(let index) = try TOCFileIndex.parse(
            tail: Array(file.suffix(Int(TOCFileIndex.suggestedTailLength))),
            fileSize: UInt64(file.count)
        ) else {
            Issue.record("a million-entry footer should fit in the suggested tail")
            return
        }
        #expect(index.summary.entryCount == UInt64(entries))
    }

    // MARK: Rejected input

    @Test func writerRejectsOutOfOrderAndDuplicatePaths() throws {
        let temp = try TemporaryDirectory("toc2-order")
        let writer = try TOCFileWriter(output: temp.sub("v1.toc"))
        let toc = Self.mixedTOC(metadata: nil)
        try writer.append(toc.entries[0])  // "a"
        try writer.append(toc.entries[1])  // "a/big.bin"
        Self.expectInvalidEntry("a/big.bin", containing: "already appended") { () throws(ArchiveError) in
            try writer.append(toc.entries[1])
        }
        Self.expectInvalidEntry("a", containing: "does not come after 'a/big.bin'") { () throws(ArchiveError) in
            try writer.append(toc.entries[0])
        }
        var dotted = toc.entries[1]
        dotted.path = "a.b"
        try writer.append(dotted)
        var child = toc.entries[1]
        child.path = "a/c"
        Self.expectInvalidEntry("a/c", containing: "does not come after 'a.b'") { () throws(ArchiveError) in
            try writer.append(child)
        }
        var noSHA = toc.entries[1]
        noSHA.path = "b"
        noSHA.sha256 = "ABC"
        Self.expectInvalidEntry("b", containing: "sha256") { () throws(ArchiveError) in try writer.append(noSHA) }
        // Rejected entries wrote nothing: the writer goes on, and the file holds the three accepted.
        try writer.finish(toc.summary)
        let reader = try TOCFileReader(path: temp.sub("v1.toc"))
        var paths: [String] = []
        while let entry = try reader.next() { paths.append(entry.path) }
        #expect(paths == ["a", "a/big.bin", "a.b"])
        #expect(throws: ArchiveError.self) { try ArchiveTOC(entries: [toc.entries[1], toc.entries[0]]).encodeFormat2() }

        // Member ranges are checked when the archive size is known: at finish.
        let short = try TOCFileWriter(output: temp.sub("short.toc"))
        try short.append(toc.entries[1])
        var small = toc.summary
        small.archiveSize = 5_000_000
        small.endMember.offset = 4_000_000
        #expect(
            throws: ArchiveError.invalidTOC(
                reason: "a member of 'a/big.bin' ends at 9900090, after the archive's 5000000 bytes")
        ) { try short.finish(small) }
    }

    @Test func truncatedFilesAndABadMagicAreInvalidTOCs() throws {
        let temp = try TemporaryDirectory("toc2-damage")
        let bytes = try Self.mixedTOC(metadata: nil).encodeFormat2()
        try Self.expectInvalidTOC(Array(bytes.dropLast(5)), temp, containing: "")
        try Self.expectInvalidTOC(Array(bytes.dropLast(bytes.count - 10)), temp, containing: "")
        try Self.expectInvalidTOC(Array(bytes.dropFirst(20)), temp, containing: "")
        try Self.expectInvalidTOC([], temp, containing: "")
        var badMagic = bytes
        badMagic[badMagic.count - 1] = UInt8(ascii: "3")
        try Self.expectInvalidTOC(badMagic, temp, containing: "")
        #expect(throws: ArchiveError.invalidTOC(reason: "the file does not end in the CBFSTOC2 trailer")) {
            try TOCFileIndex.parse(tail: badMagic, fileSize: UInt64(badMagic.count))
        }
        var pastEnd = bytes
        pastEnd.replaceSubrange(
            (bytes.count - 16)..<(bytes.count - 8), with: TOCFooter.trailer(footerOffset: 1 << 40).prefix(8))
        try Self.expectInvalidTOC(pastEnd, temp, containing: "footer offset")
    }

    @Test func aCorruptedBlockIsAnInvalidTOC() throws {
        let temp = try TemporaryDirectory("toc2-flip")
        let toc = GeneratedTree.toc(directories: 3, filesPerDirectory: 999, seed: 3)
        let bytes = try toc.encodeFormat2()
        let index = try Self.index(of: bytes)
        try #require(index.blocks.count >= 2, "expected several blocks")
        for position in [Int(index.blocks[1].offset) + 10, Int(index.blocks[1].offset + index.blocks[1].length / 2)] {
            var flipped = bytes
            flipped[position] ^= 0x5A
            try Self.expectInvalidTOC(flipped, temp, containing: "block 1")
        }
        var shorter = bytes
        shorter[Int(index.blocks[0].offset + index.blocks[0].length) - 1] ^= 0xFF  // the gzip size trailer
        try Self.expectInvalidTOC(shorter, temp, containing: "block 0")
    }

    @Test func aFooterOfFormatVersion6IsUnsupported() throws {
        let temp = try TemporaryDirectory("toc2-v6")
        let bytes = try Self.mixedTOC(metadata: nil).encodeFormat2()
        let v6 = try Surgery.rebuild(bytes) { _, footer in footer.summary.formatVersion = 6 }
        #expect(throws: ArchiveError.unsupportedFormatVersion(6)) { try ArchiveTOC.decode(from: v6) }
        try Fixtures.writeFile(temp.sub("v6.toc"), v6, mode: 0o644)
        #expect(throws: ArchiveError.unsupportedFormatVersion(6)) { try TOCFileReader(path: temp.sub("v6.toc")) }
        #expect(
            ArchiveError.unsupportedFormatVersion(6).description
                == "archive TOC format_version 6 is not supported (this build reads 1, 2, 3, 4 and 5)"
        )
        let unchanged = try Surgery.rebuild(bytes) { _, _ in }
        #expect(unchanged == bytes, "the surgery itself changes nothing")
    }

    @Test func anUnknownTypeByteIsAnInvalidTOC() throws {
        let temp = try TemporaryDirectory("toc2-type")
        let bytes = try Self.mixedTOC(metadata: nil).encodeFormat2()
        // The first record: shared 0, suffix length 1, "a", then the type byte.
        let bad = try Surgery.rebuild(bytes) { blocks, _ in
            #expect(blocks[0][0] == 0 && blocks[0][1] == 1 && blocks[0][2] == UInt8(ascii: "a") && blocks[0][3] == 1)
            blocks[0][3] = 8
        }
        try Self.expectInvalidTOC(bad, temp, containing: "unknown entry type 8 for 'a'")
    }

    @Test func anEntryCountThatDoesNotMatchIsAnInvalidTOC() throws {
        let temp = try TemporaryDirectory("toc2-count")
        let toc = Self.mixedTOC(metadata: nil)
        let bytes = try toc.encodeFormat2()
        let count = toc.entries.count
        let total = try Surgery.rebuild(bytes) { _, footer in footer.summary.entryCount = UInt64(count + 1) }
        try Self.expectInvalidTOC(total, temp, containing: "entry_count is \(count + 1), the blocks hold \(count)")
        let both = try Surgery.rebuild(bytes) { _, footer in
            footer.summary.entryCount = UInt64(count + 1)
            footer.blocks[0].entries = count + 1
        }
        try Self.expectInvalidTOC(both, temp, containing: "holds \(count) entries, the index says \(count + 1)")
        let fewer = try Surgery.rebuild(bytes) { _, footer in
            footer.summary.entryCount = UInt64(count - 1)
            footer.blocks[0].entries = count - 1
        }
        try Self.expectInvalidTOC(fewer, temp, containing: "holds more than the \(count - 1) entries")
    }

    // MARK: Fixtures

    /// Every kind of entry: a three-member file, an empty file, files sharing a member, a symlink
    /// with a non-ASCII target, a member-less directory, nanosecond and negative mtimes.
    static func mixedTOC(metadata: [String: String]?) -> ArchiveTOC {
        func member(_ offset: UInt64, _ length: UInt64, _ dataOffset: UInt64, _ dataLength: UInt64, _ start: UInt64)
            -> ArchiveTOC.Member
        {
            ArchiveTOC.Member(
                offset: offset, length: length, dataOffset: dataOffset, dataLength: dataLength, dataStart: start)
        }
        func entry(
            _ path: String, _ type: ArchiveEntry.Kind, mode: UInt32 = 0o644, size: UInt64 = 0,
            mtime: ArchiveTimestamp = ArchiveTimestamp(seconds: 1_760_000_000, nanoseconds: 123_456_789),
            target: String? = nil, sha: String? = nil, members: [ArchiveTOC.Member]
        ) -> ArchiveTOC.Entry {
            ArchiveTOC.Entry(
                path: path, type: type, mode: mode, size: size, mtime: mtime, linkTarget: target, sha256: sha,
                members: members)
        }
        let mib: UInt64 = 1 << 20
        let entries = [
            entry(
                "a", .directory, mode: 0o755, mtime: ArchiveTimestamp(seconds: -1, nanoseconds: 999_999_999),
                members: [member(0, 90, 0, 0, 512)]),
            entry(
                "a/big.bin", .file, mode: 0o600, size: 10 * mib, sha: String(repeating: "0123456789abcdef", count: 4),
                members: [member(90, 4_000_000, 0, 4 * mib, 1536), member(4_000_090, 3_900_000, 4 * mib, 4 * mib, 0),
                    member(7_900_090, 2_000_000, 8 * mib, 2 * mib, 0)]),
            entry(
                "a/empty", .file, mtime: ArchiveTimestamp(seconds: Int64.min, nanoseconds: 0),
                sha: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                members: [member(9_900_090, 300, 0, 0, 512)]),
            entry(
                "a/link", .symlink, mode: 0o777, target: "../données/世界 \u{1F600}",
                members: [member(9_900_090, 300, 0, 0, 1536)]),
            entry(
                "a/s1.txt", .file, mode: 0o4755, size: 6,
                sha: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
                members: [member(9_900_090, 300, 0, 6, 2560)]),
            entry(
                "a/s2.txt", .file, size: 700, mtime: ArchiveTimestamp(seconds: Int64.max, nanoseconds: 1),
                sha: String(repeating: "f", count: 64), members: [member(9_900_090, 300, 0, 700, 3584)]),
            entry(
                "a.b", .file, size: 1, sha: String(repeating: "a", count: 64),
                members: [member(9_900_390, 40, 0, 1, 512)]),
            entry("b", .directory, mode: 0o700, members: []),
            entry("données", .directory, mode: 0o755, members: [member(9_900_430, 50, 0, 0, 512)]),
            entry(
                "données/世界.txt", .file, size: 3, sha: String(repeating: "0", count: 64),
                members: [member(9_900_430, 50, 0, 3, 1536)]),
        ]
        var toc = ArchiveTOC(entries: entries)
        toc.metadata = metadata
        return toc
    }

    static func readFile(_ path: FilePath) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path.string)))
    }

    /// What a remote reader does: fetch the suggested tail, more if the footer needs it.
    /// This process's umask, read without changing it (umask(2) cannot).
    static func processUmask() throws -> UInt32 {
        let line = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("Umask:") }
        return try #require(line.flatMap { UInt32($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) })
    }

    /// The index of a whole TOC held in memory.
    static func index(of bytes: [UInt8]) throws -> TOCFileIndex {
        try TOCFileIndex.read(fileSize: UInt64(bytes.count)) { range throws(ArchiveError) in
            Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        }
    }

    static func expectInvalidEntry(
        _ path: String,
        containing text: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws(ArchiveError) -> Void
    ) {
        do {
            try body()
            Issue.record("'\(path)' was accepted", sourceLocation: sourceLocation)
        } catch {
            guard case .invalidEntry(let rejected, let reason) = error, rejected == path, reason.contains(text) else {
                Issue.record("expected invalidEntry '\(path)' (\(text)), got \(error)", sourceLocation: sourceLocation)
                return
            }
        }
    }

    /// Both readers (in memory and from a file) must fail with ``ArchiveError/invalidTOC(reason:)``.
    static func expectInvalidTOC(
        _ bytes: [UInt8],
        _ temp: TemporaryDirectory,
        containing text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        func check(_ what: String, _ body: () throws(ArchiveError) -> Void) {
            do {
                try body()
                Issue.record("\(what) accepted damaged bytes", sourceLocation: sourceLocation)
            } catch {
                guard case .invalidTOC(let reason) = error, text.isEmpty || reason.contains(text) else {
                    Issue.record("\(what): expected invalidTOC (\(text)), got \(error)", sourceLocation: sourceLocation)
                    return
                }
            }
        }
        check("ArchiveTOC.decode") { () throws(ArchiveError) in _ = try ArchiveTOC.decode(from: bytes) }
        let path = temp.sub("damaged.toc")
        try Fixtures.writeFile(path, bytes, mode: 0o644)
        check("TOCFileReader") { () throws(ArchiveError) in
            let reader = try TOCFileReader(path: path)
            while try reader.next() != nil {}
        }
    }
}

extension ArchiveTOC {
    /// A format-2 TOC around `entries`, with an archive large enough for their members.
    init(entries: [Entry]) {
        self.init(
            formatVersion: 2,
            chunkSize: 4 << 20,
            archiveSize: 10_000_000,
            archiveSHA256: String(repeating: "5", count: 64),
            entries: entries,
            endMember: Member(offset: 9_999_971, length: 29, dataOffset: 0, dataLength: 0, dataStart: 0),
            metadata: nil
        )
    }
}

/// A tree shaped like a large generated code base: `d0000` … with files `d0000/f0000.txt` … of
/// 100 bytes, random sha256 and nanoseconds, about 1000 entries per shared member.
struct GeneratedTree: IteratorProtocol {
    private static let entriesPerMember = 1000
    let directories: Int
    let filesPerDirectory: Int
    private var random: SplitMix64
    private var directory = 0
    /// -1: the directory itself is next.
    private var file = -1
    private var memberOffset: UInt64 = 0
    private var memberLength: UInt64 = 30_000
    private var inMember = 0
    private var dataStart: UInt64 = 0

    init(directories: Int, filesPerDirectory: Int, seed: UInt64) {
        self.directories = directories
        self.filesPerDirectory = filesPerDirectory
        random = SplitMix64(seed: seed)
    }

    /// The whole tree as one in-memory TOC.
    static func toc(directories: Int, filesPerDirectory: Int, seed: UInt64) -> ArchiveTOC {
        var tree = GeneratedTree(directories: directories, filesPerDirectory: filesPerDirectory, seed: seed)
        var entries: [ArchiveTOC.Entry] = []
        while let entry = tree.next() { entries.append(entry) }
        var toc = ArchiveTOC(entries: entries)
        toc.archiveSize = tree.summary.archiveSize
        toc.endMember = tree.summary.endMember
        return toc
    }

    /// Valid once every entry was taken: the archive ends after the last member.
    var summary: TOCSummary {
        let end = memberOffset + memberLength
        return TOCSummary(
            formatVersion: 2, chunkSize: 4 << 20, archiveSize: end + 29,
            archiveSHA256: String(repeating: "ab", count: 32),
            endMember: ArchiveTOC.Member(offset: end, length: 29, dataOffset: 0, dataLength: 0, dataStart: 0),
            metadata: ["generator": "GeneratedTree"], entryCount: 0)
    }

    mutating func next() -> ArchiveTOC.Entry? {
        guard directory < directories else { return nil }
        if inMember == Self.entriesPerMember {
            memberOffset += memberLength
            memberLength = 25_000 + random.next() % 10_000
            inMember = 0
            dataStart = 0
        }
        inMember += 1
        let mtime = ArchiveTimestamp(
            seconds: 1_760_000_000 + Int64(random.next() % 1_000_000),
            nanoseconds: Int32(random.next() % 1_000_000_000)
        )
        let directoryName = "d" + Self.padded(directory)
        defer {
            file += 1
            if file == filesPerDirectory {
                file = -1
                directory += 1
            }
        }
        if file < 0 {
            dataStart += 512
            return ArchiveTOC.Entry(
                path: directoryName, type: .directory, mode: 0o755, size: 0, mtime: mtime, linkTarget: nil,
                sha256: nil,
                members: [ArchiveTOC.Member(
                    offset: memberOffset, length: memberLength, dataOffset: 0, dataLength: 0, dataStart: dataStart)])
        }
        var sha: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: random.next()) { sha.append(contentsOf: $0) } }
        dataStart += 1024
        return ArchiveTOC.Entry(
            path: directoryName + "/f" + Self.padded(file) + ".txt", type: .file, mode: 0o644, size: 100, mtime: mtime,
            linkTarget: nil, sha256: Hex.string(sha),
            members: [ArchiveTOC.Member(
                offset: memberOffset, length: memberLength, dataOffset: 0, dataLength: 100,
                dataStart: dataStart - 512)])
    }

    private static func padded(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Takes a format-2 TOC apart (raw blocks, footer) and puts it back together with fresh
/// offsets, lengths and trailer, so a test can damage one thing and keep the rest consistent.
enum Surgery {
    static func rebuild(
        _ bytes: [UInt8],
        change: (inout [[UInt8]], inout TOCFooter) throws -> Void
    ) throws -> [UInt8] {
        guard let footerOffset = TOCFooter.footerOffset(trailerOf: bytes) else { throw TestFailure("no trailer") }
        let footerMember = Array(bytes[Int(footerOffset)..<(bytes.count - TOCFooter.trailerLength)])
        var footer = try TOCFooter.decode(json: TOCFileIndex.inflate(footerMember, limit: 1 << 30, what: "footer"))
        var raw = try footer.blocks.map { block in
            let compressed = Array(bytes[Int(block.offset)..<Int(block.offset + block.length)])
            return try TOCFileIndex.inflate(compressed, limit: 1 << 30, what: "block")
        }
        try change(&raw, &footer)
        var out: [UInt8] = []
        let deflater = try GzipDeflater(level: TOCStreamEncoder.compressionLevel)
        func compress(_ content: [UInt8]) throws {
            try deflater.beginMember()
            try deflater.compress(content) { piece throws(ArchiveError) in out.append(contentsOf: piece) }
            try deflater.finishMember { piece throws(ArchiveError) in out.append(contentsOf: piece) }
        }
        for (number, content) in raw.enumerated() {
            let start = out.count
            try compress(content)
            footer.blocks[number].offset = UInt64(start)
            footer.blocks[number].length = UInt64(out.count - start)
        }
        let newFooterOffset = UInt64(out.count)
        try compress(try footer.encodeJSON())
        return out + TOCFooter.trailer(footerOffset: newFooterOffset)
    }
}
