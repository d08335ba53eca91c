// TOC format 5: blocks copied from an earlier TOC file without being decoded, their members
// copied with them to a new place in the archive (member_base), and blocks that end between
// gzip members so that runs of them own whole members.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct CopiedBlocksTests {
    /// v1: `0-first.txt` (first in archive order), then 3000 small files in `a` (several TOC
    /// blocks, shared members), packed with its TOC file into `temp` (tree, v1.tar.gz, v1.toc).
    private func packV1(_ name: String) throws -> (temp: TemporaryDirectory, toc: TOCFileReader) {
        let temp = try TemporaryDirectory(name)
        let root = temp.sub("tree")
        try Fixtures.makeDirectory(root, mode: 0o755)
        try Fixtures.writeFile(root.appending("0-first.txt"), Array("first\n".utf8), mode: 0o644)
        try Fixtures.makeDirectory(root.appending("a"), mode: 0o755)
        for index in 0..<3000 {
            let text = "file \(index) " + String(repeating: "y", count: index % 89)
            try Fixtures.writeFile(root.appending("a/f\(index).txt"), Array(text.utf8), mode: 0o644)
        }
        _ = try ArchivePacker.pack(directory: root, to: temp.sub("v1.tar.gz"), tocOutput: temp.sub("v1.toc"))
        return (temp, try TOCFileReader(path: temp.sub("v1.toc")))
    }

    private func entries(_ toc: FilePath) throws -> [ArchiveTOC.Entry] {
        let reader = try TOCFileReader(path: toc)
        var all: [ArchiveTOC.Entry] = []
        while let entry = try reader.next() { all.append(entry) }
        return all
    }

    @Test func everyNewBlockStartsAtAMemberNotSharedWithTheBlockBefore() throws {
        let packed = try packV1("copied-boundaries")  // its directory lives as long as `packed`
        let reader = packed.toc
        let blocks = reader.blocks
        #expect(blocks.count >= 3, "several blocks: \(blocks.count)")
        var previousLastMember: UInt64?
        for (number, block) in blocks.enumerated() {
            var firstInBlock = true
            for _ in 0..<block.entries {
                let entry = try #require(try reader.next())
                if firstInBlock {
                    #expect(block.membersStart == entry.members.first?.offset, "block \(number)'s members_start")
                    #expect(entry.members.first?.offset != previousLastMember, "block \(number) shares a member with the one before")
                    firstInBlock = false
                }
                previousLastMember = entry.members.last?.offset
            }
        }
        #expect(try reader.next() == nil)
    }

    /// v2 = a changed first file (compressed again, another size), then the rest of v1 copied
    /// as whole TOC blocks with their members at a new offset. v2's TOC says format 5, reads
    /// every file at its new members (sha256 checked), and v2 extracts to the changed tree.
    @Test func blocksCopiedBehindAChangedEntryReadAtTheirNewOffsets() throws {
        let (temp, v1) = try packV1("copied-shifted")
        let tree = temp.sub("tree")
        let old = try entries(temp.sub("v1.toc"))
        let blocks = v1.blocks
        try Fixtures.writeFile(tree.appending("0-first.txt"), Array("first, changed to a longer text\n".utf8), mode: 0o644)

        let tocWriter = try TOCFileWriter(output: temp.sub("v2.toc"))
        let writer = try SeekableTarWriter(output: temp.sub("v2.tar.gz"), options: .snapshot, toc: tocWriter)
        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }
        // Everything before block 1 compressed from the tree; blocks 1..<last copied; the last
        // block's entries copied group by group.
        let last = blocks.count - 1
        let before = old.prefix(blocks[0].entries)
        for entry in before {
            let source = tree.appending(entry.path)
            let info = try source.stat(followTargetSymlink: false)
            let mtime = ArchiveTimestamp(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: 0)
            try writer.append(
                ArchiveEntry(path: entry.path, kind: entry.type, mode: entry.mode, mtime: mtime,
                    size: entry.type == .file ? UInt64(info.size) : 0),
                contentsOf: entry.type == .file ? source : nil)
        }
        let copied = try (1..<last).map { CopiedTOCBlock(block: blocks[$0], bytes: try v1.compressedBlock($0)) }
        try writer.appendCopied(
            copied, byteRange: try #require(blocks[1].membersStart)..<(try #require(blocks[last].membersStart)),
            from: previous, before: blocks[last].firstPath, formatVersion: 2)
        let tail = Array(old.suffix(blocks[last].entries))
        for group in MemberGroups.of(tail) {
            try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous)
        }
        let summary = try writer.finishArchive()
        try tocWriter.finish(summary)
        #expect(writer.tocBlocksCopied == last - 1)

        let new = try entries(temp.sub("v2.toc"))
        // Blocks whose members moved need format 5: an older reader refuses them instead of misreading.
        #expect(try TOCFileReader(path: temp.sub("v2.toc")).summary.formatVersion == ArchiveTOC.copiedBlocksFormatVersion)
        #expect(new.map(\.path) == old.map(\.path))
        let shift = new[blocks[0].entries].members[0].offset &- old[blocks[0].entries].members[0].offset
        #expect(shift != 0, "the changed file moved what follows it")
        let toc = try ArchiveTOC.decode(from: try TOCFormat2Tests.readFile(temp.sub("v2.toc")))
        let archive = try FileDescriptor.open(temp.sub("v2.tar.gz"), .readOnly)
        defer { try? archive.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: archive))
        for entry in toc.entries where entry.type == .file {
            let expected = try Data(contentsOf: URL(fileURLWithPath: tree.appending(entry.path).string))
            #expect(try reader.readFile(at: entry.pathBytes) == [UInt8](expected), "\(entry.path)")
        }
        try Fixtures.makeDirectory(temp.sub("x"), mode: 0o755)
        try Shell.run("tar -xzf \(temp.sub("v2.tar.gz").string) -C \(temp.sub("x").string)")
        try Shell.run("diff -r \(tree.string) \(temp.sub("x").string)")
    }

    @Test func afterCopiedBlocksOnlyTheEntryThatFollowedThemMayCome() throws {
        let (temp, v1) = try packV1("copied-order")
        let blocks = v1.blocks
        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }
        let writer = try SeekableTarWriter(
            output: temp.sub("v2.tar.gz"), options: .snapshot, toc: try TOCFileWriter(output: temp.sub("v2.toc")))
        try writer.append(ArchiveEntry(path: "a", kind: .directory, mode: 0o755, mtime: ArchiveTimestamp(seconds: 0)), contentsOf: nil)
        let copied = [CopiedTOCBlock(block: blocks[1], bytes: try v1.compressedBlock(1))]
        try writer.appendCopied(
            copied, byteRange: try #require(blocks[1].membersStart)..<(try #require(blocks[2].membersStart)),
            from: previous, before: blocks[2].firstPath, formatVersion: 2)
        #expect(throws: ArchiveError.self, "an entry other than the one after the copied blocks") {
            try writer.append(ArchiveEntry(path: "b", kind: .directory, mode: 0o755, mtime: ArchiveTimestamp(seconds: 0)), contentsOf: nil)
        }
    }
}
