// The JSON of one TOC entry (format 1, and `codebegenfs toc`): names that are not UTF-8 go in base64.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A path or link target that is valid UTF-8 is a JSON string under `path` / `link_target`, as
/// always; any other is the base64 of its bytes under `path_base64` / `link_target_base64`
/// instead. Decoding takes either, not both. `xattrs` (format 4) is left out when empty.
extension ArchiveTOC.Entry: Codable {
    enum CodingKeys: String, CodingKey {
        case path, type, mode, size, mtime, sha256, members, device, links, xattrs
        case linkTarget = "link_target"
        case pathBase64 = "path_base64"
        case linkTargetBase64 = "link_target_base64"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard
            let path = try Self.decodeName(container, text: .path, base64: .pathBase64)
        else {
            throw DecodingError.keyNotFound(
                CodingKeys.path, .init(codingPath: container.codingPath, debugDescription: "no path or path_base64"))
        }
        self.init(
            pathBytes: path,
            type: try container.decode(ArchiveEntry.Kind.self, forKey: .type),
            mode: try container.decode(UInt32.self, forKey: .mode),
            size: try container.decode(UInt64.self, forKey: .size),
            mtime: try container.decode(ArchiveTimestamp.self, forKey: .mtime),
            linkTargetBytes: try Self.decodeName(container, text: .linkTarget, base64: .linkTargetBase64),
            sha256: try container.decodeIfPresent(String.self, forKey: .sha256),
            members: try container.decode([ArchiveTOC.Member].self, forKey: .members),
            device: try container.decodeIfPresent(ArchiveDevice.self, forKey: .device),
            links: try container.decodeIfPresent(UInt32.self, forKey: .links),
            xattrs: try container.decodeIfPresent([ArchiveXattr].self, forKey: .xattrs) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try Self.encodeName(pathBytes, &container, text: .path, base64: .pathBase64)
        try container.encode(type, forKey: .type)
        try container.encode(mode, forKey: .mode)
        try container.encode(size, forKey: .size)
        try container.encode(mtime, forKey: .mtime)
        if let linkTargetBytes {
            try Self.encodeName(linkTargetBytes, &container, text: .linkTarget, base64: .linkTargetBase64)
        }
        try container.encodeIfPresent(sha256, forKey: .sha256)
        try container.encode(members, forKey: .members)
        try container.encodeIfPresent(device, forKey: .device)
        try container.encodeIfPresent(links, forKey: .links)
        if !xattrs.isEmpty { try container.encode(xattrs, forKey: .xattrs) }
    }

    private static func encodeName(
        _ bytes: [UInt8], _ container: inout KeyedEncodingContainer<CodingKeys>, text: CodingKeys, base64: CodingKeys
    ) throws {
        if NameBytes.isUTF8(bytes) {
            try container.encode(NameBytes.text(bytes), forKey: text)
        } else {
            try container.encode(Data(bytes).base64EncodedString(), forKey: base64)
        }
    }

    private static func decodeName(
        _ container: KeyedDecodingContainer<CodingKeys>, text: CodingKeys, base64: CodingKeys
    ) throws -> [UInt8]? {
        let plain = try container.decodeIfPresent(String.self, forKey: text)
        let encoded = try container.decodeIfPresent(String.self, forKey: base64)
        switch (plain, encoded) {
        case (nil, nil):
            return nil
        case (let plain?, nil):
            return Array(plain.utf8)
        case (nil, let encoded?):
            guard let bytes = Data(base64Encoded: encoded) else {
                throw DecodingError.dataCorruptedError(
                    forKey: base64, in: container, debugDescription: "\(base64.stringValue) is not base64")
            }
            return Array(bytes)
        case (_?, _?):
            throw DecodingError.dataCorruptedError(
                forKey: base64, in: container,
                debugDescription: "both \(text.stringValue) and \(base64.stringValue) are given")
        }
    }
}
