// The rules of hard links, FIFOs, devices and `links`: refused by the writer, by the TOC writer,
// by whole-TOC validation, and (records of format 3) in a TOC that says format 2.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct LinksAndDevicesValidationTests {
    static let time = ArchiveTimestamp(seconds: 1_700_000_000)

    @Test func theWriterRefusesBadEntriesAndGoesOn() throws {
        let temp = try TemporaryDirectory("links-invalid")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"))
        let device = ArchiveDevice(major: 1, minor: 3)
        try writer.append(ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: Self.time), contentsOf: nil)
        try writer.append(ArchiveEntry(path: "d/a-one", kind: .file, mode: 0o644, mtime: Self.time), contentsOf: nil)
        let bad: [(ArchiveEntry, String)] = [
            (ArchiveEntry(path: "d/h1", kind: .hardLink, mode: 0o644, mtime: Self.time, linkTarget: ""), "a hard link needs a link target"),
            (ArchiveEntry(path: "d/h2", kind: .hardLink, mode: 0o644, mtime: Self.time), "a hard link needs a link target"),
            (
                ArchiveEntry(path: "d/h3", kind: .hardLink, mode: 0o644, mtime: Self.time, linkTarget: "d/a-one"),
                "its target 'd/a-one' is not an earlier file entry of this archive with links 2 or more"
            ),
            (
                ArchiveEntry(path: "d/h4", kind: .hardLink, mode: 0o644, mtime: Self.time, size: 5, linkTarget: "d/a-one"),
                "a hardlink has no content: its size must be 0, not 5"
            ),
            (ArchiveEntry(path: "d/c", kind: .characterDevice, mode: 0o600, mtime: Self.time), "a chardev needs a device number"),
            (ArchiveEntry(path: "d/b", kind: .blockDevice, mode: 0o600, mtime: Self.time), "a blockdev needs a device number"),
            (ArchiveEntry(path: "d/p", kind: .fifo, mode: 0o644, mtime: Self.time, size: 1), "a fifo has no content: its size must be 0, not 1"),
            (
                ArchiveEntry(path: "d/p2", kind: .fifo, mode: 0o644, mtime: Self.time, device: device),
                "a fifo has no device number; only devices do"
            ),
            (
                ArchiveEntry(path: "d/f", kind: .file, mode: 0o644, mtime: Self.time, device: device),
                "a file has no device number; only devices do"
            ),
            (ArchiveEntry(path: "d/sub", kind: .directory, mode: 0o755, mtime: Self.time, links: 2), "links 2 on a directory"),
            (ArchiveEntry(path: "d/zero", kind: .file, mode: 0o644, mtime: Self.time, links: 0), "links 0"),
        ]
        for (entry, reason) in bad {
            TOCFormat2Tests.expectInvalidEntry(entry.path, containing: reason) { () throws(ArchiveError) in
                try writer.append(entry, contentsOf: nil)
            }
        }
        try writer.append(ArchiveEntry(path: "d/pipe", kind: .fifo, mode: 0o644, mtime: Self.time), contentsOf: nil)
        let toc = try writer.finish()
        #expect(toc.entries.map(\.path) == ["d", "d/a-one", "d/pipe"] && toc.formatVersion == 3)
    }

    @Test func theTOCWriterRefusesEntriesBreakingTheRules() throws {
        let temp = try TemporaryDirectory("links-toc-invalid")
        let valid = Self.linksTOC().entries
        func changed(_ index: Int, _ change: (inout ArchiveTOC.Entry) -> Void) -> ArchiveTOC.Entry {
            var entry = valid[index]
            change(&entry)
            return entry
        }
        let bad: [(ArchiveTOC.Entry, String)] = [
            (changed(2) { $0.linkTarget = "" }, "hard link 'a/h' has no link_target"),
            (changed(2) { $0.linkTarget = nil }, "hard link 'a/h' has no link_target"),
            (changed(4) { $0.device = nil }, "blockdev 'b' has no device"),
            (changed(3) { $0.device = ArchiveDevice(major: 1, minor: 1) }, "fifo 'a/p' has a device; only chardev and blockdev do"),
            (changed(3) { $0.size = 7 }, "fifo 'a/p' has a size or a sha256; it has no content"),
            (changed(0) { $0.links = 2 }, "directory 'a' has links; only a file does"),
            (changed(1) { $0.links = 1 }, "file 'a/f' has links 1; it is given only when 2 or more"),
        ]
        for (entry, reason) in bad {
            let writer = try TOCFileWriter(output: temp.sub("v1.toc"))
            for earlier in valid where ArchivePathOrder.areInIncreasingOrder(Array(earlier.path.utf8), Array(entry.path.utf8)) {
                try writer.append(earlier)
            }
            TOCFormat2Tests.expectInvalidEntry(entry.path, containing: reason) { () throws(ArchiveError) in
                try writer.append(entry)
            }
        }
    }

    @Test func aHardLinkMustNameAnEarlierFile() throws {
        var toc = Self.linksTOC()
        #expect(try ArchiveTOC.decode(from: toc.encodeJSON()) == toc)
        toc.entries[2].linkTarget = "c"  // a device, not a file
        #expect(throws: ArchiveError.invalidTOC(reason: "hard link 'a/h' names 'c', not an earlier file entry")) {
            try ArchiveTOC.decode(from: toc.encodeJSON())
        }
        #expect(throws: ArchiveError.invalidTOC(reason: "hard link 'a/h' names 'c', not an earlier file entry")) {
            try toc.encodeFormat2()
        }
        toc.entries.append(
            ArchiveTOC.Entry(
                path: "d", type: .file, mode: 0o644, size: 0, mtime: Self.time, linkTarget: nil,
                sha256: String(repeating: "0", count: 64), members: [Self.member(500, 10, 0, 0, 512)]))
        toc.entries[2].linkTarget = "d"  // a file, but a later one
        #expect(throws: ArchiveError.invalidTOC(reason: "hard link 'a/h' names 'd', not an earlier file entry")) {
            try SeekableTarReader(toc: toc, fetch: { _ in [] })
        }
    }

    /// Each record type 3–7, read from a TOC whose footer says format 2.
    @Test(arguments: [
        (2, "a hard link (type 3)"), (3, "a fifo (type 4)"), (5, "a character device (type 5)"),
        (4, "a block device (type 6)"), (1, "a file with several names (type 7)"),
    ])
    func aFormat2TOCCannotHoldFormat3Records(index: Int, what: String) throws {
        let temp = try TemporaryDirectory("links-v2")
        let all = Self.linksTOC()
        var toc = all
        // The entry, its directory, and for the hard link its file (with one name: a type-0 record).
        toc.entries = all.entries.enumerated().filter { $0.offset == index || $0.offset == 0 || (index == 2 && $0.offset == 1) }
            .map(\.element)
        if index == 2 { toc.entries[1].links = nil }
        let bytes = try toc.encodeFormat2()
        #expect(try ArchiveTOC.decode(from: bytes).formatVersion == 3)
        let saysTwo = try Surgery.rebuild(bytes) { _, footer in footer.summary.formatVersion = 2 }
        let path = all.entries[index].path
        try TOCFormat2Tests.expectInvalidTOC(
            saysTwo, temp, containing: "'\(path)' is \(what), which a format-2 TOC cannot hold")
    }

    @Test func recordsOfTheNewTypesHaveTheDocumentedBytes() throws {
        var records: [UInt8] = []
        _ = try Surgery.rebuild(try Self.linksTOC().encodeFormat2()) { blocks, _ in records = blocks[0] }
        let mtime: [UInt8] = [0x80, 0xc4, 0x9f, 0xd5, 0x0c, 0x00]  // 1700000000 (zigzag), 0 ns
        // "a/h" after "a/f": shares 2 bytes, then "h"; hard link, 0644, target "a/f", one member.
        let hardLink: [UInt8] = [0x02, 0x01, UInt8(ascii: "h"), 0x03, 0xa4, 0x03] + mtime + [0x03] + Array("a/f".utf8)
        #expect(records.contains(hardLink), "hard link record")
        // "c" after "b": shares 0 bytes; character device 0600, major 1, minor 3.
        let device: [UInt8] = [0x00, 0x01, UInt8(ascii: "c"), 0x05, 0x80, 0x03] + mtime + [0x01, 0x03]
        #expect(records.contains(device), "device record")
        // "a/f" after "a": type 7, size 3, sha256, then links 2.
        let file: [UInt8] = [0x01, 0x02] + Array("/f".utf8) + [0x07, 0xa4, 0x03] + mtime + [0x03] + [UInt8](repeating: 0, count: 32) + [0x02]
        #expect(records.contains(file), "file with several names")
    }

    // MARK: Fixtures

    static func member(_ offset: UInt64, _ length: UInt64, _ dataOffset: UInt64, _ dataLength: UInt64, _ start: UInt64)
        -> ArchiveTOC.Member
    {
        ArchiveTOC.Member(offset: offset, length: length, dataOffset: dataOffset, dataLength: dataLength, dataStart: start)
    }

    /// A directory, a file with two names, its hard link, a FIFO, a block and a character device.
    static func linksTOC() -> ArchiveTOC {
        let shared = { (start: UInt64, data: UInt64) in [member(0, 300, 0, data, start)] }
        return ArchiveTOC(entries: [
            ArchiveTOC.Entry(
                path: "a", type: .directory, mode: 0o755, size: 0, mtime: time, linkTarget: nil, sha256: nil,
                members: shared(512, 0)),
            ArchiveTOC.Entry(
                path: "a/f", type: .file, mode: 0o644, size: 3, mtime: time, linkTarget: nil,
                sha256: String(repeating: "0", count: 64), members: shared(1024, 3), links: 2),
            ArchiveTOC.Entry(
                path: "a/h", type: .hardLink, mode: 0o644, size: 0, mtime: time, linkTarget: "a/f", sha256: nil,
                members: shared(2048, 0)),
            ArchiveTOC.Entry(
                path: "a/p", type: .fifo, mode: 0o644, size: 0, mtime: time, linkTarget: nil, sha256: nil,
                members: shared(2560, 0)),
            ArchiveTOC.Entry(
                path: "b", type: .blockDevice, mode: 0o600, size: 0, mtime: time, linkTarget: nil, sha256: nil,
                members: shared(3072, 0), device: ArchiveDevice(major: 7, minor: 0)),
            ArchiveTOC.Entry(
                path: "c", type: .characterDevice, mode: 0o600, size: 0, mtime: time, linkTarget: nil, sha256: nil,
                members: shared(3584, 0), device: ArchiveDevice(major: 1, minor: 3)),
        ])
    }
}
