// The JSON both TOC formats use: format 1 is a JSON document, format 2's footer is one.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

enum TOCJSON {
    private struct VersionOnly: Decodable {
        var formatVersion: Int
        enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
    }

    /// Compact, keys sorted: the same value always encodes to the same bytes. `what` names it in errors.
    static func encode(_ value: some Encodable, what: String) throws(ArchiveError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .invalidTOC(reason: "cannot encode \(what): \(error)")
        }
    }

    /// Reads `format_version` first and checks it, then decodes the whole value, so that a
    /// document of another version says so instead of failing on a field it lacks.
    static func decode<T: Decodable>(
        _ type: T.Type, from bytes: [UInt8], versions: ClosedRange<Int>, what: String
    ) throws(ArchiveError) -> T {
        let data = Data(bytes)
        let decoder = JSONDecoder()
        let version: Int
        do {
            version = try decoder.decode(VersionOnly.self, from: data).formatVersion
        } catch {
            throw .invalidTOC(reason: "\(what) has no readable format_version: \(error)")
        }
        guard versions.contains(version) else { throw .unsupportedFormatVersion(version) }
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw .invalidTOC(reason: "\(what): \(error)")
        }
    }
}
