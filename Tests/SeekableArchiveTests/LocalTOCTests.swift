// A TOC on local disk of either format: lookups by path, every entry in order, damage reported,
// the directory tree it describes, and partial copies whose blocks are fetched when first needed.
import Foundation
import SeededRandom
import Synchronization
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

    // MARK: The tree

    /// Every directory (and the top), files, symlinks, absent names, names beside and below entries
    /// and at block boundaries: both formats answer what a scan of the entries says.
    @Test(arguments: [5000, 5077])
    func treeQueriesMatchAScanOfTheEntriesInBothFormats(bigDirectory: Int) throws {
        let temp = try TemporaryDirectory("local-toc-tree")
        var toc = Self.treeTOC(bigDirectory: bigDirectory)
        let bytes = try toc.encodeFormat2()
        let index = try TOCFormat2Tests.index(of: bytes)
        try #require(index.blocks.count >= 3, "expected several blocks, got \(index.blocks.count)")
        let format2 = temp.sub("v1.toc.json")
        try Fixtures.writeFile(format2, bytes, mode: 0o644)
        toc.formatVersion = 1
        let format1 = temp.sub("v0.toc.json")
        try Fixtures.writeFile(format1, try toc.encodeJSON(), mode: 0o644)

        let queries = Self.treeQueries(toc.entries, index: index)
        for path in [format1, format2] {
            let wrong = try Self.treeMismatches(try LocalTOC(path: path), toc.entries, queries: queries)
            #expect(wrong.isEmpty, "\(path): \(wrong.count) wrong answers, first: \(wrong.prefix(8))")
        }
    }

    /// A TOC that leaves the directories out (format 1 from earlier releases may): directories come
    /// back implied, from `treeEntry(at:)` and from `children(of:)`.
    @Test func withoutDirectoryEntriesDirectoriesAreImplied() throws {
        let temp = try TemporaryDirectory("local-toc-implied")
        let full = Self.treeTOC(bigDirectory: 5000)
        let index = try TOCFormat2Tests.index(of: try full.encodeFormat2())
        let queries = Self.treeQueries(full.entries, index: index)
        var toc = full
        toc.entries.removeAll { $0.type == .directory }
        try #require(toc.entries.count < full.entries.count)

        let format2 = temp.sub("v1.toc.json")
        let format2Bytes = try toc.encodeFormat2()
        try #require(try TOCFormat2Tests.index(of: format2Bytes).blocks.count >= 3)
        try Fixtures.writeFile(format2, format2Bytes, mode: 0o644)
        toc.formatVersion = 1
        let format1 = temp.sub("v0.toc.json")
        try Fixtures.writeFile(format1, try toc.encodeJSON(), mode: 0o644)

        for path in [format1, format2] {
            let local = try LocalTOC(path: path)
            for directory in ["a", "a/b", "big", "big/sub/deep", "m/n", "données", "z/only"] {
                #expect(
                    try local.treeEntry(at: directory) == .impliedDirectory(path: directory), "\(directory) in \(path)")
            }
            #expect(try local.treeEntry(at: "a/b/c")?.path == "a/b/c")
            #expect(try local.treeEntry(at: "a/b/c/d") == nil)
            let top = try local.children(of: "")
            #expect(top.contains(.impliedDirectory(path: "big")) && top.contains(.impliedDirectory(path: "a")))
            #expect(try local.children(of: "z") == [.impliedDirectory(path: "z/only")], "\(path)")
            let wrong = try Self.treeMismatches(local, toc.entries, queries: queries)
            #expect(wrong.isEmpty, "\(path): \(wrong.count) wrong answers, first: \(wrong.prefix(8))")
        }
    }

    /// Names that differ only in Unicode normalization are different paths (Linux names are bytes,
    /// and a tar may hold both): a lookup answers the entry with exactly the bytes asked for.
    @Test func namesDifferingOnlyInUnicodeNormalizationAreDifferentPaths() throws {
        let temp = try TemporaryDirectory("local-toc-nfd")
        let nfc = "d/caf\u{E9}.txt"
        let nfd = "d/cafe\u{301}.txt"
        try #require(Array(nfc.utf8) != Array(nfd.utf8) && nfc == nfd, "Swift String equality merges them")
        for (label, items) in [
            ("both", [("d", ArchiveEntry.Kind.directory), (nfc, .file), (nfd, .file), ("d/x", .file)]),
            ("NFC only", [("d", ArchiveEntry.Kind.directory), (nfc, .file), ("d/x", .file)]),
        ] {
            var toc = ArchiveTOC(entries: Self.entries(items, seed: 1))
            let format2 = temp.sub("\(label)-v1.toc")
            try Fixtures.writeFile(format2, try toc.encodeFormat2(), mode: 0o644)
            toc.formatVersion = 1
            let format1 = temp.sub("\(label)-v0.toc")
            try Fixtures.writeFile(format1, try toc.encodeJSON(), mode: 0o644)
            for path in [format1, format2] {
                let local = try LocalTOC(path: path)
                let children = try local.children(of: "d").map { Array($0.path.utf8) }
                #expect(children == toc.entries.dropFirst().map { Array($0.path.utf8) })
                for name in [nfc, nfd] {
                    let present = items.contains { $0.0.utf8.elementsEqual(name.utf8) }
                    let entry = try local.entry(at: name).map { Array($0.path.utf8) }
                    let tree = try local.treeEntry(at: name).map { Array($0.path.utf8) }
                    let expected = present ? Array(name.utf8) : nil
                    #expect(entry == expected, "entry(at:) \(label) \(path.lastComponent!)")
                    #expect(tree == expected, "treeEntry(at:) \(label) \(path.lastComponent!)")
                }
            }
        }
    }

    // MARK: Partial copies

    /// Readers arriving at once at the same missing block share one fetch of it.
    @Test func concurrentLookupsInOneMissingBlockFetchItOnce() throws {
        let temp = try TemporaryDirectory("local-toc-concurrent")
        let (_, bytes, index) = try Self.partialFixture()
        for round in 0..<10 {
            let partial = temp.sub("partial-\(round).toc")
            _ = try Self.createPartial(partial, of: bytes)
            let log = FetchLog(bytes)
            let local = try LocalTOC(path: partial, fetchMissing: log.fetch)
            let path = String(decoding: index.blocks[2].firstPath, as: UTF8.self)
            let found = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                if (try? local.entry(at: path))??.path == path { found.withLock { $0 += 1 } }
            }
            #expect(found.withLock { $0 } == 8)
            #expect(log.ranges == [index.blocks[2].byteRange], "round \(round): \(log.ranges)")
        }
    }

    /// Only the tail on disk: lookups answer like the complete file, fetching one block each, each
    /// block once even across instances, never a block the tail holds.
    @Test func aPartialCopyAnswersLikeTheCompleteFileAndFetchesEachBlockOnce() throws {
        let temp = try TemporaryDirectory("local-toc-partial")
        let (toc, bytes, index) = try Self.partialFixture()
        let complete = temp.sub("complete.toc")
        try Fixtures.writeFile(complete, bytes, mode: 0o644)
        let reference = try LocalTOC(path: complete)
        let partial = temp.sub("partial.toc")
        let tailStart = try Self.createPartial(partial, of: bytes)
        #expect(try Self.fileSize(partial) == bytes.count)
        let allocated = try Self.allocatedBytes(partial)
        #expect(allocated < bytes.count / 4, "\(allocated) bytes allocated of \(bytes.count)")
        let log = FetchLog(bytes)

        // The first lookup: exactly the range of the block that holds the path.
        let first = try LocalTOC(path: partial, fetchMissing: log.fetch)
        #expect(log.ranges.isEmpty, "opening reads only the tail")
        #expect(first.summary == reference.summary)
        let inBlock1 = String(decoding: index.blocks[1].firstPath, as: UTF8.self)
        let wanted = try #require(toc.entries.first { $0.path == inBlock1 })
        #expect(try first.entry(at: inBlock1) == wanted)
        #expect(log.ranges == [index.blocks[1].byteRange])
        let lastInBlock1 = toc.entries[index.blocks[0].entries + index.blocks[1].entries - 1]
        #expect(try first.entry(at: lastInBlock1.path) == lastInBlock1)
        #expect(log.ranges == [index.blocks[1].byteRange], "the same block again is not fetched again")

        // Everything else answers like the complete file.
        let paths = Self.sampledPaths(toc.entries)
        let directories = Self.directories(toc.entries)
        for instance in [first, try LocalTOC(path: partial, fetchMissing: log.fetch)] {
            for path in paths {
                #expect(try instance.entry(at: path) == (try reference.entry(at: path)), "\(path)")
                #expect(try instance.treeEntry(at: path) == (try reference.treeEntry(at: path)), "\(path)")
            }
            for directory in directories {
                #expect(try instance.children(of: directory) == (try reference.children(of: directory)), "\(directory)")
            }
            Self.expectEachRangeOnce(log.ranges, of: index, tailStart: tailStart, all: false)
        }
        let fetchedByFirst = log.ranges.count

        // A new instance on the same file finds the blocks fetched before in place.
        let second = try LocalTOC(path: partial, fetchMissing: log.fetch)
        for path in paths { #expect(try second.entry(at: path) == (try reference.entry(at: path)), "\(path)") }
        #expect(log.ranges.count == fetchedByFirst, "nothing fetched again: \(log.ranges.count - fetchedByFirst)")

        var listed: [ArchiveTOC.Entry] = []
        try LocalTOC(path: partial, fetchMissing: log.fetch).forEachEntry { listed.append($0) }
        #expect(listed == toc.entries)
        Self.expectEachRangeOnce(log.ranges, of: index, tailStart: tailStart, all: true)
        #expect(try TOCFormat2Tests.readFile(partial) == bytes, "every fetched block was written into place")
    }

    @Test func forEachEntryOnAFreshPartialCopyListsEveryEntry() throws {
        let temp = try TemporaryDirectory("local-toc-partial-list")
        let (toc, bytes, index) = try Self.partialFixture()
        let partial = temp.sub("partial.toc")
        let tailStart = try Self.createPartial(partial, of: bytes)
        let log = FetchLog(bytes)
        var listed: [ArchiveTOC.Entry] = []
        try LocalTOC(path: partial, fetchMissing: log.fetch).forEachEntry { listed.append($0) }
        #expect(listed == toc.entries)
        Self.expectEachRangeOnce(log.ranges, of: index, tailStart: tailStart, all: true)
    }

    /// Bytes of a block already fetched are damaged (or lost) on disk: the block is fetched again.
    @Test func aDamagedBlockInAPartialCopyIsFetchedAgain() throws {
        let temp = try TemporaryDirectory("local-toc-partial-damage")
        let (bytes, partial, log, block, path, wanted) = try Self.partialCopy(in: temp, lookingUpBlock: 2)
        #expect(try LocalTOC(path: partial, fetchMissing: log.fetch).entry(at: path) == wanted)
        #expect(try LocalTOC(path: partial, fetchMissing: log.fetch).entry(at: path) == wanted)
        #expect(log.ranges == [block.byteRange], "fetched once, then read from the file")

        let middle = Int(block.offset + block.length / 2)
        let damages: [(String, [UInt8], Int)] = [
            ("a flipped byte after the magic", [bytes[Int(block.offset) + 20] ^ 0x5A], Int(block.offset) + 20),
            ("a flipped byte in the middle", [bytes[middle] ^ 0xFF], middle),
            ("zeros, as a hole reads", [UInt8](repeating: 0, count: Int(block.length)), Int(block.offset)),
            ("a wrong first byte", [0x00], Int(block.offset)),
        ]
        for (number, (what, damage, offset)) in damages.enumerated() {
            try Self.overwrite(partial, at: offset, with: damage)
            let local = try LocalTOC(path: partial, fetchMissing: log.fetch)
            #expect(try local.entry(at: path) == wanted, "\(what)")
            #expect(log.ranges == Array(repeating: block.byteRange, count: number + 2), "\(what)")
            let onDisk = try TOCFormat2Tests.readFile(partial)
            let range = Int(block.offset)..<Int(block.offset + block.length)
            #expect(onDisk[range] == bytes[range], "\(what): repaired on disk")
        }
    }

    /// A fetch that fails, or brings wrong bytes, fails the lookup with a typed error and keeps
    /// nothing: a later lookup with a working fetch answers.
    @Test func aFailingFetchThrowsFetchFailedAndALaterLookupWorks() throws {
        let temp = try TemporaryDirectory("local-toc-partial-fail")
        let (bytes, partial, log, block, path, wanted) = try Self.partialCopy(in: temp, lookingUpBlock: 1)

        log.setFailure(.throwing)
        let local = try LocalTOC(path: partial, fetchMissing: log.fetch)
        for lookup in ["entry", "treeEntry", "children"] {
            do {
                switch lookup {
                case "entry": _ = try local.entry(at: path)
                case "treeEntry": _ = try local.treeEntry(at: path)
                default: _ = try local.children(of: Self.directory(of: path))
                }
                Issue.record("\(lookup) answered while the fetch fails")
            } catch {
                // `error` is an ArchiveError: the lookups throw only that.
                guard case .fetchFailed(let range, let reason) = error else {
                    Issue.record("\(lookup): expected fetchFailed, got \(error)")
                    continue
                }
                #expect(range == block.byteRange || lookup == "children", "\(lookup)")
                #expect(reason.contains("network is down"), "\(lookup): \(reason)")
            }
        }

        // Bytes that are not the block: a typed error, and nothing written.
        log.setFailure(.garbage)
        #expect(throws: ArchiveError.self) { _ = try local.entry(at: path) }
        log.setFailure(.short)
        #expect(throws: ArchiveError.self) { _ = try local.entry(at: path) }
        #expect(try Self.allocatedBytes(partial) < bytes.count / 4, "nothing was written")

        log.setFailure(nil)
        #expect(try local.entry(at: path) == wanted, "the same instance, once the fetch works")
        let other = temp.sub("other.toc")
        _ = try Self.createPartial(other, of: bytes)
        let working = FetchLog(bytes)
        #expect(try LocalTOC(path: other, fetchMissing: working.fetch).entry(at: path) == wanted)
        #expect(working.ranges == [block.byteRange])
    }

    /// Without `fetchMissing` a partial copy opens (its tail is there) but a lookup in a missing
    /// block is a typed error, not a crash or a wrong answer.
    @Test func aPartialCopyWithoutFetchMissingFailsLookupsInMissingBlocks() throws {
        let temp = try TemporaryDirectory("local-toc-partial-nofetch")
        let (toc, bytes, index) = try Self.partialFixture()
        let partial = temp.sub("partial.toc")
        let tailStart = try Self.createPartial(partial, of: bytes)
        let local = try LocalTOC(path: partial)
        #expect(local.summary.entryCount == UInt64(toc.entries.count))
        let path = String(decoding: index.blocks[1].firstPath, as: UTF8.self)
        #expect(throws: ArchiveError.self) { _ = try local.entry(at: path) }
        #expect(throws: ArchiveError.self) { _ = try local.treeEntry(at: path) }
        #expect(throws: ArchiveError.self) { _ = try local.children(of: "") }
        #expect(throws: (any Error).self) { try local.forEachEntry { _ in } }
        // A block wholly in the tail is on disk and answers.
        if let inTail = index.blocks.indices.last(where: { index.blocks[$0].offset >= tailStart }) {
            let last = String(decoding: index.blocks[inTail].firstPath, as: UTF8.self)
            #expect(try local.entry(at: last)?.path == last)
        }
        #expect(try Self.allocatedBytes(partial) < bytes.count / 4, "nothing was written")
    }

    @Test func createPartialRejectsATailLongerThanTheFile() throws {
        let temp = try TemporaryDirectory("local-toc-partial-bad")
        #expect(throws: ArchiveError.self) {
            try LocalTOC.createPartial(at: temp.sub("p.toc"), size: 3, tail: [1, 2, 3, 4])
        }
    }
}

