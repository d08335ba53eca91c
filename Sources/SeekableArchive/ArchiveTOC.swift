// The archive's table of contents: entries, their gzip members' byte ranges, format-1 JSON and checks.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The TOC stored beside an archive as `v<n>.toc.json`: format 1 (one JSON document) or format 2
/// (blocks of binary records, see ``TOCFileWriter``). Formats: docs/STORAGE_FORMAT.md.
///
/// This is the whole TOC in memory. For a million entries, stream instead: ``TOCFileWriter``
/// (a ``TOCEntrySink``), ``TOCFileReader``, and ``TOCFileIndex`` to find one entry.
public struct ArchiveTOC: Codable, Equatable, Sendable {
    /// What writers stamp on a TOC whose entries format 2 can hold: files with one name,
    /// directories and symlinks. Older builds read it.
    public static let currentFormatVersion = 2
    /// What writers stamp instead when an entry needs format 3: a hard link, a FIFO, a device
    /// node, a file with `links` (more than one name), or a path or link target that is not UTF-8.
    public static let linksDevicesAndByteNamesFormatVersion = 3
    /// What writers stamp when an entry has extended attributes (format 3's records, plus a list
    /// of attributes on those records that have some).
    public static let xattrsFormatVersion = 4
    /// What a TOC file says when a block was copied from an earlier TOC with its members moved
    /// (a block with a `member_base`): format 4's records, plus that footer field.
    public static let copiedBlocksFormatVersion = 5
    /// The versions ``decode(from:)`` and ``validate()`` accept.
    public static let readableFormatVersions: ClosedRange<Int> = 1...5

    /// One gzip member, or the part of one that belongs to an entry.
    public struct Member: Codable, Equatable, Sendable {
        /// Offset of the member's first byte in the archive.
        public var offset: UInt64
        /// Compressed length of the whole member.
        public var length: UInt64
        /// Where this member's share of the file's data starts within the file.
        public var dataOffset: UInt64
        /// How many bytes of the file's data the member holds.
        public var dataLength: UInt64
        /// Uncompressed bytes in the member before that data (tar headers, and earlier entries
        /// if the member is shared).
        public var dataStart: UInt64

        public init(offset: UInt64, length: UInt64, dataOffset: UInt64, dataLength: UInt64, dataStart: UInt64) {
            self.offset = offset
            self.length = length
            self.dataOffset = dataOffset
            self.dataLength = dataLength
            self.dataStart = dataStart
        }

        /// The member's compressed bytes in the archive.
        public var byteRange: Range<UInt64> { offset..<(offset + length) }

        enum CodingKeys: String, CodingKey {
            case offset, length
            case dataOffset = "data_offset"
            case dataLength = "data_length"
            case dataStart = "data_start"
        }
    }

    /// One entry of the TOC. Names are bytes, as in ``ArchiveEntry``: ``pathBytes`` and
    /// ``linkTargetBytes`` are stored and compared; ``path`` and ``linkTarget`` are their UTF-8
    /// views (lossy for names that are not UTF-8). JSON: ArchiveTOC+EntryCoding.swift.
    public struct Entry: Equatable, Sendable, BytePathed {
        public var pathBytes: [UInt8]
        public var type: ArchiveEntry.Kind
        public var mode: UInt32
        public var size: UInt64
        public var mtime: ArchiveTimestamp
        /// Symlinks: the target. Hard links: the path of the earlier `.file` entry carrying the data.
        public var linkTargetBytes: [UInt8]?
        /// Lowercase hex sha256 of the content; regular files only.
        public var sha256: String?
        /// Members in data order. Files: they cover `0..<size` without gaps. Other kinds: the one
        /// member holding their header, with no data.
        public var members: [Member]
        /// Character and block devices only.
        public var device: ArchiveDevice?
        /// Files only: the names the file's inode has in the version, when more than one (nil means 1).
        public var links: UInt32?
        /// Extended attributes in byte order of their names; none on hard link entries.
        public var xattrs: [ArchiveXattr]

        public init(
            pathBytes: [UInt8], type: ArchiveEntry.Kind, mode: UInt32, size: UInt64, mtime: ArchiveTimestamp,
            linkTargetBytes: [UInt8]? = nil, sha256: String? = nil, members: [Member], device: ArchiveDevice? = nil,
            links: UInt32? = nil, xattrs: [ArchiveXattr] = []
        ) {
            self.pathBytes = pathBytes
            self.type = type
            self.mode = mode
            self.size = size
            self.mtime = mtime
            self.linkTargetBytes = linkTargetBytes
            self.sha256 = sha256
            self.members = members
            self.device = device
            self.links = links
            self.xattrs = xattrs
        }

