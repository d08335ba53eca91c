// Reads through the TOC alone: every file, seeded random ranges, fetch volume, corruption detection.
import Foundation
import SeededRandom
import Synchronization
import SystemPackage
import Testing

@testable import SeekableArchive

/// Reads only the requested ranges of a local archive and records them.
final class RecordingSource: ArchiveByteSource {
    private let file: FileByteSource
    private let log = Mutex<[Range<UInt64>]>([])

    init(_ descriptor: FileDescriptor) { file = FileByteSource(descriptor: descriptor) }

    func bytes(in range: Range<UInt64>) throws -> [UInt8] {
        log.withLock { $0.append(range) }
        return try file.bytes(in: range)
    }

    var fetched: [Range<UInt64>] { log.withLock { $0 } }
    func reset() { log.withLock { $0.removeAll() } }
}

@Suite struct RandomAccessTests {
    @Test func everyFileAndSeededRandomRangesMatchTheSource() throws {
        let temp = try TemporaryDirectory("random")
        let source = temp.sub("source")
        try Fixtures.makeGeneratedTree(at: source)
        try Fixtures.exportSwiftLog(into: source.appending("swift-log"))
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)
        let descriptor = try FileDescriptor.open(archive, .readOnly)
        defer { try? descriptor.close() }
        let reader = try SeekableTarReader(toc: toc, source: RecordingSource(descriptor))

        let files = toc.entries.filter { $0.type == .file }
        var contents: [String: [UInt8]] = [:]
        for entry in files {
            let original = try TreeComparison.contents(source.appending(entry.path))
            #expect(try reader.readFile(at: entry.path) == original, "\(entry.path)")
            contents[entry.path] = original
        }