// MARK: - Fixtures and the independent answers

extension LocalTOCTests {
    /// Nested directories with their entries, files and symlinks at several depths, names that
    /// sort differently by component (`a`, `a/b/c`, `a/x`, `a-b`, `a.b`), a big directory of
    /// `bigDirectory` files with a subdirectory in its middle, and two more big directories below
    /// others, so that blocks start inside directories and some lie wholly in one child's subtree.
    static func treeTOC(bigDirectory: Int) -> ArchiveTOC {
        var items: [(String, ArchiveEntry.Kind)] = [
            ("a", .directory), ("a/b", .directory), ("a/b/c", .file), ("a/b/link", .symlink), ("a/b-c", .file),
            ("a/b.c", .file), ("a/x", .file), ("a.b", .file), ("a-b", .directory), ("a-b/y", .file),
            ("a0", .symlink), ("big", .directory), ("big.txt", .file), ("big/sub", .directory),
            ("big/sub/deep", .directory), ("big/sub.txt", .file), ("big/sub-link", .symlink),
            ("big/f02500.txt.d", .directory), ("big/f02500.txt.d/inner", .file),
            ("données", .directory), ("données/é.txt", .file), ("file.txt", .file), ("link", .symlink),
            ("m", .directory), ("m/n", .directory), ("m/n.txt", .file), ("m/n-o", .directory), ("m/n-o/p", .file),
            ("z", .directory), ("z/only", .directory), ("z/only/leaf", .file),
        ]
        for i in 0..<bigDirectory { items.append(("big/f\(padded(i, 5)).txt", i % 7 == 3 ? .symlink : .file)) }
        for i in 0..<3000 { items.append(("big/sub/deep/h\(padded(i, 4))", .file)) }
        for i in 0..<4000 { items.append(("m/n/g\(padded(i, 4))", i % 11 == 0 ? .symlink : .file)) }
        return ArchiveTOC(entries: entries(items, seed: 3))
    }

