// Round trips of real trees: pack with the writer, then unpack and list with GNU tar, gzip and Python.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct RoundTripTests {
    @Test func exportedSourceTreeRoundTripsThroughRealTools() throws {
        let temp = try TemporaryDirectory("swift-log")
        let source = temp.sub("source")
        try Fixtures.exportSwiftLog(into: source)
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)

        #expect(toc.entries.count == (try TreeComparison.walk(source)).count)
        #expect(toc.entries.contains { $0.path == "Sources/Logging/Logger.swift" })
        let problems = try RealTools.check(
            archive: archive,
            toc: toc,
            source: source,
            scratch: temp.path,
            subSecond: false
        )
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        try expectTOCMatchesArchiveFile(toc, archive)
    }

    @Test func generatedEdgeCaseTreeRoundTripsThroughRealTools() throws {
        let temp = try TemporaryDirectory("generated")
        let source = temp.sub("source")
        try Fixtures.makeGeneratedTree(at: source)
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)

        let problems = try RealTools.check(
            archive: archive,
            toc: toc,
            source: source,
            scratch: temp.path,
            subSecond: true
        )
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        try expectTOCMatchesArchiveFile(toc, archive)

        // Members follow the 4 MiB chunking: 9 MiB → 3 members, 100 MiB → 25.
        let nine = try #require(toc.entries.first { $0.path == "nine-mib.bin" })
        #expect(nine.members.map(\.dataLength) == [4 << 20, 4 << 20, 1 << 20])
        #expect(nine.members[0].dataStart > 0 && nine.members[1].dataStart == 0)
        let sparse = try #require(toc.entries.first { $0.path == "sparse.bin" })
        #expect(sparse.members.count == 25)
        let long = try #require(toc.entries.first { $0.path == Fixtures.longName })
        #expect(long.members[0].dataStart == 3 * 512, "pax header, pax records, ustar header")
        let link = try #require(toc.entries.first { $0.path == "lien-é" })
        #expect(link.type == .symlink && link.linkTarget == Fixtures.nonASCIIFile)
        let empty = try #require(toc.entries.first { $0.path == "empty.txt" })
        #expect(empty.size == 0 && empty.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(toc.entries.allSatisfy { $0.mtime.nanoseconds != 0 }, "the fixture sets sub-second mtimes")
    }

    @Test func groupedSmallFilesRoundTripAndReadBack() throws {
        let temp = try TemporaryDirectory("grouped")
        let source = temp.sub("source")
        try Fixtures.exportSwiftLog(into: source)
        let archive = temp.sub("v1.tar.gz")
        let options = SeekableTarWriter.Options(smallFileGroupLimit: 32 * 1024)
        let toc = try ArchivePacker.pack(directory: source, to: archive, options: options)
        let problems = try RealTools.check(
            archive: archive,
            toc: toc,
            source: source,
            scratch: temp.path,
            subSecond: false
        )
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let offsets = Set(toc.entries.filter { $0.type == .file }.map { $0.members[0].offset })
        #expect(offsets.count < toc.entries.filter { $0.type == .file }.count, "small files share members")

        let descriptor = try FileDescriptor.open(archive, .readOnly)
        defer { try? descriptor.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: descriptor))
        for entry in toc.entries where entry.type == .file {
            #expect(try reader.readFile(at: entry.path) == TreeComparison.contents(source.appending(entry.path)))
        }
    }

    /// The TOC's size and sha256 describe the archive file, and its members tile it without gaps.
    private func expectTOCMatchesArchiveFile(_ toc: ArchiveTOC, _ archive: FilePath) throws {
        let size = try archive.stat().size
        #expect(UInt64(size) == toc.archiveSize)
        let sha = try Shell.run("sha256sum \(Shell.quote(archive.string))").stdout.prefix(64)
        #expect(String(sha) == toc.archiveSHA256)
        var ranges = Set(toc.entries.flatMap { $0.members.map(\.byteRange) })
        ranges.insert(toc.endMember.byteRange)
        var next: UInt64 = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            #expect(range.lowerBound == next, "members tile the archive")
            next = range.upperBound
        }
        #expect(next == toc.archiveSize)
        #expect(try ArchiveTOC.decode(from: toc.encodeJSON()) == toc)
    }
}
