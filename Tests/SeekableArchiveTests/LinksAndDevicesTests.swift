// Hard links, FIFOs and device nodes (TOC format 3): through the writer, both TOC formats,
// LocalTOC and the reader, GNU tar's listing and extraction, and reused members.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct LinksAndDevicesTests {
    static let time = ArchiveTimestamp(seconds: 1_700_000_000, nanoseconds: 250_000_000)
    static let content = Array("one inode, two names\n".utf8)
    static let nullDevice = ArchiveDevice(major: 1, minor: 3)
    static let loopDevice = ArchiveDevice(major: 7, minor: 0)

    /// Every new kind among ordinary entries, in archive path order.
    static func entries() -> [ArchiveEntry] {
        [
            ArchiveEntry(path: "dev", kind: .directory, mode: 0o755, mtime: time),
            ArchiveEntry(path: "dev/loop0", kind: .blockDevice, mode: 0o660, mtime: time, device: loopDevice),
            ArchiveEntry(path: "dev/null", kind: .characterDevice, mode: 0o666, mtime: time, device: nullDevice),
            ArchiveEntry(path: "dev/pipe", kind: .fifo, mode: 0o640, mtime: time),
            ArchiveEntry(path: "docs", kind: .directory, mode: 0o755, mtime: time),
            ArchiveEntry(
                path: "docs/a.txt", kind: .file, mode: 0o644, mtime: time, size: UInt64(content.count), links: 2),
            ArchiveEntry(path: "docs/b.txt", kind: .hardLink, mode: 0o644, mtime: time, linkTarget: "docs/a.txt"),
            ArchiveEntry(path: "docs/link", kind: .symlink, mode: 0o777, mtime: time, linkTarget: "a.txt"),
            ArchiveEntry(path: "docs/plain.txt", kind: .file, mode: 0o600, mtime: time, size: 6),
        ]
    }

    /// Appends `entries()` to `writer`; the files' contents are written into `scratch` first.
    static func appendAll(to writer: SeekableTarWriter, scratch: TemporaryDirectory) throws {
        try Fixtures.writeFile(scratch.sub("shared"), content, mode: 0o644)
        try Fixtures.writeFile(scratch.sub("plain"), Array("plain\n".utf8), mode: 0o644)
        for entry in entries() {
            let source: FilePath? =
                switch entry.path {
                case "docs/a.txt": scratch.sub("shared")
                case "docs/plain.txt": scratch.sub("plain")
                default: nil
                }
            try writer.append(entry, contentsOf: source)
        }
    }

    /// The archive of `entries()` at `archive`, with its whole TOC.
    static func writeArchive(
        _ archive: FilePath, scratch: TemporaryDirectory, options: SeekableTarWriter.Options = .init()
    ) throws -> ArchiveTOC {
        let writer = try SeekableTarWriter(output: archive, options: options)
        try appendAll(to: writer, scratch: scratch)
        return try writer.finish()
    }

    // MARK: TOC round trips

    @Test(arguments: [SeekableTarWriter.Options(), .snapshot])
    func everyFieldComesBackFromTheTOCFileAndLocalTOC(options: SeekableTarWriter.Options) throws {
        let temp = try TemporaryDirectory("links-roundtrip")
        let tocFile = try TOCFileWriter(output: temp.sub("v1.toc.json"))
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: options, toc: tocFile)
        try Self.appendAll(to: writer, scratch: temp)
        let summary = try writer.finishArchive()
        #expect(summary.formatVersion == 3, "the writer's summary already says format 3")
        try tocFile.finish(summary)

        let reader = try TOCFileReader(path: temp.sub("v1.toc.json"))
        #expect(reader.summary.formatVersion == 3)
        var read: [ArchiveTOC.Entry] = []
        while let entry = try reader.next() { read.append(entry) }
        #expect(read.map(\.path) == Self.entries().map(\.path))
        let byPath = Dictionary(uniqueKeysWithValues: read.map { ($0.path, $0) })
        let null = try #require(byPath["dev/null"])
        #expect(null.type == .characterDevice && null.device == Self.nullDevice && null.mode == 0o666)
        #expect(null.size == 0 && null.sha256 == nil && null.links == nil && null.linkTarget == nil)
        #expect(byPath["dev/loop0"]?.type == .blockDevice && byPath["dev/loop0"]?.device == Self.loopDevice)
        #expect(byPath["dev/pipe"]?.type == .fifo && byPath["dev/pipe"]?.device == nil)
        let file = try #require(byPath["docs/a.txt"])
        #expect(file.type == .file && file.links == 2 && file.size == UInt64(Self.content.count))
        let hardLink = try #require(byPath["docs/b.txt"])
        #expect(hardLink.type == .hardLink && hardLink.linkTarget == "docs/a.txt" && hardLink.size == 0)
        #expect(hardLink.mtime == Self.time && hardLink.mode == 0o644 && hardLink.sha256 == nil)
        #expect(byPath["docs/plain.txt"]?.links == nil, "links is given only when 2 or more")
        for path in ["dev/loop0", "dev/null", "dev/pipe", "docs/b.txt"] {
            let members = byPath[path]?.members ?? []
            #expect(members.count == 1 && members[0].dataLength == 0, "\(path): its header's member, no data")
        }

        let local = try LocalTOC(path: temp.sub("v1.toc.json"))
        #expect(try local.treeEntry(at: "dev/null") == .entry(null))
        #expect(try local.treeEntry(at: "docs/b.txt") == .entry(hardLink))
        #expect(try local.children(of: "dev") == read[1...3].map { TOCTreeEntry.entry($0) })
        #expect(try local.children(of: "docs").map(\.path) == ["docs/a.txt", "docs/b.txt", "docs/link", "docs/plain.txt"])
        #expect(try local.entry(at: "docs/a.txt") == file)

        let whole = try ArchiveTOC.decode(from: try TOCFormat2Tests.readFile(temp.sub("v1.toc.json")))
        #expect(whole.entries == read && whole.formatVersion == 3)
        let archiveFile = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? archiveFile.close() }
        let archiveReader = try SeekableTarReader(toc: whole, source: FileByteSource(descriptor: archiveFile))
        #expect(try archiveReader.readFile(at: "docs/b.txt") == Self.content, "a hard link reads as its file")
        #expect(throws: ArchiveError.notARegularFile(path: "dev/pipe")) { try archiveReader.readFile(at: "dev/pipe") }
    }

    @Test func anInMemoryTOCSaysFormat3AndRoundTripsThroughBothEncodings() throws {
        let temp = try TemporaryDirectory("links-memory")
        let toc = try Self.writeArchive(temp.sub("v1.tar.gz"), scratch: temp)
        #expect(toc.formatVersion == 3)

        let binary = try toc.encodeFormat2()
        #expect(try ArchiveTOC.decode(from: binary) == toc)

        let json = try toc.encodeJSON()
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains(#""device":{"major":1,"minor":3}"#) && text.contains(#""links":2"#))
        #expect(text.contains(#""type":"hardlink""#) && text.contains(#""type":"chardev""#))
        #expect(text.contains(#""type":"blockdev""#) && text.contains(#""type":"fifo""#))
        #expect(!text.contains(#""device":null"#) && !text.contains(#""links":null"#), "absent keys are omitted")
        #expect(try ArchiveTOC.decode(from: json) == toc)
        var format1 = toc
        format1.formatVersion = 1  // what `codebegenfs toc` prints: format-1 JSON may hold the new kinds
        #expect(try ArchiveTOC.decode(from: try format1.encodeJSON()) == format1)
    }

    /// The bytes `codebegenfs pack` wrote for this tree before format 3 existed (the build of
    /// commit 090b0ec): archives without the new kinds must not change, and their TOCs still say
    /// format 2. (The TOC hashes are those since blocks carry `members_start`, a footer field
    /// format-2 readers ignore, and end between gzip members.)
    @Test(arguments: [
        (SeekableTarWriter.Options.snapshot, "aed1c42a13bd46864ff392e0cc5e42942afefb8c9c516532db733629f6674e89",
            "80450f0f12ef5865de55d807531c716a5cbb5783f7cdc271fa1d1ab6caa0255c"),
        (SeekableTarWriter.Options(), "5a1276bcb7f72a8391171565ad8e66c4b413d39446ee23e9278b2152f5d609df",
            "5b2b0affb44911fbade987f9845d134717bf7bdb2619d59e9695b1ea3e42c1f4"),
    ])
    func onlyOldKindsStillWriteFormat2ByteForByte(
        options: SeekableTarWriter.Options, archiveSHA256: String, tocSHA256: String
    ) throws {
        let temp = try TemporaryDirectory("links-unchanged")
        let tree = temp.sub("tree")
        try Shell.run(
            """
            set -e; root=\(Shell.quote(tree.string))
            mkdir -p "$root/src/sub" "$root/empty" "$root/données"
            printf 'hello\\n' > "$root/src/hello.txt"
            yes 'let member = archive.offset + 4096' | head -c 300000 > "$root/src/sub/big.bin"
            printf 'x' > "$root/a.b"
            printf 'é' > "$root/données/fichier.txt"
            ln -s hello.txt "$root/src/link"
            ln -s "$(printf 'l%.0s' $(seq 1 150))" "$root/src/longlink"
            chmod 600 "$root/a.b"
            chmod 755 "$root" "$root/src" "$root/src/sub" "$root/empty" "$root/données"
            chmod 644 "$root/src/hello.txt" "$root/src/sub/big.bin" "$root/données/fichier.txt"
            find "$root" -exec touch -h -d '2024-01-02 03:04:05.123456789' {} +
            """)
        let summary = try ArchivePacker.pack(
            directory: tree, to: temp.sub("v1.tar.gz"), tocOutput: temp.sub("v1.toc.json"), options: options)
        #expect(summary.formatVersion == 2)
        #expect(try Self.sha256(temp.sub("v1.tar.gz")) == archiveSHA256)
        #expect(try Self.sha256(temp.sub("v1.toc.json")) == tocSHA256)
        #expect(try ArchiveTOC.decode(from: TOCFormat2Tests.readFile(temp.sub("v1.toc.json"))).formatVersion == 2)
    }

    // MARK: GNU tar

    @Test func gnuTarListsAndExtractsEveryKind() throws {
        let temp = try TemporaryDirectory("links-gnu-tar")
        let archive = temp.sub("v1.tar.gz")
        _ = try Self.writeArchive(archive, scratch: temp, options: .snapshot)
        let listing = try Shell.run("tar -tvzf \(Shell.quote(archive.string))").stdout.split(separator: "\n")
        /// The listing line of `path` (for a hard link, the text before " link to " ends with it).
        func line(_ path: String) -> Substring? {
            listing.first { $0.components(separatedBy: " link to ")[0].hasSuffix(" " + path) }
        }
        #expect(line("dev/loop0")?.first == "b" && line("dev/loop0")?.contains(" 7,0 ") == true, "\(listing)")
        #expect(line("dev/null")?.first == "c" && line("dev/null")?.contains(" 1,3 ") == true, "\(listing)")
        #expect(line("dev/pipe")?.first == "p", "\(listing)")
        #expect(line("docs/b.txt")?.first == "h", "\(listing)")
        #expect(line("docs/b.txt")?.hasSuffix("docs/b.txt link to docs/a.txt") == true, "\(listing)")
        #expect(line("docs/a.txt")?.first == "-")

        let out = temp.sub("extracted")
        try Shell.run("mkdir \(Shell.quote(out.string)) && tar -xzf \(Shell.quote(archive.string)) -C \(Shell.quote(out.string))")
        func stat(_ path: String) throws -> [Substring] {
            // type, inode, links, major and minor (hex)
            try Shell.run("stat -c '%F|%i|%h|%t|%T|%a' \(Shell.quote(out.appending(path).string))").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
        }
        let a = try stat("docs/a.txt")
        let b = try stat("docs/b.txt")
        #expect(a[0] == "regular file" && a[1] == b[1] && a[2] == "2" && b[2] == "2", "\(a) \(b)")
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: out.appending("docs/b.txt").string))) == Self.content)
        #expect(try stat("dev/pipe")[0] == "fifo")
        let null = try stat("dev/null")
        #expect(null[0] == "character special file" && null[3] == "1" && null[4] == "3" && null[5] == "666", "\(null)")
        let loop = try stat("dev/loop0")
        #expect(loop[0] == "block special file" && loop[3] == "7" && loop[4] == "0" && loop[5] == "660", "\(loop)")
    }

    @Test func longHardLinkTargetsGoToPaxAndLargeDeviceNumbersToBase256() throws {
        let temp = try TemporaryDirectory("links-pax")
        let longName = "d/" + String(repeating: "n", count: 150)
        let big = ArchiveDevice(major: 3_000_000, minor: 2_000_000_000)  // GNU tar: major_t/minor_t are Int32
        let entries = [
            ArchiveEntry(path: "d", kind: .directory, mode: 0o755, mtime: Self.time),
            ArchiveEntry(path: "d/big-numbers", kind: .characterDevice, mode: 0o600, mtime: Self.time, device: big),
            ArchiveEntry(path: "d/link", kind: .hardLink, mode: 0o644, mtime: Self.time, linkTarget: longName),
            ArchiveEntry(path: longName, kind: .file, mode: 0o644, mtime: Self.time, links: 2),
        ].sorted { ArchivePathOrder.areInIncreasingOrder(Array($0.path.utf8), Array($1.path.utf8)) }
        let header = EntryHeaders.encode(entries[1], subSecondMtimes: false)
        #expect(header.count == 512, "no pax header for a device number")
        #expect(Array(header[329..<337]) == [0x80, 0, 0, 0, 0x00, 0x2d, 0xc6, 0xc0], "3000000 in base-256")
        #expect(Array(header[337..<345]) == [0x80, 0, 0, 0, 0x77, 0x35, 0x94, 0x00], "2000000000 in base-256")
        let small = EntryHeaders.encode(
            ArchiveEntry(path: "n", kind: .characterDevice, mode: 0o666, mtime: Self.time, device: Self.nullDevice),
            subSecondMtimes: false)
        #expect(Array(small[329..<345]) == Array("0000001\00000003\0".utf8), "octal as ustar has it")

        // The hard link sorts before its target here: the writer refuses it (the target must come first).
        let refusing = try SeekableTarWriter(output: temp.sub("refused.tar.gz"))
        for entry in entries.prefix(2) { try refusing.append(entry, contentsOf: nil) }
        TOCFormat2Tests.expectInvalidEntry("d/link", containing: "not an earlier file entry") { () throws(ArchiveError) in
            try refusing.append(entries[2], contentsOf: nil)
        }

        let archive = temp.sub("v1.tar.gz")
        let writer = try SeekableTarWriter(output: archive)
        let target = ArchiveEntry(
            path: "d/a" + String(repeating: "n", count: 150), kind: .file, mode: 0o644, mtime: Self.time, links: 2)
        for entry in [entries[0], target, entries[1]] { try writer.append(entry, contentsOf: nil) }
        try writer.append(
            ArchiveEntry(path: "d/link", kind: .hardLink, mode: 0o644, mtime: Self.time, linkTarget: target.path),
            contentsOf: nil)
        let toc = try writer.finish()
        #expect(toc.entries.last?.linkTarget == target.path && toc.formatVersion == 3)
        let listed = try Shell.run("tar -tvzf \(Shell.quote(archive.string))")
        let listing = listed.stdout
        #expect(listing.contains("3000000,2000000000"), "\(listing)")
        #expect(listed.stderr.isEmpty, "\(listed.stderr)")
        #expect(listing.contains("d/link link to \(target.path)"), "\(listing)")
        let out = temp.sub("extracted")
        try Shell.run(
            "mkdir \(Shell.quote(out.string)) && tar -xzf \(Shell.quote(archive.string)) -C \(Shell.quote(out.string)) --exclude d/big-numbers")
        let inodes = try Shell.run(
            "stat -c %i \(Shell.quote(out.appending(target.path).string)) \(Shell.quote(out.appending("d/link").string))"
        ).stdout.split(separator: "\n")
        #expect(inodes.count == 2 && inodes[0] == inodes[1], "\(inodes)")
    }

    // MARK: Reused members

    @Test func copyingEveryMemberKeepsHardLinksAndFormat3() throws {
        let temp = try TemporaryDirectory("links-reuse")
        let first = try Self.writeArchive(temp.sub("v1.tar.gz"), scratch: temp, options: .snapshot)
        let previous = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? previous.close() }

        let writer = try SeekableTarWriter(output: temp.sub("v2.tar.gz"), options: .snapshot)
        for group in MemberGroups.of(first.entries) {
            try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous)
        }
        let second = try writer.finish()
        #expect(second == first && second.formatVersion == 3)

        // A hard link copied without the file it names is refused, and the writer goes on.
        let partial = try SeekableTarWriter(output: temp.sub("v3.tar.gz"), options: .snapshot)
        let withoutTarget = first.entries.filter { $0.path != "docs/a.txt" && $0.path.hasPrefix("docs") }
        let hardLink = try #require(withoutTarget.first { $0.type == .hardLink })
        let range = hardLink.members[0].byteRange
        try partial.append(ArchiveEntry(path: "docs", kind: .directory, mode: 0o755, mtime: Self.time), contentsOf: nil)
        TOCFormat2Tests.expectInvalidEntry("docs/b.txt", containing: "not an earlier file entry") { () throws(ArchiveError) in
            try partial.appendReused([hardLink], byteRange: range, from: previous)
        }
        #expect(try partial.finish().formatVersion == 2, "nothing of format 3 was written")
    }

    static func sha256(_ path: FilePath) throws -> String {
        let descriptor = try FileDescriptor.open(path, .readOnly)
        defer { try? descriptor.close() }
        return try FileDigest.sha256(of: descriptor, path: path.string)
    }
}