        let seed = UInt64(ProcessInfo.processInfo.environment["ARCHIVE_TEST_SEED"] ?? "") ?? 20_261_125
        var generator = SplitMix64(seed: seed)
        // Half the ranges hit the large files, where they cross member boundaries.
        let large = files.filter { $0.size > 4 << 20 }
        for index in 0..<1000 {
            let entry =
                index % 2 == 0
                ? large[Int(generator.next() % UInt64(large.count))]
                : files[Int(generator.next() % UInt64(files.count))]
            let size = entry.size
            let start = size == 0 ? 0 : generator.next() % (size + 1)
            let maxLength: UInt64 = generator.next() % 4 == 0 ? 9 << 20 : 70_000
            let end = start + generator.next() % (maxLength + 1)  // may run past the end: clamped
            let got = try reader.read(at: entry.path, range: start..<end)
            let original = try #require(contents[entry.path])
            let clampedEnd = Int(min(end, size))
            let want = Array(original[Int(min(start, size))..<max(clampedEnd, Int(min(start, size)))])
            #expect(got == want, "range \(start)..<\(end) of \(entry.path); replay with ARCHIVE_TEST_SEED=\(seed)")
            if got != want { break }
        }
    }

    @Test func readingOneSmallFileFetchesOnlyItsMember() throws {
        let temp = try TemporaryDirectory("fetch")
        let source = temp.sub("source")
        try Fixtures.exportSwiftLog(into: source)
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)
        let descriptor = try FileDescriptor.open(archive, .readOnly)
        defer { try? descriptor.close() }
        let recording = RecordingSource(descriptor)
        let reader = try SeekableTarReader(toc: toc, source: recording)

        let entry = try #require(toc.entries.first { $0.path == "Sources/Logging/Logger.swift" })
        let content = try reader.readFile(at: entry.path)
        #expect(content == (try TreeComparison.contents(source.appending(entry.path))))
        let fetched = recording.fetched.reduce(0) { $0 + $1.count }
        #expect(recording.fetched == entry.members.map(\.byteRange))
        #expect(UInt64(fetched) == entry.members[0].length)
        #expect(UInt64(fetched) * 20 < toc.archiveSize, "fetched \(fetched) of \(toc.archiveSize) archive bytes")

        recording.reset()
        #expect(try reader.read(at: entry.path, range: 100..<200) == Array(content[100..<200]))
        #expect(recording.fetched == [entry.members[0].byteRange])
    }

    @Test func aCorruptedMemberFailsWithATypedError() throws {
        let temp = try TemporaryDirectory("corrupt")
        let source = temp.sub("source")
        try Fixtures.exportSwiftLog(into: source)
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)
        let path = "Sources/Logging/Logger.swift"
        let member = try #require(toc.entries.first { $0.path == path }?.members.first)

        var bytes = try TreeComparison.contents(archive)
        for offset in [member.offset + member.length / 2, member.offset + member.length / 2 + 7] {
            bytes[Int(offset)] ^= 0x5A
        }
        let copy = temp.sub("corrupt.tar.gz")
        try Fixtures.writeFile(copy, bytes, mode: 0o644)
        let descriptor = try FileDescriptor.open(copy, .readOnly)
        defer { try? descriptor.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: descriptor))

        do {
            _ = try reader.readFile(at: path)
            Issue.record("reading a corrupted member succeeded")
        } catch let error as ArchiveError {
            switch error {
            case .checksumMismatch(let failed, _, _), .corruptMember(let failed, _, _):
                #expect(failed == path)
                #expect(error.description.contains(path))
            default:
                Issue.record("unexpected error: \(error)")
            }
        }
        // Other files, in untouched members, still read.
        let other = try #require(toc.entries.first { $0.path == "Package.swift" })
        #expect(try reader.readFile(at: other.path) == (try TreeComparison.contents(source.appending(other.path))))
    }

    @Test func aWrongChecksumInTheTOCIsReportedWithBothDigests() throws {
        let temp = try TemporaryDirectory("checksum")
        let source = temp.sub("source")
        try Fixtures.makeDirectory(source, mode: 0o755)
        try Fixtures.writeFile(source.appending("f.txt"), Array("content\n".utf8), mode: 0o644)
        let archive = temp.sub("v1.tar.gz")
        var toc = try ArchivePacker.pack(directory: source, to: archive)
        let real = try #require(toc.entries[0].sha256)
        let wrong = String(repeating: "0", count: 64)
        toc.entries[0].sha256 = wrong
        let descriptor = try FileDescriptor.open(archive, .readOnly)
        defer { try? descriptor.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: descriptor))
        #expect(throws: ArchiveError.checksumMismatch(path: "f.txt", expected: wrong, actual: real)) {
            try reader.readFile(at: "f.txt")
        }
        let devNull = try FileDescriptor.open("/dev/null", .writeOnly)
        defer { try? devNull.close() }
        #expect(throws: ArchiveError.checksumMismatch(path: "f.txt", expected: wrong, actual: real)) {
            try reader.writeFile(at: "f.txt", to: devNull)
        }
        #expect(throws: ArchiveError.notFound(path: "nope")) { try reader.readFile(at: "nope") }
    }

    @Test func writeFileStreamsLargeFilesAndVerifiesThem() throws {
        let temp = try TemporaryDirectory("stream")
        let source = temp.sub("source")
        try Fixtures.makeGeneratedTree(at: source)
        let archive = temp.sub("v1.tar.gz")
        let toc = try ArchivePacker.pack(directory: source, to: archive)
        let descriptor = try FileDescriptor.open(archive, .readOnly)
        defer { try? descriptor.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: descriptor))
        for path in ["nine-mib.bin", "sparse.bin", "empty.txt", "a/b/c/file.txt"] {
            let destination = temp.sub("out-" + path.replacingOccurrences(of: "/", with: "_"))
            let out = try FileDescriptor.open(
                destination,
                .writeOnly,
                options: [.create, .truncate],
                permissions: .ownerReadWrite
            )
            try out.closeAfter { try reader.writeFile(at: path, to: out) }
            #expect(try TreeComparison.sameContent(destination, source.appending(path)), "\(path)")
        }
        #expect(throws: ArchiveError.notARegularFile(path: "a")) { try reader.readFile(at: "a") }
    }
}
