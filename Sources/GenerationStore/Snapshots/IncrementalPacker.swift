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
    /// The node at a path of the version, for an entry copied as unchanged whose group must be
    /// compressed after all (the entries that follow the copied subtree broke it).
    private let nodeAt: ([UInt8]) throws -> Node?
    /// New entries that match the current group's first entries so far, not written yet.
    private var matched: [Pending] = []
    /// The last group passed without being copied: it may hold entries of subtrees still to
    /// come (small files and runs of directories share members across directories).
    private var passed: MemberGroup?
    /// The first path (in archive order) of each file with more than one name: later names are
    /// hard link entries to it. Holds only linked files.
    private var firstNames: [Int64: [UInt8]] = [:]
    /// Sockets met: an archive cannot hold them (nor can GNU tar's).
    private(set) var socketsLeftOut = 0

    private enum Pending {
        /// An entry made from the catalog.
        case walked(ArchiveEntry, Node)
        /// An entry of the previous archive known to be unchanged (``addUnchanged(_:)``).
        case unchanged(ArchiveTOC.Entry)
    }

    init(
        writer: SeekableTarWriter, blobs: BlobStore, previous: PreviousArchive?,
        nodeAt: @escaping ([UInt8]) throws -> Node?
    ) {
        self.writer = writer
        self.blobs = blobs
        self.previous = previous
        self.nodeAt = nodeAt
    }

    /// Adds the entry for one name (a file with hard links comes once per name) with the
    /// node's extended attributes.
    func add(_ path: [UInt8], _ node: Node, xattrs: [ArchiveXattr] = []) throws {
        if node.role == .socket {
            socketsLeftOut += 1
            return
        }
        let entry = entry(path, node, xattrs: xattrs)
        if !matched.isEmpty {
            if let group = previous?.current, isUnchanged(entry, node, was: group.entries[matched.count]) {
                matched.append(.walked(entry, node))
                if matched.count == group.entries.count { try reuse(group) }
                return
            }
            // The group changed: its entries seen so far are compressed again.
            try compressMatched()
        }
        guard let previous else { return try compress(entry, node) }
        try pass(groupsBefore: path, in: previous)
        guard let group = previous.current, isUnchanged(entry, node, was: group.entries[0]) else {
            return try compress(entry, node)
        }
        matched = [.walked(entry, node)]
        if group.entries.count == 1 { try reuse(group) }
    }

    /// Adds the entries of the previous archive in `range`, known to be unchanged without reading
    /// the catalog (``ChangedTree``), in their place in archive order. Runs of whole TOC blocks
    /// are copied with their members without decoding them; other groups wholly inside are copied
    /// without comparing their entries. Returns how many entries it added.
    func addUnchanged(_ range: UnchangedEntries) throws -> Int {
        guard let previous else { throw FSError(.ioError, "no previous archive to copy unchanged entries from") }
        var added = 0
        if let first = range.first {
            // What the previous archive holds before `first` and was not added is gone from the
            // version: a group holding some of it is compressed again.
            if let group = previous.current, !matched.isEmpty, group.entries[matched.count].pathBytes != first {
                try compressMatched()
            }
            if matched.isEmpty { try pass(groupsBefore: first, in: previous) }
        }
        // Entries of a group already passed are compressed again: their group is gone. (It may
        // hold several runs, so it is kept until a later group is copied.)
        if let inside = passed?.entries.filter({ range.contains($0.pathBytes) }), !inside.isEmpty {
            try compressMatched()  // nothing in practice: a match in progress would lie after them
            matched = inside.map { .unchanged($0) }
            added += inside.count
            try compressMatched()
        }
        while let group = previous.current {
            if matched.isEmpty, range.contains(group.entries[0].pathBytes),
                let blocks = previous.copyableBlocks(where: range.contains)
            {
                added += try previous.copy(blocks, into: writer)
                passed = nil
                continue
            }
            let start = matched.count
            var end = start
            while end < group.entries.count, range.contains(group.entries[end].pathBytes) { end += 1 }
            added += end - start
            if end == start { break }
            if start == 0 && end == group.entries.count {
                try reuse(group)
                continue
            }
            matched += group.entries[start..<end].map { .unchanged($0) }
            guard end == group.entries.count else { break }  // the group goes on past the range
            try reuse(group)
        }
        return added
    }

    /// Moves past the groups that start before `path` (none can be copied any more), keeping the
    /// last of them in `passed`.
    private func pass(groupsBefore path: [UInt8], in previous: PreviousArchive) throws {
        while let group = previous.current, ArchivePathOrder.areInIncreasingOrder(group.entries[0].pathBytes, path) {
            passed = group
            try previous.advance()
        }
    }

    /// Writes what is still held back; call after the last entry.
    func finish() throws { try compressMatched() }

    private func reuse(_ group: MemberGroup) throws {
        guard let previous else { return }
        try writer.appendReused(group.entries, byteRange: group.byteRange, from: previous.archive)
        matched = []
        passed = nil  // it lies before this group, so before any subtree still to come
        try previous.advance()
    }

    private func compressMatched() throws {
        for pending in matched {
            switch pending {
            case .walked(let entry, let node): try compress(entry, node)
            case .unchanged(let old):
                guard let node = try nodeAt(old.pathBytes) else {
                    throw FSError(.ioError, "\(NameRules.readablePath(old.pathBytes)) is gone from the catalog while it was packed")
                }
                try compress(entry(old.pathBytes, node, xattrs: old.xattrs), node)
            }
        }
        matched = []
    }

    private func compress(_ entry: ArchiveEntry, _ node: Node) throws {
        guard entry.kind == .file else { return try writer.append(entry, contentsOf: nil) }
        if node.archivePath != nil { throw FSError(.ioError, "\(entry.path) is not local yet") }
        try writer.append(entry, contentsOf: blobs.path(node.ino))
    }

    /// The entry was in the previous archive exactly as it is now: same header fields, and no
    /// change stamped on it (ctime) after that archive's snapshot, or, from the previous
    /// version's archive, the same content.
    private func isUnchanged(_ new: ArchiveEntry, _ node: Node, was old: ArchiveTOC.Entry) -> Bool {
        guard let previous else { return false }
        if case .changedBefore(let snapshotNs) = previous.trust, node.ctimeNs > snapshotNs { return false }
        guard old.pathBytes == new.pathBytes && old.type == new.kind && old.mode == new.mode & 0o7777
            && old.mtime == new.mtime && old.size == new.size && old.linkTargetBytes == new.linkTargetBytes
            && old.device == new.device
            && (old.links ?? 1) == new.links && old.xattrs == new.xattrs
        else { return false }
        guard case .sameContent = previous.trust, new.kind == .file else { return true }
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

    /// The archive entry for `path`, a name of `node`: a hard link entry if an earlier name of
    /// the same regular file carries its data (and its attributes). (Other kinds with several
    /// names, rare, are archived once per name: a symlink or FIFO entry costs no more than a
    /// hard link entry.)
    private func entry(_ path: [UInt8], _ node: Node, xattrs: [ArchiveXattr]) -> ArchiveEntry {
        var entry = Self.entry(path, node)
        entry.xattrs = xattrs
        guard node.links > 1, node.kind == .file, let id = node.id else { return entry }
        if let first = firstNames[id] {
            entry.kind = .hardLink
            entry.linkTargetBytes = first
            entry.size = 0
            entry.device = nil
            entry.links = 1
            entry.xattrs = []
        } else {
            firstNames[id] = path
        }
        return entry
    }

    /// The entry a name of `node` gets when it is the first (or only) name of its node.
    static func entry(_ path: [UInt8], _ node: Node) -> ArchiveEntry {
        let mtime = Timespec(totalNanoseconds: node.mtimeNs)
        let kind: ArchiveEntry.Kind = switch node.kind {
        case .file: .file
        case .symlink: .symlink
        case .directory: .directory
        case .fifo: .fifo
        case .characterDevice: .characterDevice
        case .blockDevice: .blockDevice
        case .socket: .fifo  // never archived: add() leaves sockets out
        }
        return ArchiveEntry(
            pathBytes: path, kind: kind, mode: node.mode,
            mtime: ArchiveTimestamp(seconds: mtime.seconds, nanoseconds: Int32(mtime.nanoseconds)),
            size: kind == .file ? UInt64(node.size) : 0, linkTargetBytes: node.linkTarget.map { [UInt8]($0) },
            device: node.kind.isDevice ? ArchiveDevice(linuxDevice: node.rdev) : nil,
            links: kind == .file ? max(node.links, 1) : 1)
    }
}
