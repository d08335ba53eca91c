// The end of a format-2 TOC: the footer's JSON (summary and block index) and the 16-byte trailer.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The footer JSON: the summary's fields and `blocks`, in one object with sorted keys.
struct TOCFooter: Codable {
    /// Bytes after the footer: its offset as UInt64 little-endian, then ``magic``.
    static let trailerLength = 16
    static let magic = Array("CBFSTOC2".utf8)

    var summary: TOCSummary
    var blocks: [TOCFileIndex.Block]

    init(summary: TOCSummary, blocks: [TOCFileIndex.Block]) {
        self.summary = summary
        self.blocks = blocks
    }

    /// One element of `blocks`; `first_path` is base64 because paths are bytes.
    private struct BlockJSON: Codable {
        var offset: UInt64
        var length: UInt64
        var entries: Int
        var firstPath: String
        var membersStart: UInt64?
        /// Absent when 0, so a TOC without copied blocks reads in builds that know no format 5.
        var memberBase: Int64?

        enum CodingKeys: String, CodingKey {
            case offset, length, entries
            case firstPath = "first_path"
            case membersStart = "members_start"
            case memberBase = "member_base"
        }
    }

    private enum CodingKeys: String, CodingKey { case blocks }

    // The summary's keys and `blocks` share one JSON object: both encode into the same keyed container.
    init(from decoder: any Decoder) throws {
        summary = try TOCSummary(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var blocks: [TOCFileIndex.Block] = []
        for block in try container.decode([BlockJSON].self, forKey: .blocks) {
            guard let path = Data(base64Encoded: block.firstPath) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .blocks, in: container, debugDescription: "first_path is not base64")
            }
            blocks.append(
                TOCFileIndex.Block(
                    offset: block.offset, length: block.length, entries: block.entries, firstPath: Array(path),
                    membersStart: block.membersStart, memberBase: block.memberBase ?? 0))
        }
        self.blocks = blocks
    }

    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(
            blocks.map {
                BlockJSON(
                    offset: $0.offset, length: $0.length, entries: $0.entries,
                    firstPath: Data($0.firstPath).base64EncodedString(), membersStart: $0.membersStart,
                    memberBase: $0.memberBase == 0 ? nil : $0.memberBase)
            },
            forKey: .blocks
        )
    }

    /// Compact JSON with sorted keys.
    func encodeJSON() throws(ArchiveError) -> [UInt8] { try TOCJSON.encode(self, what: "the footer") }

    static func decode(json: [UInt8]) throws(ArchiveError) -> TOCFooter {
        try TOCJSON.decode(TOCFooter.self, from: json, versions: 2...ArchiveTOC.copiedBlocksFormatVersion, what: "footer")
    }

    static func trailer(footerOffset: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(trailerLength)
        for shift in stride(from: 0, to: 64, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: footerOffset >> UInt64(shift)))
        }
        return bytes + magic
    }

    /// The footer offset from the last 16 bytes of `tail`, nil when the magic is not there.
    static func footerOffset(trailerOf tail: [UInt8]) -> UInt64? {
        guard hasTrailer(tail) else { return nil }
        let start = tail.count - trailerLength
        var offset: UInt64 = 0
        for index in 0..<8 { offset |= UInt64(tail[start + index]) << UInt64(8 * index) }
        return offset
    }

    /// True when `bytes` end in a format-2 trailer (how ``ArchiveTOC/decode(from:)`` tells the formats apart).
    static func hasTrailer(_ bytes: [UInt8]) -> Bool {
        bytes.count >= trailerLength && bytes.suffix(magic.count).elementsEqual(magic)
    }
}
