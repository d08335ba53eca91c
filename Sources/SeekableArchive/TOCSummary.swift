// Everything of a TOC except its entries: what a format-2 footer holds besides its block index.

/// The archive-wide fields of a TOC. In format 2 they live in the footer, so a reader has them
/// (and the entry count) after fetching the file's tail, before any entry.
public struct TOCSummary: Codable, Equatable, Sendable {
    /// What ``TOCFileWriter`` writes: 2, or 3 when an entry needs format 3 (hard links, FIFOs,
    /// devices, files with several names, names that are not UTF-8).
    public var formatVersion: Int
    /// Uncompressed data bytes per member for large files.
    public var chunkSize: UInt64
    public var archiveSize: UInt64
    public var archiveSHA256: String
    /// The member holding the two zero blocks that end the tar stream.
    public var endMember: ArchiveTOC.Member
    /// The version's metadata (its `user.*` xattrs, names without `user.`) whose values are UTF-8.
    public var metadata: [String: String]?
    /// Metadata values that are not UTF-8, base64: xattr values are any bytes.
    public var metadataBase64: [String: String]? = nil
    public var entryCount: UInt64

    public init(
        formatVersion: Int,
        chunkSize: UInt64,
        archiveSize: UInt64,
        archiveSHA256: String,
        endMember: ArchiveTOC.Member,
        metadata: [String: String]?,
        entryCount: UInt64
    ) {
        self.formatVersion = formatVersion
        self.chunkSize = chunkSize
        self.archiveSize = archiveSize
        self.archiveSHA256 = archiveSHA256
        self.endMember = endMember
        self.metadata = metadata
        self.entryCount = entryCount
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case chunkSize = "chunk_size"
        case archiveSize = "archive_size"
        case archiveSHA256 = "archive_sha256"
        case endMember = "end_member"
        case metadata
        case metadataBase64 = "metadata_base64"
        case entryCount = "entry_count"
    }

    /// The checks that do not need entries: a version this build reads, the end member inside the archive.
    public func validate() throws(ArchiveError) {
        guard ArchiveTOC.readableFormatVersions.contains(formatVersion) else {
            throw .unsupportedFormatVersion(formatVersion)
        }
        let (end, overflow) = endMember.offset.addingReportingOverflow(endMember.length)
        guard !overflow, end <= archiveSize else {
            throw .invalidTOC(reason: "end member lies outside the archive")
        }
    }
}
