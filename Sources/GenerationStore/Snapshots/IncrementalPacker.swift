// Decides, entry by entry, what a snapshot copies from an earlier archive (the version's own, or
// the previous version's) and what it compresses again.
import Foundation
import SeekableArchive
import SystemPackage

/// Feeds a snapshot's entries, in archive order, to the writer. A group of the earlier archive
/// (the entries of one shared gzip member, or one file with members of its own) whose entries
/// all come again, unchanged and in the same order, is copied as compressed bytes; everything
/// else is compressed from the blobs. With no earlier archive, everything is compressed.
final class IncrementalPacker {
    private let writer: SeekableTarWriter
    private let blobs: BlobStore
    private let previous: PreviousArchive?
    /// New entries that match the current group's first entries so far, not written yet.
    private var matched: [(path: [UInt8], node: Node)] = []

    init(writer: SeekableTarWriter, blobs: BlobStore, previous: PreviousArchive?) {
        self.writer = writer
        self.blobs = blobs
        self.previous = previous
    }

    func add(_ path: [UInt8], _ node: Node) throws {
        if !matched.isEmpty {
            if let group = previous?.current, isUnchanged(path, node, was: group.entries[matched.count]) {
                matched.append((path, node))
                if matched.count == group.entries.count { try reuse(group) }
                return
            }
            // The group changed: its entries seen so far are compressed again.
            for (path, node) in matched { try compress(path, node) }
            matched = []
        }
        guard let previous else { return try compress(path, node) }
        while let group = previous.current, ArchivePathOrder.areInIncreasingOrder(group.entries[0].path.utf8, path) {
            try previous.advance()
        }
        guard let group = previous.current, isUnchanged(path, node, was: group.entries[0]) else {
            return try compress(path, node)
        }
        matched = [(path, node)]
        if group.entries.count == 1 { try reuse(group) }
    }

    /// Writes what is still held back; call after the last entry.
    func finish() throws {
        for (path, node) in matched { try compress(path, node) }
        matched = []
    }

    private func reuse(_ group: MemberGroup) throws {
        guard let previous else { return }
        try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous.archive)
        matched = []
        try previous.advance()
    }

    private func compress(_ path: [UInt8], _ node: Node) throws {
        if node.archivePath != nil {
            throw FSError(.ioError, "\(String(decoding: path, as: UTF8.self)) is not local yet")
        }
        try writer.append(Self.entry(path, node), contentsOf: node.role == .file ? blobs.path(node.ino) : nil)
    }

    /// The entry was in the previous archive exactly as it is now: same header fields, and no
    /// change stamped on it (ctime) after that archive's snapshot, or, from the previous
    /// version's archive, the same content.
    private func isUnchanged(_ path: [UInt8], _ node: Node, was old: ArchiveTOC.Entry) -> Bool {
        guard let previous else { return false }
        if case .changedBefore(let snapshotNs) = previous.trust, node.ctimeNs > snapshotNs { return false }
        let new = Self.entry(path, node)
        guard old.path == new.path && old.type == new.kind && old.mode == new.mode & 0o7777 && old.mtime == new.mtime
            && old.size == new.size && old.linkTarget == new.linkTarget
        else { return false }
        guard case .sameContent = previous.trust, node.role == .file else { return true }
        return old.sha256 != nil && old.sha256 == contentDigest(node)
    }

    /// The sha256 of a file's blob, nil if it cannot be read (then it is compressed, and the
    /// compression reports why).
    private func contentDigest(_ node: Node) -> String? {
        let path = blobs.path(node.ino)
        guard let descriptor = try? FileDescriptor.open(path, .readOnly, options: .closeOnExec) else { return nil }
        defer { try? descriptor.close() }
        return try? FileDigest.sha256(of: descriptor, path: path.string)
    }

    static func entry(_ path: [UInt8], _ node: Node) -> ArchiveEntry {
        let mtime = Timespec(totalNanoseconds: node.mtimeNs)
        let kind: ArchiveEntry.Kind = switch node.role {
        case .file: .file
        case .symlink: .symlink
        default: .directory
        }
        return ArchiveEntry(
            path: String(decoding: path, as: UTF8.self), kind: kind, mode: node.mode,
            mtime: (mtime.seconds, Int32(mtime.nanoseconds)), size: node.role == .file ? UInt64(node.size) : 0,
            linkTarget: node.linkTarget.map { String(decoding: $0, as: UTF8.self) })
    }
}
