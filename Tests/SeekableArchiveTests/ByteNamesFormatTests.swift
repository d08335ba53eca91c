// How names that are not UTF-8 are written: pax hdrcharset=BINARY, TOC format 3 (and its refusal in
// format 2), JSON base64; and that UTF-8 names keep exactly the bytes they had.
import Foundation
import Testing

@testable import SeekableArchive

@Suite struct ByteNamesFormatTests {
    static let time = ArchiveTimestamp(seconds: 1_700_000_000, nanoseconds: 250_000_000)

    /// FNV-1a 64 of the headers of UTF-8 entries (ASCII, non-ASCII, a path no split fits, 8 GiB,
    /// a negative mtime, a long non-ASCII target, control bytes), both mtime settings. The value
    /// was taken from the writer before names became bytes.
    @Test func utf8NamesKeepTheirHeadersByteForByte() {
        let long = String(repeating: "deep/", count: 40) + "file.txt"
        let entries: [ArchiveEntry] = [
            ArchiveEntry(path: "src", kind: .directory, mode: 0o755, mtime: Self.time),
            ArchiveEntry(path: "src/hello.txt", kind: .file, mode: 0o644, mtime: Self.time, size: 6),
            ArchiveEntry(path: "café/naïve €.txt", kind: .file, mode: 0o600, mtime: Self.time, size: 10),
            ArchiveEntry(path: "日本語", kind: .directory, mode: 0o755, mtime: ArchiveTimestamp(seconds: -5)),
            ArchiveEntry(path: long, kind: .file, mode: 0o644, mtime: Self.time, size: 9_000_000_000),
            ArchiveEntry(
                path: "link", kind: .symlink, mode: 0o777, mtime: Self.time,
                linkTarget: "ünïcode/" + String(repeating: "x", count: 120)),
            ArchiveEntry(path: "tab\tnew\nline", kind: .symlink, mode: 0o777, mtime: Self.time, linkTarget: "back\\slash"),
        ]
        var all: [UInt8] = []
        for entry in entries {
            all += EntryHeaders.encode(entry) + EntryHeaders.encode(entry, subSecondMtimes: false)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in all { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        #expect(all.count == 18432 && hash == 0x5acc_5974_b15e_b60c)
        #expect(!all.contains(subsequence: Array("hdrcharset".utf8)))
    }

    @Test func aNameThatIsNotUTF8GetsRawPaxValuesUnderHdrcharsetBinary() {
        let entry = ArchiveEntry(
            pathBytes: ByteNameTree.badName, kind: .symlink, mode: 0o777, mtime: ArchiveTimestamp(seconds: 1),
            linkTargetBytes: [0x80])
        let headers = EntryHeaders.encode(entry)
        let body = Array(headers[512..<1024])
        let expected = Array("21 hdrcharset=BINARY\n".utf8) + Array("19 path=".utf8) + ByteNameTree.badName
            + [0x0A] + Array("14 linkpath=".utf8) + [0x80, 0x0A]
        #expect(Array(body.prefix(expected.count)) == expected)
        #expect(headers.count == 1536, "pax header, its records, the ustar block")
    }

    @Test func theTOCSaysFormat2ForUTF8NamesAnd3OtherwiseAndFormat2RefusesOtherBytes() throws {
        let temp = try TemporaryDirectory("byte-names-format")
        let utf8Only = try SeekableTarWriter(output: temp.sub("a.tar.gz"))
        for name in ["\u{1}ctl", " leading", "-rf", "a..b", "back\\slash", "new\nline", "tab\tname"] {
            try utf8Only.append(ArchiveEntry(path: name, kind: .directory, mode: 0o755, mtime: Self.time), contentsOf: nil)
        }
        let plain = try utf8Only.finish()
        #expect(plain.formatVersion == 2)
        #expect(try ArchiveTOC.decode(from: plain.encodeFormat2()).formatVersion == 2)

        let bytes = try Self.tocWithOneBadName().encodeFormat2()
        #expect(try ArchiveTOC.decode(from: bytes).formatVersion == 3)
        let saysTwo = try Surgery.rebuild(bytes) { _, footer in footer.summary.formatVersion = 2 }
        try TOCFormat2Tests.expectInvalidTOC(
            saysTwo, temp, containing: "is not valid UTF-8, which a format-2 TOC cannot hold (format 3 can)")
    }

    @Test func format3RefusesNULAndEmptyComponentsInPaths() throws {
        let temp = try TemporaryDirectory("byte-names-nul")
        let bytes = try Self.tocWithOneBadName().encodeFormat2()
        // The one record starts: shared 0, suffix length 2, the two path bytes.
        for (bad, reason) in [([UInt8(ascii: "a"), 0], "contains a NUL byte"), ([0x2F, 0xFF], "leading '/'")] {
            let damaged = try Surgery.rebuild(bytes) { blocks, _ in
                #expect(blocks[0][0] == 0 && blocks[0][1] == 2 && blocks[0][2] == 0xFF)
                blocks[0][2] = bad[0]
                blocks[0][3] = bad[1]
            }
            try TOCFormat2Tests.expectInvalidTOC(damaged, temp, containing: reason)
        }
    }

    @Test func jsonTakesBase64NamesAndRefusesBothForms() throws {
        let toc = Self.tocWithOneBadName()
        let json = String(decoding: try toc.encodeJSON(), as: UTF8.self)
        #expect(json.contains("\"path_base64\":\"/8A=\"") && !json.contains("\"path\":"))
        #expect(try ArchiveTOC.decode(from: Array(json.utf8)) == toc)
        let both = json.replacingOccurrences(of: "\"path_base64\"", with: "\"path\":\"x\",\"path_base64\"")
        #expect(throws: ArchiveError.self) { try ArchiveTOC.decode(from: Array(both.utf8)) }
        let notBase64 = json.replacingOccurrences(of: "/8A=", with: "*")
        #expect(throws: ArchiveError.self) { try ArchiveTOC.decode(from: Array(notBase64.utf8)) }
    }

    /// One directory named FF C0 (never UTF-8), in a member of the right shape.
    static func tocWithOneBadName() -> ArchiveTOC {
        let member = ArchiveTOC.Member(offset: 0, length: 40, dataOffset: 0, dataLength: 0, dataStart: 0)
        let entry = ArchiveTOC.Entry(
            pathBytes: [0xFF, 0xC0], type: .directory, mode: 0o755, size: 0, mtime: time, members: [member])
        let end = ArchiveTOC.Member(offset: 40, length: 20, dataOffset: 0, dataLength: 0, dataStart: 0)
        return ArchiveTOC(
            formatVersion: 3, chunkSize: 4 << 20, archiveSize: 60, archiveSHA256: String(repeating: "0", count: 64),
            entries: [entry], endMember: end, metadata: nil)
    }
}

extension Array where Element == UInt8 {
    fileprivate func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}
