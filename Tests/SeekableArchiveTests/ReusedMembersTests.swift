// Copying unchanged gzip members from an earlier archive (appendReused), and the writer's
// archive-order rule that makes the TOC sorted.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct ReusedMembersTests {
    /// A tree of `count` small files in two directories, with a large file between them.
    private func makeTree(_ root: FilePath, count: Int) throws {
        try Fixtures.makeDirectory(root, mode: 0o755)
        for directory in ["a", "b"] {
            try Fixtures.makeDirectory(root.appending(directory), mode: 0o755)
            for index in 0..<count {
                let text = "\(directory) file \(index) " + String(repeating: "x", count: index % 97)
                try Fixtures.writeFile(root.appending("\(directory)/f\(index).txt"), Array(text.utf8), mode: 0o644)
            }
        }
        try Fixtures.writeFile(root.appending("a0-large.bin"), Fixtures.semiCompressible(count: 300_000, seed: 7), mode: 0o600)
    }

    @Test func copyingEveryMemberGivesTheSameArchiveByteForByte() throws {
        let temp = try TemporaryDirectory("reuse-all")
        try makeTree(temp.sub("tree"), count: 600)
        let first = try ArchivePacker.pack(directory: temp.sub("tree"), to: temp.sub("v1.tar.gz"), options: .snapshot)
        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }

        let writer = try SeekableTarWriter(output: temp.sub("v2.tar.gz"), options: .snapshot)
        let groups = MemberGroups.of(first.entries)
        #expect(groups.count > 3, "several shared members and the large file's own")
        for group in groups { try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous) }
        let second = try writer.finish()

        #expect(second == first, "same TOC, offsets and digest")
        #expect(writer.bytesCompressed == 1024, "only the end-of-archive blocks were compressed")
        #expect(writer.bytesReused == first.endMember.offset)
        #expect(try Data(contentsOf: URL(fileURLWithPath: temp.sub("v2.tar.gz").string))
            == Data(contentsOf: URL(fileURLWithPath: temp.sub("v1.tar.gz").string)))
    }

    @Test func aMixOfCopiedAndCompressedEntriesExtractsLikeAFreshPack() throws {
        let temp = try TemporaryDirectory("reuse-mix")
        let tree = temp.sub("tree")
        try makeTree(tree, count: 600)
        let first = try ArchivePacker.pack(directory: tree, to: temp.sub("v1.tar.gz"), options: .snapshot)
        let changed = "b/f300.txt"
        try Fixtures.writeFile(tree.appending(changed), Array("changed since v1\n".utf8), mode: 0o644)

        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }
        let writer = try SeekableTarWriter(output: temp.sub("v2.tar.gz"), options: .snapshot)
        for group in MemberGroups.of(first.entries) {
            if !group.entries.contains(where: { $0.path == changed }) {
                try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous)
                continue
            }
            for old in group.entries {
                let source = tree.appending(old.path)
                let info = try source.stat(followTargetSymlink: false)
                let mtime = ArchiveTimestamp(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int32(info.st_mtim.tv_nsec))
                let entry = ArchiveEntry(
                    path: old.path, kind: old.type, mode: old.mode, mtime: mtime,
                    size: old.type == .file ? UInt64(info.size) : 0, linkTarget: old.linkTarget)
                try writer.append(entry, contentsOf: old.type == .file ? source : nil)
            }
        }
        let second = try writer.finish()
        let full = try ArchivePacker.pack(directory: tree, to: temp.sub("full.tar.gz"), options: .snapshot)

        #expect(second.entries.map(\.path) == full.entries.map(\.path))
        #expect(second.entries.map(\.sha256) == full.entries.map(\.sha256))
        #expect(writer.bytesReused > 0)
        #expect(writer.bytesCompressed < 200 << 10, "one shared member compressed again, not the archive")
        for name in ["v2", "full"] {
            try Fixtures.makeDirectory(temp.sub("x-\(name)"), mode: 0o755)
            try Shell.run("tar -xzf \(temp.sub("\(name).tar.gz").string) -C \(temp.sub("x-\(name)").string)")
        }
        #expect(try TreeComparison.differences(source: temp.sub("x-full"), copy: temp.sub("x-v2"), subSecond: true) == [])
        #expect(try TreeComparison.differences(source: tree, copy: temp.sub("x-v2"), subSecond: false) == [])
        #expect(second.entries.map(\.mtime) == full.entries.map(\.mtime), "the TOC keeps the nanoseconds")
        let listing = { (name: String) throws -> String in try Shell.run("tar -tvzf \(temp.sub("\(name).tar.gz").string)").stdout }
        #expect(try listing("v2") == listing("full"), "same modes, sizes, times and order")
    }

    @Test func reusedBytesOutsideTheirMembersOrOutOfOrderAreRefusedAndTheWriterGoesOn() throws {
        let temp = try TemporaryDirectory("reuse-bad")
        try makeTree(temp.sub("tree"), count: 50)
        let first = try ArchivePacker.pack(directory: temp.sub("tree"), to: temp.sub("v1.tar.gz"), options: .snapshot)
        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }
        let groups = MemberGroups.of(first.entries)
        let writer = try SeekableTarWriter(output: temp.sub("v2.tar.gz"), options: .snapshot)
        let firstGroup = groups[0]
        let short = firstGroup.byteRange.lowerBound..<(firstGroup.byteRange.upperBound - 1)
        #expect(throws: ArchiveError.invalidEntry(path: firstGroup.entries[0].path, reason: "its members lie outside the bytes to reuse")) {
            try writer.appendReused(firstGroup.entries, byteRange: short, from: previous)
        }
        // The last group before the first: out of archive order.
        let late = groups[groups.count - 1]
        try writer.appendReused(firstGroup.entries, byteRange: firstGroup.byteRange, from: previous)
        #expect(throws: ArchiveError.self) { try writer.appendReused(firstGroup.entries, byteRange: firstGroup.byteRange, from: previous) }
        for group in groups.dropFirst() { try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous) }
        #expect(throws: ArchiveError.self) { try writer.appendReused(late.entries, byteRange: late.byteRange, from: previous) }
        #expect(try writer.finish() == first, "the refused calls wrote nothing")
    }

    @Test func entriesOutOfArchiveOrderAreRefusedWithTheReason() throws {
        let temp = try TemporaryDirectory("order")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"))
        let time = ArchiveTimestamp(seconds: 1_700_000_000)
        for path in ["a", "a/x", "a.b"] {
            try writer.append(ArchiveEntry(path: path, kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        }
        #expect(
            throws: ArchiveError.invalidEntry(
                path: "a/y",
                reason: "entries must come in archive order (each directory right before its contents); it follows 'a.b'")
        ) {
            try writer.append(ArchiveEntry(path: "a/y", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        }
        #expect(throws: ArchiveError.invalidEntry(path: "a.b", reason: "an entry with this path was already appended")) {
            try writer.append(ArchiveEntry(path: "a.b", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        }
        #expect(throws: ArchiveError.invalidEntry(path: "c/d", reason: "its parent directory 'c' was not appended before it")) {
            try writer.append(ArchiveEntry(path: "c/d", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        }
        try writer.append(ArchiveEntry(path: "a.b/z", kind: .directory, mode: 0o755, mtime: time), contentsOf: nil)
        #expect(try writer.finish().entries.map(\.path) == ["a", "a/x", "a.b", "a.b/z"])
    }
}

@Suite struct WholeSecondHeadersTests {
    /// Snapshot options: no pax record for a sub-second mtime; tar restores the second, the TOC
    /// keeps the nanoseconds.
    @Test func snapshotHeadersCarryWholeSecondsAndTheTOCTheNanoseconds() throws {
        let temp = try TemporaryDirectory("whole-seconds")
        let content = temp.sub("content")
        try Fixtures.writeFile(content, Array("hello\n".utf8), mode: 0o644)
        let mtime = ArchiveTimestamp(seconds: 1_700_000_000, nanoseconds: 250_000_000)
        var tocs: [ArchiveTOC] = []
        for (name, options) in [("snapshot", SeekableTarWriter.Options.snapshot), ("exact", .init(subSecondMtimes: true))] {
            let writer = try SeekableTarWriter(output: temp.sub("\(name).tar.gz"), options: options)
            try writer.append(ArchiveEntry(path: "hello.txt", kind: .file, mode: 0o644, mtime: mtime, size: 6), contentsOf: content)
            tocs.append(try writer.finish())
            try Fixtures.makeDirectory(temp.sub("x-\(name)"), mode: 0o755)
            try Shell.run("tar -xzf \(temp.sub("\(name).tar.gz").string) -C \(temp.sub("x-\(name)").string)")
        }
        #expect(tocs[0].entries[0].mtime == mtime && tocs[1].entries[0].mtime == mtime)
        #expect(tocs[0].entries[0].members[0].dataStart == 512, "one ustar block, no pax header")
        #expect(tocs[1].entries[0].members[0].dataStart == 1536, "pax header, its record, then ustar")
        let whole = try temp.sub("x-snapshot/hello.txt").stat()
        #expect(whole.st_mtim.tv_sec == 1_700_000_000 && whole.st_mtim.tv_nsec == 0)
        let exact = try temp.sub("x-exact/hello.txt").stat()
        #expect(exact.st_mtim.tv_nsec == 250_000_000)
    }
}
