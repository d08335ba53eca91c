// A tree whose names are any bytes: not UTF-8, control bytes, 255-byte names, a path over 4096 bytes.
import SystemPackage

@testable import SeekableArchive

enum ByteNameTree {
    static let time = ArchiveTimestamp(seconds: 1_700_000_000, nanoseconds: 0)
    static let badName: [UInt8] = Array("bad-".utf8) + [0xFF, 0xFE] + Array(".txt".utf8)
    /// Names of files at the top, each its own content.
    static let fileNames: [[UInt8]] = [
        badName, Array("tab\tname".utf8), Array("new\nline".utf8), Array("back\\slash".utf8), [0x01] + Array("ctl".utf8),
        Array("..a".utf8), Array("a..b".utf8), Array("-rf".utf8), Array(" leading space".utf8),
        Array("trailing space ".utf8), Array(repeating: UInt8(ascii: "n"), count: 251) + Array(".255".utf8),
    ]
    static let badDirectory: [UInt8] = Array("dir-".utf8) + [0xC3, 0x28]
    static let symlinkName: [UInt8] = Array("sym-".utf8) + [0xFE]
    /// 22 directories of 200 bytes: the file below them has a path of 4430 bytes.
    static let deepDirectories: [[UInt8]] = (0..<22).map { level in
        Array("deep\(level < 10 ? "0" : "")\(level)-".utf8) + Array(repeating: UInt8(ascii: "x"), count: 193)
    }

    /// The entries with their contents, in archive path order.
    static func entries() -> [(entry: ArchiveEntry, content: [UInt8])] {
        var list: [(ArchiveEntry, [UInt8])] = []
        for name in fileNames {
            list.append((ArchiveEntry(pathBytes: name, kind: .file, mode: 0o644, mtime: time, size: UInt64(name.count)), name))
        }
        list.append((ArchiveEntry(pathBytes: badDirectory, kind: .directory, mode: 0o755, mtime: time), []))
        let inner = badDirectory + [NameBytes.slash] + Array("inner".utf8) + [0x80]
        list.append((ArchiveEntry(pathBytes: inner, kind: .file, mode: 0o600, mtime: time, size: 5), Array("inner".utf8)))
        var deep: [UInt8] = []
        for component in deepDirectories {
            deep += (deep.isEmpty ? [] : [NameBytes.slash]) + component
            list.append((ArchiveEntry(pathBytes: deep, kind: .directory, mode: 0o755, mtime: time), []))
        }
        let bottom = deep + Array("/bottom.txt".utf8)
        list.append((ArchiveEntry(pathBytes: bottom, kind: .file, mode: 0o644, mtime: time, size: 6), Array("bottom".utf8)))
        list.append(
            (ArchiveEntry(pathBytes: symlinkName, kind: .symlink, mode: 0o777, mtime: time, linkTargetBytes: badName), []))
        return list.sorted { ArchivePathOrder.areInIncreasingOrder($0.0.pathBytes, $1.0.pathBytes) }
    }

    /// Writes `entries()` with `writer`, contents from files in `scratch`.
    static func append(to writer: SeekableTarWriter, scratch: TemporaryDirectory) throws {
        for (number, (entry, content)) in entries().enumerated() {
            guard entry.kind == .file else {
                try writer.append(entry, contentsOf: nil)
                continue
            }
            let source = scratch.sub("content-\(number)")
            try Fixtures.writeFile(source, content, mode: 0o644)
            try writer.append(entry, contentsOf: source)
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
