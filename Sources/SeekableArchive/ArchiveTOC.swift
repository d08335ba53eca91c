// The archive's table of contents: entries, their gzip members' byte ranges, JSON encoding and checks.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The TOC stored beside an archive (`v<n>.toc.json`). Format: docs/STORAGE_FORMAT.md.
public struct ArchiveTOC: Codable, Equatable, Sendable {
    public static let currentFormatVersion = 1

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

    /// Compact JSON with sorted keys (the same TOC always encodes to the same bytes).
    public func encodeJSON() throws(ArchiveError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            throw .invalidTOC(reason: "cannot encode: \(error)")
        }
    }

    /// Decodes and checks a TOC; a newer `format_version` throws ``ArchiveError/unsupportedFormatVersion(_:)``.
    public static func decode(from bytes: [UInt8]) throws(ArchiveError) -> ArchiveTOC {
        struct VersionOnly: Decodable {
            var formatVersion: Int
            enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
        }
        let data = Data(bytes)
        let decoder = JSONDecoder()
        let version: Int
        do {
            version = try decoder.decode(VersionOnly.self, from: data).formatVersion
        } catch {
            throw .invalidTOC(reason: "no readable format_version: \(error)")
        }
        guard version == currentFormatVersion else { throw .unsupportedFormatVersion(version) }
        let toc: ArchiveTOC
        do {
            toc = try decoder.decode(ArchiveTOC.self, from: data)
        } catch {
            throw .invalidTOC(reason: "\(error)")
        }
        try toc.validate()
        return toc
    }

    /// Checks what the reader relies on: file members cover the data in order, ranges lie in the archive.
    public func validate() throws(ArchiveError) {
        guard formatVersion == Self.currentFormatVersion else { throw .unsupportedFormatVersion(formatVersion) }
        guard endMember.byteRange.upperBound <= archiveSize else {
            throw .invalidTOC(reason: "end member lies outside the archive")
        }
        for entry in entries {
            var expectedOffset: UInt64 = 0
            for member in entry.members {
                let (end, overflow) = member.offset.addingReportingOverflow(member.length)
                guard !overflow, end <= archiveSize, member.length > 0 else {
                    throw .invalidTOC(reason: "member of '\(entry.path)' lies outside the archive")
                }
                guard member.dataOffset == expectedOffset else {
                    throw .invalidTOC(reason: "members of '\(entry.path)' do not cover its data in order")
                }
                expectedOffset += member.dataLength
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
}
