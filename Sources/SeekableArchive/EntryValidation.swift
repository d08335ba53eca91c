// The rules an entry must meet before the writer accepts it: path shape, fields, and its place
// in archive order (after the previous entry, inside a directory appended before it).

enum EntryValidation {
    /// Path shape and fields; where the entry may go is `EntryOrder`'s job.
    static func check(_ entry: ArchiveEntry) throws(ArchiveError) {
        let path = entry.path
        func reject(_ reason: String) -> ArchiveError { .invalidEntry(path: path, reason: reason) }
        guard !path.isEmpty else { throw reject("the path is empty") }
        guard !path.utf8.contains(0) else { throw reject("the path contains a NUL byte") }
        guard !path.hasPrefix("/") else { throw reject("the path must be relative (no leading '/')") }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        for component in components {
            guard !component.isEmpty else { throw reject("the path has an empty component or a trailing '/'") }
            guard component != "." && component != ".." else { throw reject("the path has a '.' or '..' component") }
        }
        guard (0..<1_000_000_000).contains(entry.mtime.nanoseconds) else {
            throw reject("mtime nanoseconds \(entry.mtime.nanoseconds) are not in 0..<1000000000")
        }
        if entry.kind == .symlink {
            guard let target = entry.linkTarget, !target.isEmpty else { throw reject("a symlink needs a link target") }
            guard !target.utf8.contains(0) else { throw reject("the link target contains a NUL byte") }
        }
    }
}

/// Entries come in ``ArchivePathOrder``, each after its parent directory. Memory: the chain of
/// directories above the last entry, so a million-entry archive checks in constant space.
struct EntryOrder {
    private var previous: [UInt8]?
    /// The directories among the last entry and its ancestors, outermost first.
    private var openDirectories: [[UInt8]] = []

    /// Checks that `path` may come next; on success records it.
    mutating func admit(_ path: String, isDirectory: Bool) throws(ArchiveError) {
        let bytes = Array(path.utf8)
        if let previous, !ArchivePathOrder.areInIncreasingOrder(previous, bytes) {
            throw .invalidEntry(
                path: path,
                reason: previous == bytes
                    ? "an entry with this path was already appended"
                    : "entries must come in archive order (each directory right before its contents); it follows '\(String(decoding: previous, as: UTF8.self))'")
        }
        let parentEnd = bytes.lastIndex(of: UInt8(ascii: "/"))
        // Ancestors of this path still open: the rest of the chain ended with the previous entry.
        var keep = openDirectories.count
        while keep > 0, !Self.isAncestor(openDirectories[keep - 1], of: bytes) { keep -= 1 }
        if let parentEnd {
            guard keep > 0, openDirectories[keep - 1].count == parentEnd else {
                throw .invalidEntry(
                    path: path,
                    reason: "its parent directory '\(String(decoding: bytes[..<parentEnd], as: UTF8.self))' was not appended before it")
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
