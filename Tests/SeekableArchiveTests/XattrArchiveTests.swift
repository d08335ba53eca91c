// Extended attributes of entries (TOC format 4): pax SCHILY.xattr records that GNU tar and
// Python's tarfile read, both TOC encodings, the rules an attribute list must meet, and a
// format-3 TOC that cannot hold them.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct XattrArchiveTests {
    static let time = ArchiveTimestamp(seconds: 1_700_000_000)
    static let content = Array("attributed\n".utf8)
    /// Values of any bytes: NUL, not UTF-8, empty, newline.
    static let fileXattrs = [
        ArchiveXattr(name: Array("user.empty".utf8), value: []),
        ArchiveXattr(name: Array("user.line".utf8), value: Array("a\nb".utf8)),
        ArchiveXattr(name: Array("user.nul".utf8), value: [0x61, 0x00, 0x62]),
        ArchiveXattr(name: Array("user.raw".utf8), value: [0xff, 0xfe, 0x80]),
    ]
    static let directoryXattrs = [ArchiveXattr(name: Array("user.owner".utf8), value: Array("team".utf8))]

    static func entries() -> [ArchiveEntry] {
        [
            ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: time, xattrs: directoryXattrs),
            ArchiveEntry(path: "d/f.txt", kind: .file, mode: 0o644, mtime: time, size: UInt64(content.count), xattrs: fileXattrs),
            ArchiveEntry(path: "d/plain", kind: .file, mode: 0o644, mtime: time, size: UInt64(content.count)),
        ]
    }

    /// Writes `entries()` (or `entries`) to `<temp>/v1.tar.gz` with a format-2 family TOC file beside it.
    static func writeArchive(_ temp: TemporaryDirectory, _ entries: [ArchiveEntry] = entries()) throws -> TOCSummary {
        try Fixtures.writeFile(temp.sub("content"), content, mode: 0o644)
        let tocFile = try TOCFileWriter(output: temp.sub("v1.toc.json"))
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: .snapshot, toc: tocFile)
        for entry in entries { try writer.append(entry, contentsOf: entry.kind == .file ? temp.sub("content") : nil) }
        let summary = try writer.finishArchive()
        try tocFile.finish(summary)
        return summary
    }

    @Test func attributesComeBackFromTheTOCFileAndBothWholeTOCEncodings() throws {
        let temp = try TemporaryDirectory("xattr-toc")
        let summary = try Self.writeArchive(temp)
        #expect(summary.formatVersion == 4, "an entry with attributes makes the TOC format 4")

        let reader = try TOCFileReader(path: temp.sub("v1.toc.json"))
        #expect(reader.summary.formatVersion == 4)
        var read: [ArchiveTOC.Entry] = []
        while let entry = try reader.next() { read.append(entry) }
        #expect(read.map(\.xattrs) == [Self.directoryXattrs, Self.fileXattrs, []])
        let local = try LocalTOC(path: temp.sub("v1.toc.json"))
        #expect(try local.entry(at: "d/f.txt")?.xattrs == Self.fileXattrs)

        let whole = try ArchiveTOC.decode(from: try TOCFormat2Tests.readFile(temp.sub("v1.toc.json")))
        #expect(whole.entries == read)
        #expect(try ArchiveTOC.decode(from: try whole.encodeFormat2()) == whole)
        let json = try whole.encodeJSON()
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains(#"{"name":"user.nul","value_base64":"YQBi"}"#), "JSON names attributes, values in base64: \(text.prefix(600))")
        #expect(try ArchiveTOC.decode(from: json) == whole)
    }

    @Test func withoutAttributesTheTOCStaysFormat2() throws {
        let temp = try TemporaryDirectory("xattr-none")
        let plain = Self.entries().map { entry -> ArchiveEntry in
            var entry = entry
            entry.xattrs = []
            return entry
        }
        #expect(try Self.writeArchive(temp, plain).formatVersion == 2)
    }

    @Test func gnuTarAndTarfileRestoreTheAttributesByteForByte() throws {
        let temp = try TemporaryDirectory("xattr-tar")
        _ = try Self.writeArchive(temp)
        let archive = temp.sub("v1.tar.gz").string
        let out = temp.sub("out").string
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Shell.run("tar --xattrs --xattrs-include='user.*' -xzf \(Shell.quote(archive)) -C \(Shell.quote(out))")
        let script = """
            import os, sys, tarfile
            root = sys.argv[1]
            for rel in ['d', 'd/f.txt', 'd/plain']:
                p = os.path.join(root, rel)
                print(rel, ' '.join(n + '=' + os.getxattr(p, n).hex() for n in sorted(os.listxattr(p)) if n.startswith('user.')) or '-')
            with tarfile.open(sys.argv[2], 'r:gz', errors='surrogateescape') as t:
                for m in t:
                    x = sorted((k, v.encode('utf-8', 'surrogateescape').hex()) for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.'))
                    print('tarfile', m.name, ' '.join(k + '=' + v for k, v in x) or '-')
            """
        let printed = try Shell.run("python3 -c \(Shell.quote(script)) \(Shell.quote(out)) \(Shell.quote(archive))").stdout
        let expected = [
            "d user.owner=7465616d",
            "d/f.txt user.empty= user.line=610a62 user.nul=610062 user.raw=fffe80",
            "d/plain -",
            "tarfile d SCHILY.xattr.user.owner=7465616d",
            "tarfile d/f.txt SCHILY.xattr.user.empty= SCHILY.xattr.user.line=610a62 SCHILY.xattr.user.nul=610062 SCHILY.xattr.user.raw=fffe80",
            "tarfile d/plain -",
        ]
        #expect(printed.split(separator: "\n").map(String.init) == expected, "\(printed)")
    }

    @Test(arguments: [
        ([ArchiveXattr(name: Array("user.b".utf8), value: []), ArchiveXattr(name: Array("user.a".utf8), value: [])], "byte order"),
        ([ArchiveXattr(name: Array("user.a".utf8), value: []), ArchiveXattr(name: Array("user.a".utf8), value: [1])], "byte order"),
        ([ArchiveXattr(name: [], value: [])], "1 to 255 bytes"),
        ([ArchiveXattr(name: Array("user.\u{0}x".utf8), value: [])], "NUL"),
        ([ArchiveXattr(name: Array(repeating: 0x61, count: 256), value: [])], "1 to 255 bytes"),
        ([ArchiveXattr(name: Array("user.big".utf8), value: Array(repeating: 0, count: 65_537))], "over 65536 bytes"),
    ])
    func aListTheTOCCannotHoldIsRefusedByTheWriter(xattrs: [ArchiveXattr], reason: String) throws {
        let temp = try TemporaryDirectory("xattr-bad")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: .snapshot)
        let entry = ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: Self.time, xattrs: xattrs)
        let refusal = Self.refusal { try writer.append(entry, contentsOf: nil) }
        #expect(refusal?.contains(reason) == true, "the rule on \(reason): \(refusal ?? "accepted")")
    }

    @Test func aHardLinkEntryCarriesNoAttributes() throws {
        let temp = try TemporaryDirectory("xattr-link")
        try Fixtures.writeFile(temp.sub("content"), Self.content, mode: 0o644)
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: .snapshot)
        try writer.append(
            ArchiveEntry(path: "a", kind: .file, mode: 0o644, mtime: Self.time, size: UInt64(Self.content.count), links: 2),
            contentsOf: temp.sub("content"))
        let link = ArchiveEntry(
            path: "b", kind: .hardLink, mode: 0o644, mtime: Self.time, linkTarget: "a", xattrs: Self.directoryXattrs)
        #expect(throws: ArchiveError.self) { try writer.append(link, contentsOf: nil) }
    }

    @Test func aFormat3TOCCannotHoldARecordWithAttributes() throws {
        let entry = ArchiveTOC.Entry(
            path: "d", type: .directory, mode: 0o755, size: 0, mtime: Self.time,
            members: [ArchiveTOC.Member(offset: 0, length: 10, dataOffset: 0, dataLength: 0, dataStart: 512)],
            xattrs: Self.directoryXattrs)
        var context = TOCRecord.BlockContext()
        var bytes: [UInt8] = []
        try TOCRecord.encode(entry, path: entry.pathBytes, context: &context, into: &bytes)
        var cursor = ByteCursor(bytes, context: "test block")
        var readContext = TOCRecord.BlockContext()
        #expect(try TOCRecord.decode(&cursor, context: &readContext, formatVersion: 4).entry == entry)
        var oldCursor = ByteCursor(bytes, context: "test block")
        var oldContext = TOCRecord.BlockContext()
        let refusal = Self.refusal { _ = try TOCRecord.decode(&oldCursor, context: &oldContext, formatVersion: 3) }
        #expect(refusal?.contains("format-3 TOC cannot hold") == true, "\(refusal ?? "a format-3 TOC read a record with attributes")")
    }

    /// What `body` threw, described; nil if it did not throw.
    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }
}
