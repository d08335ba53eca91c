// A TOC on local disk of either format: lookups by path, every entry in order, damage reported.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct LocalTOCTests {
    private func generatedTOC() -> ArchiveTOC { GeneratedTree.toc(directories: 4, filesPerDirectory: 2500, seed: 11) }

    @Test func bothFormatsAnswerTheSameLookupsAndListTheSameEntries() throws {
        let temp = try TemporaryDirectory("local-toc")
        var toc = generatedTOC()
        let format2 = temp.sub("v1.toc.json")
        try Data(try toc.encodeFormat2()).write(to: URL(fileURLWithPath: format2.string))
        toc.formatVersion = 1
        let format1 = temp.sub("v0.toc.json")
        try Data(try toc.encodeJSON()).write(to: URL(fileURLWithPath: format1.string))

        for path in [format1, format2] {
            let local = try LocalTOC(path: path)
            #expect(local.summary.archiveSize == toc.archiveSize)
            for entry in [toc.entries[0], toc.entries[4321], toc.entries[toc.entries.count - 1]] {
                #expect(try local.entry(at: entry.path) == entry, "\(path)")
            }
            for absent in ["", "a", "d0001/f9999.txt", "d0001/f0001.txt/x", "zzz"] {
                #expect(try local.entry(at: absent) == nil, "\(absent) in \(path)")
            }
            var listed: [ArchiveTOC.Entry] = []
            try local.forEachEntry { listed.append($0) }
            #expect(listed == toc.entries)
        }
    }

    @Test func aDamagedBlockFailsItsLookupsWithATypedErrorAndOthersStillAnswer() throws {
        let temp = try TemporaryDirectory("local-toc-bad")
        let toc = generatedTOC()
        var bytes = try toc.encodeFormat2()
        let index = try TOCFormat2Tests.index(of: bytes)
        try #require(index.blocks.count >= 3, "expected several blocks")
        bytes[Int(index.blocks[1].offset) + 20] ^= 0x5A
        let path = temp.sub("v1.toc.json")
        try Data(bytes).write(to: URL(fileURLWithPath: path.string))
        let local = try LocalTOC(path: path)
        let inBlock1 = String(decoding: index.blocks[1].firstPath, as: UTF8.self)
        #expect(throws: ArchiveError.self) { _ = try local.entry(at: inBlock1) }
        let inBlock2 = String(decoding: index.blocks[2].firstPath, as: UTF8.self)
        #expect(try local.entry(at: inBlock2)?.path == inBlock2)
        #expect(throws: (any Error).self) { try local.forEachEntry { _ in } }

        let garbage = temp.sub("garbage.toc.json")
        try Data("{not a toc".utf8).write(to: URL(fileURLWithPath: garbage.string))
        #expect(throws: ArchiveError.self) { _ = try LocalTOC(path: garbage) }
        #expect(throws: ArchiveError.self) { _ = try LocalTOC(path: temp.sub("missing.toc.json")) }
    }
}