    /// 30 000 entries with random names in 30 directories (and a few subdirectories), random
    /// sha256s: a TOC of over a megabyte, so the 64 KiB tail leaves most blocks out.
    static func partialFixture() throws -> (ArchiveTOC, [UInt8], TOCFileIndex) {
        var random = SplitMix64(seed: 99)
        var items: [(String, ArchiveEntry.Kind)] = []
        var seen: Set<String> = []
        for d in 0..<30 {
            let directory = "r\(d)-" + Hex.string((0..<3).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            items.append((directory, .directory))
            items.append((directory + "/sub", .directory))
            for f in 0..<1000 {
                let name = Hex.string((0..<6).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                let path = directory + (f % 10 == 0 ? "/sub/" : "/") + name + (f % 3 == 0 ? ".swift" : "")
                if seen.insert(path).inserted { items.append((path, f % 13 == 0 ? .symlink : .file)) }
            }
        }
        let toc = ArchiveTOC(entries: entries(items, seed: 5))
        let bytes = try toc.encodeFormat2()
        let index = try TOCFormat2Tests.index(of: bytes)
        try #require(bytes.count > 8 * Int(TOCFileIndex.suggestedTailLength), "\(bytes.count) bytes")
        try #require(index.blocks.count >= 8, "\(index.blocks.count) blocks")
        try #require(index.blocks[2].byteRange.upperBound < UInt64(bytes.count) - TOCFileIndex.suggestedTailLength)
        return (toc, bytes, index)
    }

    /// Valid entries for `items` (any order), sorted in ArchivePathOrder.
    static func entries(_ items: [(String, ArchiveEntry.Kind)], seed: UInt64) -> [ArchiveTOC.Entry] {
        var random = SplitMix64(seed: seed)
        let sorted = items.sorted { ArchivePathOrder.areInIncreasingOrder($0.0.utf8, $1.0.utf8) }
        return sorted.enumerated().map { number, item in
            let mtime = ArchiveTimestamp(
                seconds: 1_760_000_000 + Int64(random.next() % 1_000_000),
                nanoseconds: Int32(random.next() % 1_000_000_000))
            let offset = UInt64(number) * 100
            func member(_ dataLength: UInt64) -> ArchiveTOC.Member {
                ArchiveTOC.Member(offset: offset, length: 100, dataOffset: 0, dataLength: dataLength, dataStart: 512)
            }
            switch item.1 {
            case .directory:
                return ArchiveTOC.Entry(
                    path: item.0, type: .directory, mode: 0o755, size: 0, mtime: mtime, linkTarget: nil, sha256: nil,
                    members: [member(0)])
            case .symlink:
                return ArchiveTOC.Entry(
                    path: item.0, type: .symlink, mode: 0o777, size: 0, mtime: mtime,
                    linkTarget: "../target/\(random.next() % 10_000)", sha256: nil, members: [member(0)])
            case .file:
                var sha: [UInt8] = []
                for _ in 0..<4 { withUnsafeBytes(of: random.next()) { sha.append(contentsOf: $0) } }
                let size = 1 + random.next() % 5000
                return ArchiveTOC.Entry(
                    path: item.0, type: .file, mode: 0o644, size: size, mtime: mtime, linkTarget: nil,
                    sha256: Hex.string(sha), members: [member(size)])
            case .fifo, .characterDevice, .blockDevice:
                return ArchiveTOC.Entry(
                    path: item.0, type: item.1, mode: 0o600, size: 0, mtime: mtime, linkTarget: nil, sha256: nil,
                    members: [member(0)], device: item.1 == .fifo ? nil : ArchiveDevice(major: 8, minor: 1))
            case .hardLink:
                // Names the first file of `items`: valid only when that file sorts before it.
                return ArchiveTOC.Entry(
                    path: item.0, type: .hardLink, mode: 0o644, size: 0, mtime: mtime,
                    linkTarget: sorted.first { $0.1 == .file }?.0 ?? "", sha256: nil, members: [member(0)])
            }
        }
    }

    /// Paths to ask `treeEntry(at:)` about: every entry and directory, names beside, after and
    /// below entries, and the names around each block boundary of `index`.
    static func treeQueries(_ entries: [ArchiveTOC.Entry], index: TOCFileIndex) -> [String] {
        var queries: [String] = [
            "", "/", "//", "zzz", "0", "a/", "a//b", "/a", "file.txt/x", "a/b/c/d", "big/f", "m/n/", "a/b/c/",
            "big/f02500.txt.d/inner/x", "donnees", "données/é.txt/x", "z/only/leaf/deeper/still",
        ]
        queries += directories(entries).filter { !$0.isEmpty }
        for (number, entry) in entries.enumerated() {
            queries.append(entry.path)
            let crowded = ["big/f0", "m/n/g", "big/sub/deep/h"].contains { entry.path.hasPrefix($0) }
            if !crowded || number % 97 == 0 {
                queries += [entry.path + "/x", entry.path + "~", entry.path + ".", entry.path + "-", entry.path + "0",
                    String(entry.path.dropLast())]
            }
        }
        var position = 0
        for (number, block) in index.blocks.enumerated() {
            let first = String(decoding: block.firstPath, as: UTF8.self)
            queries += [first, first + "/x", first + "~", String(first.dropLast())]
            var prefix = ""
            for component in first.split(separator: "/") {
                prefix += (prefix.isEmpty ? "" : "/") + component
                queries += [prefix, prefix + "~", prefix + "/"]
            }
            if number > 0 {
                let previous = entries[position - 1].path
                queries += [previous, previous + "~", previous + "/x", previous + "."]
            }
            position += block.entries
        }
        return queries
    }

    /// Every directory the entries describe, with an entry or implied, and "" for the top.
    static func directories(_ entries: [ArchiveTOC.Entry]) -> [String] {
        var found: Set<String> = [""]
        for entry in entries {
            if entry.type == .directory { found.insert(entry.path) }
            var parent = Substring(entry.path)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                found.insert(String(parent))
            }
        }
        return found.sorted()
    }

    /// `treeEntry(at:)` for `queries` and `children(of:)` for every directory (and some
    /// non-directories) against a scan of `entries`; the wrong answers, described.
    static func treeMismatches(_ local: LocalTOC, _ entries: [ArchiveTOC.Entry], queries: [String]) throws -> [String] {
        let slash = UInt8(ascii: "/")
        var byPath: [[UInt8]: ArchiveTOC.Entry] = [:]
        var hasEntriesBelow: Set<[UInt8]> = []
        for entry in entries {
            let path = Array(entry.path.utf8)
            byPath[path] = entry
            for (position, byte) in path.enumerated() where byte == slash {
                hasEntriesBelow.insert(Array(path[..<position]))
            }
        }
        var wrong: [String] = []
        for query in queries {
            let bytes = Array(query.utf8)
            let expected: TOCTreeEntry? =
                byPath[bytes].map { .entry($0) }
                ?? (hasEntriesBelow.contains(bytes) ? .impliedDirectory(path: query) : nil)
            let actual = try local.treeEntry(at: query)
            if actual != expected {
                wrong.append("treeEntry(\(query)) = \(describe(actual)), expected \(describe(expected))")
            }
        }
        let notDirectories = [
            "file.txt", "a/b/c", "a.b", "nope", "a/b/c/d", "big/f00001.txt", "a.", "m/n/", "/m", "/", "a/b/",
        ]
        for directory in directories(entries) + notDirectories {
            let expected = expectedChildren(of: directory, entries, byPath: byPath)
            let actual = try local.children(of: directory)
            if actual != expected {
                let extra = actual.filter { !expected.contains($0) }.prefix(3).map(describe)
                let missing = expected.filter { !actual.contains($0) }.prefix(3).map(describe)
                wrong.append(
                    "children(\(directory)): \(actual.count) (expected \(expected.count)), "
                        + "extra \(extra), missing \(missing)"
                        + (extra.isEmpty && missing.isEmpty ? ", order differs" : ""))
            }
        }
        return wrong
    }

    /// The children of `directory` by a plain scan: one per distinct first component below it, its
    /// own entry if the TOC has one, implied otherwise; in the order names first appear.
    static func expectedChildren(
        of directory: String, _ entries: [ArchiveTOC.Entry], byPath: [[UInt8]: ArchiveTOC.Entry]
    ) -> [TOCTreeEntry] {
        let slash = UInt8(ascii: "/")
        let prefix: [UInt8] = directory.isEmpty ? [] : Array(directory.utf8) + [slash]
        var names: [[UInt8]] = []
        var seen: Set<[UInt8]> = []
        for entry in entries {
            let path = Array(entry.path.utf8)
            guard path.count > prefix.count, path.starts(with: prefix) else { continue }
            let name = Array(path[prefix.count...].prefix { $0 != slash })
            if seen.insert(name).inserted { names.append(name) }
        }
        return names.map { name in
            let path = prefix + name
            return byPath[path].map { .entry($0) } ?? .impliedDirectory(path: String(decoding: path, as: UTF8.self))
        }
    }

    static func describe(_ entry: TOCTreeEntry?) -> String {
        switch entry {
        case nil: "nil"
        case .entry(let entry)?: "entry(\(entry.path), \(entry.type))"
        case .impliedDirectory(let path)?: "implied(\(path))"
        }
    }

    /// Some entry paths of every block, and names that are absent.
    static func sampledPaths(_ entries: [ArchiveTOC.Entry]) -> [String] {
        var paths: [String] = []
        for (number, entry) in entries.enumerated() where number % 211 == 0 || number == entries.count - 1 {
            paths += [entry.path, entry.path + "~", entry.path + "/x"]
        }
        return paths + ["", "0", "zzz"]
    }

    static func directory(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
    }

    /// A partial copy of `bytes` at `path` holding the last 64 KiB; returns where that tail starts.
    /// A partial copy of the fixture in `temp`, its fetch log, and the first entry of block `number`.
    static func partialCopy(in temp: TemporaryDirectory, lookingUpBlock number: Int) throws -> (
        bytes: [UInt8], partial: FilePath, log: FetchLog, block: TOCFileIndex.Block, path: String, wanted: ArchiveTOC.Entry
    ) {
        let (toc, bytes, index) = try partialFixture()
        let partial = temp.sub("partial.toc")
        _ = try createPartial(partial, of: bytes)
        let block = index.blocks[number]
        let path = String(decoding: block.firstPath, as: UTF8.self)
        let wanted = try #require(toc.entries.first { $0.path == path })
        return (bytes, partial, FetchLog(bytes), block, path, wanted)
    }

    static func createPartial(_ path: FilePath, of bytes: [UInt8]) throws -> UInt64 {
        let tail = Array(bytes.suffix(Int(TOCFileIndex.suggestedTailLength)))
        try LocalTOC.createPartial(at: path, size: UInt64(bytes.count), tail: tail)
        return UInt64(bytes.count - tail.count)
    }

    /// Every fetched range is a block's, none twice, none wholly in the tail; with `all`, every
    /// block not wholly in the tail was fetched.
    static func expectEachRangeOnce(
        _ ranges: [Range<UInt64>], of index: TOCFileIndex, tailStart: UInt64, all: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let blockRanges = Set(index.blocks.map(\.byteRange))
        let outsideTail = Set(index.blocks.map(\.byteRange).filter { $0.lowerBound < tailStart })
        #expect(Set(ranges).count == ranges.count, "a block was fetched twice", sourceLocation: sourceLocation)
        #expect(
            Set(ranges).isSubset(of: outsideTail),
            "fetched \(Set(ranges).subtracting(outsideTail)) of \(blockRanges.count) blocks",
            sourceLocation: sourceLocation)
        if all { #expect(Set(ranges) == outsideTail, sourceLocation: sourceLocation) }
    }

    static func fileSize(_ path: FilePath) throws -> Int {
        var info = stat()
        guard stat(path.string, &info) == 0 else { throw TestFailure("stat \(path): \(errno)") }
        return Int(info.st_size)
    }

    /// The bytes the file takes on disk: small for a sparse file.
    static func allocatedBytes(_ path: FilePath) throws -> Int {
        var info = stat()
        guard stat(path.string, &info) == 0 else { throw TestFailure("stat \(path): \(errno)") }
        return Int(info.st_blocks) * 512
    }

    static func overwrite(_ path: FilePath, at offset: Int, with bytes: [UInt8]) throws {
        let fd = try FileDescriptor.open(path, .readWrite)
        try fd.closeAfter { _ = try fd.writeAll(toAbsoluteOffset: Int64(offset), bytes) }
    }

    private static func padded(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Serves a TOC's bytes from memory as `LocalTOC.RangeFetch` and remembers every range asked for.
final class FetchLog: Sendable {
    enum Failure { case throwing, garbage, short }
    private struct State {
        var ranges: [Range<UInt64>] = []
        var failure: Failure?
    }
    let bytes: [UInt8]
    private let state = Mutex(State())

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var ranges: [Range<UInt64>] { state.withLock { $0.ranges } }
    func setFailure(_ failure: Failure?) { state.withLock { $0.failure = failure } }

    var fetch: LocalTOC.RangeFetch { { [self] range in try self.serve(range) } }

    private func serve(_ range: Range<UInt64>) throws -> [UInt8] {
        let failure = state.withLock { state in
            state.ranges.append(range)
            return state.failure
        }
        let wanted = Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        switch failure {
        case nil: return wanted
        case .throwing: throw TestFailure("network is down")
        case .garbage: return wanted.map { $0 ^ 0xA5 }
        case .short: return Array(wanted.dropLast())
        }
    }
}