        public init(
            path: String, type: ArchiveEntry.Kind, mode: UInt32, size: UInt64, mtime: ArchiveTimestamp,
            linkTarget: String? = nil, sha256: String? = nil, members: [Member], device: ArchiveDevice? = nil,
            links: UInt32? = nil, xattrs: [ArchiveXattr] = []
        ) {
            self.init(
                pathBytes: Array(path.utf8), type: type, mode: mode, size: size, mtime: mtime,
                linkTargetBytes: linkTarget.map { Array($0.utf8) }, sha256: sha256, members: members,
                device: device, links: links, xattrs: xattrs)
        }

        /// True when the path and the link target (if any) are valid UTF-8, which format 2 requires.
        var namesAreUTF8: Bool {
            NameBytes.isUTF8(pathBytes) && (linkTargetBytes.map { NameBytes.isUTF8($0) } ?? true)
        }

        /// The oldest format that holds this entry: 4 with extended attributes; 3 for a format-3
        /// kind, `links`, or a name that is not UTF-8; else 2.
        var formatVersionNeeded: Int {
            if !xattrs.isEmpty { return ArchiveTOC.xattrsFormatVersion }
            if type.needsFormat3 || links != nil || !namesAreUTF8 { return ArchiveTOC.linksDevicesAndByteNamesFormatVersion }
            return ArchiveTOC.currentFormatVersion
        }
    }

    public var formatVersion: Int
    /// Uncompressed data bytes per member for large files (4 MiB).
    public var chunkSize: UInt64
    public var archiveSize: UInt64
    public var archiveSHA256: String
    /// In archive order: parents before children.
    public var entries: [Entry]
    /// The last member: the two zero blocks that end a tar stream.
    public var endMember: Member
    /// Key/value metadata of the whole archive (codebegenfs: the version's `user.*` xattrs, without
    /// the prefix). Optional: absent from TOCs that have none.
    public var metadata: [String: String]?

    enum CodingKeys: String, CodingKey {
        case entries
        case formatVersion = "format_version"
        case chunkSize = "chunk_size"
        case archiveSize = "archive_size"
        case archiveSHA256 = "archive_sha256"
        case endMember = "end_member"
        case metadata
    }

    /// Everything but the entries (`entryCount` is `entries.count`).
    public var summary: TOCSummary {
        TOCSummary(
            formatVersion: formatVersion,
            chunkSize: chunkSize,
            archiveSize: archiveSize,
            archiveSHA256: archiveSHA256,
            endMember: endMember,
            metadata: metadata,
            entryCount: UInt64(entries.count)
        )
    }

    /// Format 1: compact JSON with sorted keys (the same TOC always encodes to the same bytes).
    /// `format_version` is whatever ``formatVersion`` holds: set it to 1 for a file older builds read.
    public func encodeJSON() throws(ArchiveError) -> [UInt8] { try TOCJSON.encode(self, what: "the TOC") }

    /// Decodes and checks a TOC of either format: format 2 is recognised by its trailer, anything
    /// else is read as format-1 JSON. A `format_version` this build does not read throws
    /// ``ArchiveError/unsupportedFormatVersion(_:)``.
    ///
    /// JSON holding `format_version` 2 is accepted too: it is what ``encodeJSON()`` makes of a
    /// TOC fresh from ``SeekableTarWriter`` (which stamps ``currentFormatVersion``).
    public static func decode(from bytes: [UInt8]) throws(ArchiveError) -> ArchiveTOC {
        if TOCFooter.hasTrailer(bytes) { return try decodeFormat2(bytes) }
        let toc = try TOCJSON.decode(ArchiveTOC.self, from: bytes, versions: readableFormatVersions, what: "the TOC")
        try toc.validate()
        return toc
    }

    /// Checks what the reader relies on: a readable version, ranges in the archive, and every
    /// entry (``validate(_:archiveSize:)``). Does not check the order of entries.
    public func validate() throws(ArchiveError) {
        try summary.validate()
        for entry in entries { try Self.validate(entry, archiveSize: archiveSize) }
        try Self.validateHardLinkTargets(entries)
    }

    /// Each hard link names an earlier `.file` entry. Costs one pass when there are no hard links.
    static func validateHardLinkTargets(_ entries: [Entry]) throws(ArchiveError) {
        let targets = Set(entries.lazy.filter { $0.type == .hardLink }.compactMap(\.linkTargetBytes))
        guard !targets.isEmpty else { return }
        var filesSeen: Set<[UInt8]> = []
        for entry in entries {
            switch entry.type {
            case .file where targets.contains(entry.pathBytes):
                filesSeen.insert(entry.pathBytes)
            case .hardLink:
                guard let target = entry.linkTargetBytes, filesSeen.contains(target) else {
                    throw .invalidTOC(
                        reason: "hard link '\(entry.path)' names '\(entry.linkTarget ?? "")', not an earlier file entry")
                }
            default:
                break
            }
        }
    }

