// The rules an entry must meet before the writer accepts it: path shape, fields, its place in
// archive order (after the previous entry, inside a directory appended before it), and for a hard
// link an earlier file to name.

enum EntryValidation {
    /// Path shape and fields; where the entry may go is `EntryOrder`'s job.
    static func check(_ entry: ArchiveEntry) throws(ArchiveError) {
        func reject(_ reason: String) -> ArchiveError { .invalidEntry(path: entry.path, reason: reason) }
        if let problem = NameBytes.pathProblem(entry.pathBytes) { throw reject(problem) }
        guard (0..<1_000_000_000).contains(entry.mtime.nanoseconds) else {
            throw reject("mtime nanoseconds \(entry.mtime.nanoseconds) are not in 0..<1000000000")
        }
        if entry.kind == .symlink || entry.kind == .hardLink {
            let kind = entry.kind == .symlink ? "a symlink" : "a hard link"
            guard let target = entry.linkTargetBytes, !target.isEmpty else { throw reject("\(kind) needs a link target") }
            guard !target.contains(0) else { throw reject("the link target contains a NUL byte") }
        }
        try checkFormat3Fields(entry, reject)
        if let problem = ArchiveXattr.problem(entry.xattrs) { throw reject(problem) }
        if entry.kind == .hardLink, !entry.xattrs.isEmpty {
            throw reject("a hard link has no extended attributes of its own: its file's entry carries them")
        }
    }

    /// Size, device and link count of the kinds format 3 added (and of files, for `links`).
    private static func checkFormat3Fields(
        _ entry: ArchiveEntry, _ reject: (String) -> ArchiveError
    ) throws(ArchiveError) {
        let kind = entry.kind.rawValue
        if entry.kind.needsFormat3 {
            guard entry.size == 0 else { throw reject("a \(kind) has no content: its size must be 0, not \(entry.size)") }
        }
        if entry.kind.isDevice {
            guard entry.device != nil else { throw reject("a \(kind) needs a device number") }
        } else {
            guard entry.device == nil else { throw reject("a \(kind) has no device number; only devices do") }
        }
        if entry.kind == .file {
            guard entry.links >= 1 else { throw reject("a file has at least 1 name (links 0)") }
        } else {
            guard entry.links == 1 else {
                throw reject("links \(entry.links) on a \(kind): only the file entry carrying the data counts names")
            }
        }
    }
}

/// Hard links name an earlier file of the archive that has `links` ≥ 2 (the one carrying the
/// data). Memory: the paths of such files only, not of every file.
struct HardLinkTargets {
    private var linkedFiles: Set<[UInt8]> = []

    func check(_ path: [UInt8], kind: ArchiveEntry.Kind, target: [UInt8]?) throws(ArchiveError) {
        guard kind == .hardLink else { return }
        guard let target, linkedFiles.contains(target) else {
            throw .invalidEntry(
                path: NameBytes.text(path),
                reason: "its target '\(NameBytes.text(target ?? []))' is not an earlier file entry of this archive with links 2 or more")
        }
    }

    mutating func record(_ path: [UInt8], kind: ArchiveEntry.Kind, links: UInt32) {
        if kind == .file && links >= 2 { linkedFiles.insert(path) }
    }
}

/// Entries come in ``ArchivePathOrder``, each after its parent directory. Memory: the chain of
/// directories above the last entry, so a million-entry archive checks in constant space.
struct EntryOrder {
    private var previous: [UInt8]?
    /// The directories among the last entry and its ancestors, outermost first.
    private var openDirectories: [[UInt8]] = []

    /// After entries copied without being decoded (``SeekableTarWriter/appendCopied``): the
    /// only entry that may come next is `path`, the one the earlier archive had after them,
    /// whose ancestors are all in the archive by then.
    private var expected: [UInt8]?

    /// Entries copied as they were in an earlier archive, up to (not including) `next`: its
    /// directories are open, and it is the only entry that may come next.
    mutating func admitCopied(before next: [UInt8]) {
        openDirectories = next.indices.filter { next[$0] == UInt8(ascii: "/") }.map { Array(next[..<$0]) }
        previous = nil
        expected = next
    }

    /// Checks that `path` may come next; on success records it.
    mutating func admit(_ bytes: [UInt8], isDirectory: Bool) throws(ArchiveError) {
        if let expected {
            guard bytes == expected else {
                throw .invalidEntry(
                    path: NameBytes.text(bytes),
                    reason: "after the copied entries only '\(NameBytes.text(expected))' may come next")
            }
            self.expected = nil
        }
        if let previous, !ArchivePathOrder.areInIncreasingOrder(previous, bytes) {
            throw .invalidEntry(
                path: NameBytes.text(bytes),
                reason: previous == bytes
                    ? "an entry with this path was already appended"
                    : "entries must come in archive order (each directory right before its contents); it follows '\(NameBytes.text(previous))'")
        }
        let parentEnd = bytes.lastIndex(of: UInt8(ascii: "/"))
        // Ancestors of this path still open: the rest of the chain ended with the previous entry.
        var keep = openDirectories.count
        while keep > 0, !Self.isAncestor(openDirectories[keep - 1], of: bytes) { keep -= 1 }
        if let parentEnd {
            guard keep > 0, openDirectories[keep - 1].count == parentEnd else {
                throw .invalidEntry(
                    path: NameBytes.text(bytes),
                    reason: "its parent directory '\(NameBytes.text(bytes[..<parentEnd]))' was not appended before it")
            }
        }
        openDirectories.removeSubrange(keep...)
        if isDirectory { openDirectories.append(bytes) }
        previous = bytes
    }

    private static func isAncestor(_ directory: [UInt8], of path: [UInt8]) -> Bool {
        path.count > directory.count && path[directory.count] == UInt8(ascii: "/") && path.starts(with: directory)
    }
}
