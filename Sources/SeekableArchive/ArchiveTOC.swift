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
    public static let currentFormatVersion = 2
    /// The versions ``decode(from:)`` and ``validate()`` accept.
    public static let readableFormatVersions: ClosedRange<Int> = 1...2

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

    public struct Entry: Codable, Equatable, Sendable {
        public var path: String
        public var type: ArchiveEntry.Kind
        public var mode: UInt32
        public var size: UInt64
        public var mtime: ArchiveTimestamp
        public var linkTarget: String?
        /// Lowercase hex sha256 of the content; regular files only.
        public var sha256: String?
        /// Members in data order. Files: they cover `0..<size` without gaps. Directories and
        /// symlinks: the one member holding their header, with no data.
        public var members: [Member]

        enum CodingKeys: String, CodingKey {
            case path, type, mode, size, mtime, sha256, members
            case linkTarget = "link_target"
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
    }

    /// The checks of one entry, shared by ``validate()`` and ``TOCFileReader``: members lie in the
    /// archive and cover a file's data in order, files have a sha256, symlinks a target, and the
    /// mtime's nanoseconds are below one second.
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
            guard entry.linkTarget != nil else {
                throw .invalidTOC(reason: "symlink '\(entry.path)' has no link_target")
            }
        case .directory:
            break
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