    /// The checks of one entry, shared by ``validate()`` and ``TOCFileReader``: members lie in the
    /// archive and cover a file's data in order, files have a sha256, symlinks and hard links a
    /// target, devices (and nothing else) a device number, `links` only on files and at least 2,
    /// and the mtime's nanoseconds are below one second. Whether a hard link's target is an
    /// earlier file takes the whole TOC: ``validate()`` checks it.
    public static func validate(_ entry: Entry, archiveSize: UInt64) throws(ArchiveError) {
        var expectedOffset: UInt64 = 0
        for member in entry.members {
            let (end, overflow) = member.offset.addingReportingOverflow(member.length)
            guard !overflow, end <= archiveSize, member.length > 0 else {
                throw .invalidTOC(reason: "member of '\(entry.path)' lies outside the archive")
            }
            guard member.dataOffset == expectedOffset else {
                throw .invalidTOC(reason: "members of '\(entry.path)' do not cover its data in order")
            }
            let (next, tooLarge) = expectedOffset.addingReportingOverflow(member.dataLength)
            guard !tooLarge else { throw .invalidTOC(reason: "members of '\(entry.path)' hold more than 2^64 bytes") }
            expectedOffset = next
        }
        guard (0..<1_000_000_000).contains(entry.mtime.nanoseconds) else {
            throw .invalidTOC(reason: "mtime nanoseconds of '\(entry.path)' are not in 0..<1000000000")
        }
        switch entry.type {
        case .file:
            guard expectedOffset == entry.size, !entry.members.isEmpty else {
                throw .invalidTOC(
                    reason: "members of '\(entry.path)' hold \(expectedOffset) of \(entry.size) bytes"
                )
            }
            guard let sha = entry.sha256, sha.utf8.count == 64,
                sha.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else {
                throw .invalidTOC(reason: "file '\(entry.path)' has no valid sha256")
            }
        case .symlink:
            guard entry.linkTargetBytes != nil else {
                throw .invalidTOC(reason: "symlink '\(entry.path)' has no link_target")
            }
        case .hardLink:
            guard let target = entry.linkTargetBytes, !target.isEmpty else {
                throw .invalidTOC(reason: "hard link '\(entry.path)' has no link_target")
            }
        case .directory, .fifo, .characterDevice, .blockDevice:
            break
        }
        try validateFormat3Fields(entry)
        if let problem = ArchiveXattr.problem(entry.xattrs) { throw .invalidTOC(reason: "'\(entry.path)': \(problem)") }
        if entry.type == .hardLink, !entry.xattrs.isEmpty {
            throw .invalidTOC(reason: "hard link '\(entry.path)' has extended attributes; its file's entry carries them")
        }
    }

    /// The rules of the fields and kinds format 3 added.
    private static func validateFormat3Fields(_ entry: Entry) throws(ArchiveError) {
        let kind = entry.type.rawValue
        if entry.type.isDevice {
            guard entry.device != nil else { throw .invalidTOC(reason: "\(kind) '\(entry.path)' has no device") }
        } else {
            guard entry.device == nil else {
                throw .invalidTOC(reason: "\(kind) '\(entry.path)' has a device; only chardev and blockdev do")
            }
        }
        if let links = entry.links {
            guard entry.type == .file else {
                throw .invalidTOC(reason: "\(kind) '\(entry.path)' has links; only a file does")
            }
            guard links >= 2 else {
                throw .invalidTOC(reason: "file '\(entry.path)' has links \(links); it is given only when 2 or more")
            }
        }
        if entry.type.needsFormat3 {
            guard entry.size == 0, entry.sha256 == nil else {
                throw .invalidTOC(reason: "\(kind) '\(entry.path)' has a size or a sha256; it has no content")
            }
            guard entry.type == .hardLink || entry.linkTargetBytes == nil else {
                throw .invalidTOC(reason: "\(kind) '\(entry.path)' has a link_target")
            }
        }
    }
}

extension ArchiveTOC {
    /// A whole TOC from its summary and its entries (`entryCount` is not kept: it is `entries.count`).
    public init(summary: TOCSummary, entries: [Entry]) {
        self.init(
            formatVersion: summary.formatVersion, chunkSize: summary.chunkSize, archiveSize: summary.archiveSize,
            archiveSHA256: summary.archiveSHA256, entries: entries, endMember: summary.endMember,
            metadata: summary.metadata)
    }
}
