// Tests of the TOC's JSON form and of the writer's rules: validation, size changes, descriptor output.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct TOCAndWriterTests {
    private func smallArchive(_ temp: TemporaryDirectory) throws -> ArchiveTOC {
        let content = temp.sub("content")
        try Fixtures.writeFile(content, Array("hello\n".utf8), mode: 0o644)
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"))
        try writer.append(
            ArchiveEntry(path: "src", kind: .directory, mode: 0o755, mtime: (seconds: 1_700_000_000, nanoseconds: 0)),
            contentsOf: nil
        )
        try writer.append(
            ArchiveEntry(
                path: "src/hello.txt",
                kind: .file,
                mode: 0o644,
                mtime: (seconds: 1_700_000_000, nanoseconds: 250_000_000),
                size: 6
            ),
            contentsOf: content
        )
        try writer.append(
            ArchiveEntry(
                path: "src/link",
                kind: .symlink,
                mode: 0o777,
                mtime: (seconds: 1_700_000_000, nanoseconds: 0),
                linkTarget: "hello.txt"
            ),
            contentsOf: nil
        )
        return try writer.finish()
    }

    @Test func tocEncodesToSnakeCaseJSONAndDecodesBack() throws {
        let temp = try TemporaryDirectory("toc")
        var toc = try smallArchive(temp)
        #expect(toc.formatVersion == 2, "the writer stamps the current version")
        toc.formatVersion = 1  // how a format-1 `v<n>.toc.json` is made
        let json = String(decoding: try toc.encodeJSON(), as: UTF8.self)
        for key in [
            "\"format_version\":1", "\"archive_size\":", "\"archive_sha256\":", "\"chunk_size\":4194304",
            "\"data_start\":", "\"link_target\":\"hello.txt\"", "\"nanoseconds\":250000000",
        ] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
        #expect(try ArchiveTOC.decode(from: toc.encodeJSON()) == toc)
        #expect(toc.entries.map(\.path) == ["src", "src/hello.txt", "src/link"])
        #expect(toc.entries[0].members.count == 1 && toc.entries[0].members[0].dataLength == 0)
        #expect(toc.entries[1].members[0].dataStart == 1536, "sub-second mtime: pax header, records, ustar")
        #expect(toc.entries[1].sha256 == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    }

    @Test func tocDecodingRejectsOtherVersionsAndBrokenInvariants() throws {
        let temp = try TemporaryDirectory("toc-bad")
        let toc = try smallArchive(temp)
        let json = String(decoding: try toc.encodeJSON(), as: UTF8.self)
        let v6 = json.replacingOccurrences(
            of: "\"format_version\":\(toc.formatVersion)", with: "\"format_version\":6")
        #expect(throws: ArchiveError.unsupportedFormatVersion(6)) { try ArchiveTOC.decode(from: Array(v6.utf8)) }
        #expect(throws: ArchiveError.self) { try ArchiveTOC.decode(from: Array("{}".utf8)) }
        var broken = toc
        broken.entries[1].members[0].dataLength = 5
        #expect(throws: ArchiveError.invalidTOC(reason: "members of 'src/hello.txt' hold 5 of 6 bytes")) {
            try ArchiveTOC.decode(from: broken.encodeJSON())
        }
        var outside = toc
        outside.entries[1].members[0].length = toc.archiveSize
        #expect(throws: ArchiveError.self) { try SeekableTarReader(toc: outside, fetch: { _ in [] }) }
    }

    @Test func writerRejectsBadEntriesWithoutBreakingTheArchive() throws {
        let temp = try TemporaryDirectory("validation")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"))
        let time = ArchiveTimestamp(seconds: 1)
        let bad: [(ArchiveEntry, String)] = [
            (ArchiveEntry(path: "/abs", kind: .directory, mode: 0o755, mtime: time), "relative"),
            (ArchiveEntry(path: "a/../b", kind: .directory, mode: 0o755, mtime: time), "'..'"),
            (ArchiveEntry(path: "a//b", kind: .directory, mode: 0o755, mtime: time), "empty component"),
            (ArchiveEntry(path: "", kind: .directory, mode: 0o755, mtime: time), "empty"),
            (
                ArchiveEntry(path: "missing/child", kind: .directory, mode: 0o755, mtime: time),
                "parent directory 'missing'"
            ),
            (ArchiveEntry(path: "s", kind: .symlink, mode: 0o777, mtime: time), "link target"),
            (ArchiveEntry(path: "f", kind: .file, mode: 0o644, mtime: time, size: 3), "content source"),
            (
                ArchiveEntry(
                    path: "n",
                    kind: .file,
                    mode: 0o644,
                    mtime: ArchiveTimestamp(seconds: 1, nanoseconds: 1_000_000_000)
                ), "nanoseconds"
            ),
        ]
        for (entry, reason) in bad {
            do {
                try writer.append(entry, contentsOf: nil)
                Issue.record("accepted \(entry.path)")
            } catch {
                guard case .invalidEntry(_, let message) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(message.contains(reason), "\(entry.path): \(message)")
            }
        }
        try writer.append(ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        #expect(throws: ArchiveError.self) {
            try writer.append(ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        }
        let toc = try writer.finish()
        #expect(toc.entries.map(\.path) == ["d"])
        #expect(throws: ArchiveError.writerUnusable(reason: "finish() was already called")) { try writer.finish() }
        try Shell.run("gzip -t \(temp.sub("v1.tar.gz").string) && tar -tzf \(temp.sub("v1.tar.gz").string)")
    }

    @Test func contentThatChangedSizeFailsAndPoisonsTheWriter() throws {
        let temp = try TemporaryDirectory("size")
        let content = temp.sub("content")
        try Fixtures.writeFile(content, Array("12345".utf8), mode: 0o644)
        let time = ArchiveTimestamp(seconds: 1)
        let shorter = try SeekableTarWriter(output: temp.sub("a.tar.gz"))
        #expect(throws: ArchiveError.contentSizeMismatch(path: "f", expected: 9, actual: 5)) {
            try shorter.append(
                ArchiveEntry(path: "f", kind: .file, mode: 0o644, mtime: time, size: 9),
                contentsOf: content
            )
        }
        #expect(throws: ArchiveError.self) { try shorter.finish() }
        let longer = try SeekableTarWriter(output: temp.sub("b.tar.gz"))
        #expect(throws: ArchiveError.contentSizeMismatch(path: "f", expected: 3, actual: 4)) {
            try longer.append(
                ArchiveEntry(path: "f", kind: .file, mode: 0o644, mtime: time, size: 3),
                contentsOf: content
            )
        }
        #expect(
            throws: ArchiveError.io(operation: "open", path: temp.sub("none").string, errno: .noSuchFileOrDirectory)
        ) {
            try SeekableTarWriter(output: temp.sub("c.tar.gz")).append(
                ArchiveEntry(path: "f", kind: .file, mode: 0o644, mtime: time, size: 1),
                contentsOf: temp.sub("none")
            )
        }
    }

    @Test func writerAcceptsDescriptorsForOutputAndContent() throws {
        let temp = try TemporaryDirectory("fd")
        let content = temp.sub("content")
        let bytes = Fixtures.semiCompressible(count: 100_000, seed: 3)
        try Fixtures.writeFile(content, bytes, mode: 0o644)
        let archive = temp.sub("v1.tar.gz")
        let out = try FileDescriptor.open(
            archive,
            .writeOnly,
            options: [.create, .truncate],
            permissions: .ownerReadWrite
        )
        let input = try FileDescriptor.open(content, .readOnly)
        let toc = try out.closeAfter {
            try input.closeAfter {
                let writer = try SeekableTarWriter(
                    output: out,
                    options: .init(compressionLevel: 9, chunkSize: 32 * 1024)
                )
                try writer.append(
                    ArchiveEntry(
                        path: "f.bin",
                        kind: .file,
                        mode: 0o600,
                        mtime: (seconds: 1_700_000_000, nanoseconds: 0),
                        size: UInt64(bytes.count)
                    ),
                    contentsOf: input
                )
                return try writer.finish()
            }
        }
        #expect(toc.entries[0].members.count == 4, "100 000 bytes in 32 KiB chunks")
        let listing = try Shell.run("tar -tzvf \(archive.string)").stdout
        #expect(listing.contains("-rw------- 0/0") && listing.contains("100000") && listing.contains("f.bin"))
        let reader = try SeekableTarReader(
            toc: toc,
            source: FileByteSource(descriptor: try FileDescriptor.open(archive, .readOnly))
        )
        #expect(try reader.readFile(at: "f.bin") == bytes)
        #expect(try reader.read(at: "f.bin", range: 32_000..<33_000) == Array(bytes[32_000..<33_000]))
    }

    @Test func sizesOver8GiBAreReadByPythonFromThePaxRecord() throws {
        let temp = try TemporaryDirectory("big")
        let entry = ArchiveEntry(
            path: "huge.bin",
            kind: .file,
            mode: 0o644,
            mtime: (seconds: 1_700_000_000, nanoseconds: 0),
            size: 9 << 30
        )
        let headerFile = temp.sub("headers.tar")
        try Fixtures.writeFile(headerFile, EntryHeaders.encode(entry), mode: 0o644)
        let script = "import tarfile,sys; t=tarfile.open(sys.argv[1]); m=t.next(); print(m.name, m.size)"
        let out = try Shell.run("python3 -c \(Shell.quote(script)) \(headerFile.string)").stdout
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "huge.bin 9663676416")
    }

    @Test func keepGoingFalseStopsBeforeTheNextEntryAndBetweenMembersOfALargeFile() throws {
        let temp = try TemporaryDirectory()
        let content = temp.sub("big")
        try Fixtures.writeFile(content, [UInt8](repeating: 7, count: 3 * 4096), mode: 0o644)
        let entry = ArchiveEntry(path: "big", kind: .file, mode: 0o644, mtime: (seconds: 1_700_000_000, nanoseconds: 0), size: 3 * 4096)

        var asked = 0
        let writer = try SeekableTarWriter(output: temp.sub("a.tar.gz"), options: .init(chunkSize: 4096))
        writer.keepGoing = {
            asked += 1
            return asked < 3  // the entry itself and its second member go ahead; the third member does not
        }
        #expect(throws: ArchiveError.stopped) { try writer.append(entry, contentsOf: content) }
        #expect(asked == 3)

        let refused = try SeekableTarWriter(output: temp.sub("b.tar.gz"))
        refused.keepGoing = { false }
        #expect(throws: ArchiveError.stopped) { try refused.append(entry, contentsOf: content) }
        #expect(ArchiveError.stopped.description == "packing stopped by its owner")
    }
}
