// An extended attribute carried by an archive entry: in the tar stream as a pax
// `SCHILY.xattr.<name>` record (what GNU tar writes and reads with --xattrs), in the TOC as
// format 4's attribute list.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One extended attribute of an entry. Both parts are bytes: a name is 1 to 255 bytes without
/// NUL (codebegenfs stores `user.*` only); a value is up to 64 KiB of anything, NUL included.
public struct ArchiveXattr: Hashable, Sendable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// The largest value Linux's VFS accepts (XATTR_SIZE_MAX).
    public static let maxValueBytes = 65_536
    public static let maxNameBytes = 255

    /// Why an entry's attribute list cannot be stored, or nil: names in range, unique and in
    /// byte order (one canonical list per set, so equal sets compare equal).
    static func problem(_ xattrs: [ArchiveXattr]) -> String? {
        var previous: [UInt8]?
        for xattr in xattrs {
            let name = NameBytes.text(xattr.name)
            guard !xattr.name.isEmpty, xattr.name.count <= maxNameBytes else {
                return "extended attribute name '\(name)' is not 1 to \(maxNameBytes) bytes"
            }
            guard !xattr.name.contains(0) else { return "extended attribute name '\(name)' contains a NUL byte" }
            guard xattr.value.count <= maxValueBytes else {
                return "extended attribute '\(name)' has a value over \(maxValueBytes) bytes"
            }
            if let previous, !previous.lexicographicallyPrecedes(xattr.name) {
                return "extended attributes must come once each, in byte order of their names ('\(name)')"
            }
            previous = xattr.name
        }
        return nil
    }
}

/// JSON (format 1 and `codebegenfs toc`): `{"name": ..., "value_base64": ...}`, with
/// `name_base64` instead of `name` for a name that is not UTF-8. Values are always base64:
/// they are bytes more often than text.
extension ArchiveXattr: Codable {
    enum CodingKeys: String, CodingKey {
        case name
        case nameBase64 = "name_base64"
        case valueBase64 = "value_base64"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func base64(_ key: CodingKeys) throws -> [UInt8]? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.stringValue) is not base64")
            }
            return Array(data)
        }
        let plain = try container.decodeIfPresent(String.self, forKey: .name).map { Array($0.utf8) }
        guard let name = try plain ?? base64(.nameBase64) else {
            throw DecodingError.keyNotFound(
                CodingKeys.name, .init(codingPath: container.codingPath, debugDescription: "no name or name_base64"))
        }
        guard let value = try base64(.valueBase64) else {
            throw DecodingError.keyNotFound(
                CodingKeys.valueBase64, .init(codingPath: container.codingPath, debugDescription: "no value_base64"))
        }
        self.init(name: name, value: value)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if NameBytes.isUTF8(name) {
            try container.encode(NameBytes.text(name), forKey: .name)
        } else {
            try container.encode(Data(name).base64EncodedString(), forKey: .nameBase64)
        }
        try container.encode(Data(value).base64EncodedString(), forKey: .valueBase64)
    }
}
