// Unit tests of the pure tar pieces: octal fields, checksum, name/prefix split, pax records and triggers.
import Testing

@testable import SeekableArchive

@Suite struct TarHeaderTests {
    private func field(_ block: [UInt8], _ spec: (offset: Int, width: Int)) -> String {
        String(decoding: block[spec.offset..<(spec.offset + spec.width)].prefix { $0 != 0 }, as: UTF8.self)
    }

    @Test func octalFieldsArePaddedAndNulTerminated() {
        #expect(TarHeader.octal(0o644, width: 8) == Array("0000644".utf8) + [0])
        #expect(TarHeader.octal(0, width: 12) == Array("00000000000".utf8) + [0])
        #expect(TarHeader.octal(8_589_934_591, width: 12) == Array("77777777777".utf8) + [0])
        #expect(TarHeader.octal(8_589_934_592, width: 12) == nil, "8 GiB does not fit in 11 octal digits")
        #expect(TarHeader.maxOctal(width: 12) == 8_589_934_591)
    }

    @Test func headerFieldsAndChecksum() {
        let block = TarHeader.block(
            name: Array("dir/file.txt".utf8),
            mode: 0o100644,
            size: 1234,
            mtime: 1_700_000_000,
            type: .regular
        )
        #expect(block.count == 512)
        #expect(field(block, TarHeader.Field.name) == "dir/file.txt")
        #expect(field(block, TarHeader.Field.mode) == "0000644", "file-type bits are dropped")
        #expect(field(block, TarHeader.Field.size) == String(1234, radix: 8).leftPadded(11))
        #expect(field(block, TarHeader.Field.mtime) == String(1_700_000_000, radix: 8).leftPadded(11))
        #expect(block[156] == UInt8(ascii: "0"))
        #expect(Array(block[257..<265]) == Array("ustar\u{0}00".utf8))
        // Checksum: six octal digits, NUL, space; equal to the byte sum with the field as spaces.
        #expect(block[154] == 0 && block[155] == 0x20)
        let stored = UInt32(field(block, (148, 6)), radix: 8)
        var sum: UInt32 = 0
        for (index, byte) in block.enumerated() { sum += UInt32((148..<156).contains(index) ? 0x20 : byte) }
        #expect(stored == sum)
    }

    @Test func longPathsSplitIntoPrefixAndName() throws {
        let path = Array((String(repeating: "p", count: 120) + "/" + String(repeating: "n", count: 90)).utf8)
        let split = try #require(TarHeader.splitPath(path))
        #expect(split.prefix.count == 120 && split.name.count == 90)
        #expect(TarHeader.splitPath(Array(String(repeating: "x", count: 200).utf8)) == nil, "no slash")
        #expect(
            TarHeader.splitPath(
                Array((String(repeating: "p", count: 40) + "/" + String(repeating: "n", count: 101)).utf8)
            ) == nil
        )
        #expect(TarHeader.splitPath(Array("short".utf8))?.prefix == [])
    }

    @Test func paxRecordLengthCountsItself() {
        #expect(
            EntryHeaders.paxRecord(key: "mtime", value: "1700000000.123456789")
                == Array("30 mtime=1700000000.123456789\n".utf8)
        )
        // Payload " path=<91 bytes>\n" is 98 bytes: 98 + 2 digits = 100 needs 3 digits, so 101.
        let value = String(repeating: "v", count: 91)
        let record = EntryHeaders.paxRecord(key: "path", value: value)
        #expect(record.count == 101 && record.starts(with: Array("101 path=".utf8)))
        #expect(EntryHeaders.paxRecord(key: "path", value: "é") == Array("11 path=é\n".utf8))
    }

    @Test func paxTimesKeepNanoseconds() {
        #expect(EntryHeaders.paxTime(ArchiveTimestamp(seconds: 5, nanoseconds: 0)) == "5")
        #expect(EntryHeaders.paxTime(ArchiveTimestamp(seconds: 5, nanoseconds: 500_000_000)) == "5.5")
        #expect(EntryHeaders.paxTime(ArchiveTimestamp(seconds: 5, nanoseconds: 1)) == "5.000000001")
        #expect(EntryHeaders.paxTime(ArchiveTimestamp(seconds: -2, nanoseconds: 750_000_000)) == "-1.25")
        #expect(EntryHeaders.paxTime(ArchiveTimestamp(seconds: -1, nanoseconds: 500_000_000)) == "-0.5")
    }

    @Test func paxHeadersOnlyWhenNeeded() {
        let time = ArchiveTimestamp(seconds: 1_700_000_000)
        let plain = ArchiveEntry(path: "Sources/a.swift", kind: .file, mode: 0o644, mtime: time, size: 10)
        #expect(EntryHeaders.encode(plain).count == 512)
        let split = ArchiveEntry(path: String(repeating: "d/", count: 70) + "f", kind: .file, mode: 0o644, mtime: time)
        #expect(EntryHeaders.encode(split).count == 512, "141 bytes fit the ustar prefix/name split")

        let cases: [(ArchiveEntry, String)] = [
            (ArchiveEntry(path: "é.txt", kind: .file, mode: 0o644, mtime: time), "path=é.txt"),
            (ArchiveEntry(path: String(repeating: "x", count: 200), kind: .file, mode: 0o644, mtime: time), "path=xxx"),
            (
                ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: (seconds: 1, nanoseconds: 5)),
                "mtime=1.000000005"
            ),
            (ArchiveEntry(path: "big", kind: .file, mode: 0o644, mtime: time, size: 9 << 30), "size=9663676416"),
            (
                ArchiveEntry(
                    path: "l",
                    kind: .symlink,
                    mode: 0o777,
                    mtime: time,
                    linkTarget: String(repeating: "t", count: 101)
                ), "linkpath=ttt"
            ),
            (ArchiveEntry(path: "old", kind: .file, mode: 0o644, mtime: ArchiveTimestamp(seconds: -10)), "mtime=-10"),
        ]
        for (entry, record) in cases {
            let bytes = EntryHeaders.encode(entry)
            #expect(bytes.count == 1536, "\(entry.path): pax header, one record block, ustar header")
            #expect(bytes[156] == UInt8(ascii: "x"))
            let body = String(decoding: bytes[512..<1024], as: UTF8.self)
            #expect(body.contains(record), "\(entry.path): \(body.prefix(80))")
            #expect(bytes.count % 512 == 0)
        }
        let big = EntryHeaders.encode(cases[3].0)
        #expect(field(Array(big[1024...]), TarHeader.Field.size) == "00000000000", "the real size is in the pax record")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
