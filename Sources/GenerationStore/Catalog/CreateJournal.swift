// The create journal (`catalog.creates` beside the catalog). Creates, attribute changes, unlinks,
// rmdirs and renames write their rows inside a transaction that stays open across many changes
// (one WAL commit per batch instead of one per change: Catalog.writeBatched). The rows of each
// change are appended here first, one write(2), so a kill -9 before the batch commits loses
// nothing: the next mount writes the rows of every batch the catalog has not recorded as committed.
import Foundation
import SystemPackage

/// One written row (a removed node has no parent and no name), in the batch whose commit makes it
/// durable in the catalog.
struct JournalEntry: Equatable, Sendable {
    var batch: Int64
    var node: Node
}

final class CreateJournal: Sendable {
    private let descriptor: FileDescriptor

    init(path: FilePath) throws {
        descriptor = try FileDescriptor.open(
            path, .readWrite, options: [.create, .append, .closeOnExec], permissions: [.ownerReadWrite])
    }

    deinit { try? descriptor.close() }

    /// Appends the entries of one change with a single write, so that a killed process leaves
    /// them whole or absent.
    func append(_ entries: [JournalEntry]) throws {
        var record: [UInt8] = []
        record.reserveCapacity(entries.count * 192)
        for entry in entries { Self.encode(entry, into: &record) }
        let written = try record.withUnsafeBytes { try descriptor.write($0) }
        guard written == record.count else { throw Errno.ioError }
    }

    /// Every whole entry, in the order written; reading stops at the first damaged record.
    func entries() throws -> [JournalEntry] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try descriptor.read(fromAbsoluteOffset: Int64(bytes.count), into: $0) }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return Self.decode(bytes)
    }

    /// Empties the journal once its batches are committed.
    func clear() throws { try descriptor.resize(to: 0) }

    // MARK: - Record format

    // A record: "CBJ2", payload length (UInt32), FNV-1a 64 of the payload, payload. The payload:
    // batch, id, parent id, version id (0 = none), mode, uid, gid, size, atime, mtime, ctime,
    // then role, name, link target and archive path as length-prefixed bytes (UInt32.max = nil),
    // then nlink (UInt32), rdev and inode id (0 = none). Integers are little-endian. "CBJ1"
    // records (before hard links and special files) end after the archive path.
    private static let magic: [UInt8] = Array("CBJ2".utf8)
    private static let magicBeforeLinks: [UInt8] = Array("CBJ1".utf8)

    static func encode(_ entry: JournalEntry) -> [UInt8] {
        var record: [UInt8] = []
        encode(entry, into: &record)
        return record
    }

    /// Appends the record of `entry` to `record`, written in place (a create journals one per file).
    static func encode(_ entry: JournalEntry, into record: inout [UInt8]) {
        let node = entry.node
        let start = record.count
        record.append(contentsOf: magic)
        record.appendInteger(UInt32(0))  // payload length and checksum, set once the payload is written
        record.appendInteger(UInt64(0))
        let payloadStart = record.count
        record.appendInteger(entry.batch)
        record.appendInteger(node.id ?? 0)
        record.appendInteger(node.parentID ?? 0)
        record.appendInteger(node.versionID ?? 0)
        record.appendInteger(node.mode)
        record.appendInteger(node.uid)
        record.appendInteger(node.gid)
        record.appendInteger(node.size)
        record.appendInteger(node.atimeNs)
        record.appendInteger(node.mtimeNs)
        record.appendInteger(node.ctimeNs)
        record.appendBytes(node.role.rawValue.utf8)
        record.appendBytes(node.name)
        record.appendBytes(node.linkTarget)
        record.appendBytes(node.archivePath)
        record.appendInteger(node.links)
        record.appendInteger(node.rdev)
        record.appendInteger(node.inodeID ?? 0)
        let checksum = fnv1a(record[payloadStart...])
        record.setInteger(UInt32(record.count - payloadStart), at: start + magic.count)
        record.setInteger(checksum, at: start + magic.count + 4)
    }

    static func decode(_ bytes: [UInt8]) -> [JournalEntry] {
        var entries: [JournalEntry] = []
        var reader = ByteReader(remaining: bytes[...])
        while let header = reader.take(magic.count), Array(header) == magic || Array(header) == magicBeforeLinks,
            let length: UInt32 = reader.integer(), let checksum: UInt64 = reader.integer(),
            let payload = reader.take(Int(length)), fnv1a(payload) == checksum,
            let entry = entry(from: payload, withLinks: Array(header) == magic)
        {
            entries.append(entry)
        }
        return entries
    }

    private static func entry(from payload: ArraySlice<UInt8>, withLinks: Bool) -> JournalEntry? {
        var reader = ByteReader(remaining: payload)
        guard let batch: Int64 = reader.integer(), let id: Int64 = reader.integer(),
            let parentID: Int64 = reader.integer(), let versionID: Int64 = reader.integer(),
            let mode: UInt32 = reader.integer(), let uid: UInt32 = reader.integer(), let gid: UInt32 = reader.integer(),
            let size: Int64 = reader.integer(), let atime: Int64 = reader.integer(),
            let mtime: Int64 = reader.integer(), let ctime: Int64 = reader.integer(),
            let roleBytes = reader.bytes(), let role = roleBytes.flatMap({ NodeRole(rawValue: String(decoding: $0, as: UTF8.self)) }),
            let name = reader.bytes(), let linkTarget = reader.bytes(), let archivePath = reader.bytes()
        else { return nil }
        var node = Node(
            id: id, parentID: parentID == 0 ? nil : parentID, name: name, role: role, mode: mode, uid: uid, gid: gid,
            size: size, atimeNs: atime, mtimeNs: mtime, ctimeNs: ctime, linkTarget: linkTarget,
            versionID: versionID == 0 ? nil : versionID, archivePath: archivePath)
        if withLinks {
            guard let links: UInt32 = reader.integer(), let rdev: UInt64 = reader.integer(),
                let inodeID: Int64 = reader.integer()
            else { return nil }
            node.links = links
            node.rdev = rdev
            node.inodeID = inodeID == 0 ? nil : inodeID
        } else if parentID == 0 && role != .root {
            node.links = 0  // a CBJ1 removal
        }
        return JournalEntry(batch: batch, node: node)
    }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

private extension [UInt8] {
    mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func setInteger<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes in
            for (index, byte) in bytes.enumerated() { self[offset + index] = byte }
        }
    }

    mutating func appendBytes<Bytes: Collection<UInt8>>(_ bytes: Bytes?) {
        guard let bytes else { return appendInteger(UInt32.max) }
        appendInteger(UInt32(bytes.count))
        append(contentsOf: bytes)
    }
}

/// Reads a record's fields front to back; nil once the bytes run out.
private struct ByteReader {
    var remaining: ArraySlice<UInt8>

    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining.count >= count else { return nil }
        defer { remaining = remaining.dropFirst(count) }
        return remaining.prefix(count)
    }

    mutating func integer<T: FixedWidthInteger>() -> T? {
        guard let raw = take(MemoryLayout<T>.size) else { return nil }
        return raw.reversed().reduce(T.zero) { $0 << 8 | T($1) }
    }

    /// Length-prefixed bytes: .some(nil) for an absent value, nil when the bytes run out.
    mutating func bytes() -> Data?? {
        guard let length: UInt32 = integer() else { return nil }
        if length == UInt32.max { return .some(nil) }
        return take(Int(length)).map { .some(Data($0)) }
    }
}
