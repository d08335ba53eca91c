// The rules an entry must meet before the writer accepts it: path shape, order, uniqueness, fields.

enum EntryValidation {
    static func check(_ entry: ArchiveEntry, paths: Set<String>, directories: Set<String>) throws(ArchiveError) {
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
        guard !paths.contains(path) else { throw reject("an entry with this path was already appended") }
        if components.count > 1 {
            let parent = components.dropLast().joined(separator: "/")
            guard directories.contains(parent) else {
                throw reject("its parent directory '\(parent)' was not appended before it")
            }
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
