// A TOC seen as a directory tree: what is at one path, and the children of one directory, reading
// only the blocks that can hold them. This is what lets a mount show a version from the bucket
// without cataloguing all of it first.

/// What a TOC holds at one path, as a directory tree sees it.
public enum TOCTreeEntry: Sendable, Equatable {
    case entry(ArchiveTOC.Entry)
    /// A directory with entries below it but none of its own (format-1 TOCs may leave them out).
    case impliedDirectory(pathBytes: [UInt8])

    /// An implied directory at `path`'s UTF-8 bytes.
    public static func impliedDirectory(path: String) -> TOCTreeEntry {
        .impliedDirectory(pathBytes: Array(path.utf8))
    }

    public var pathBytes: [UInt8] {
        switch self {
        case .entry(let entry): entry.pathBytes
        case .impliedDirectory(let path): path
        }
    }

    /// ``pathBytes`` as UTF-8 text (lossy for a name that is not UTF-8).
    public var path: String { NameBytes.text(pathBytes) }
}

extension LocalTOC {
    /// The entry at `path` (its UTF-8 bytes), an implied directory when there are entries below
    /// `path` but none at it, or nil. Format 2: reads one block.
    public func treeEntry(at path: String) throws(ArchiveError) -> TOCTreeEntry? {
        try treeEntry(at: Array(path.utf8))
    }

    /// The entry at path bytes `path`, an implied directory when there are entries below `path`
    /// but none at it, or nil. Format 2: reads one block.
    public func treeEntry(at path: [UInt8]) throws(ArchiveError) -> TOCTreeEntry? {
        switch content {
        case .format1(let toc, let positions, let directories):
            if let position = positions[path] { return .entry(toc.entries[position]) }
            return directories.contains(path) ? .impliedDirectory(pathBytes: path) : nil
        case .format2(let index):
            let below = path + [Self.slash]
            guard let block = index.blockIndex(containing: path) else {
                return index.blocks.first.map { $0.firstPath.starts(with: below) } == true
                    ? .impliedDirectory(pathBytes: path) : nil
            }
            // The first entry at or after `path` decides: `path` itself, or something below it.
            let following: [UInt8]?
            if let next = try entries(ofBlock: block, index).first(where: {
                !ArchivePathOrder.areInIncreasingOrder($0.pathBytes, path)
            }) {
                if next.pathBytes == path { return .entry(next) }
                following = next.pathBytes
            } else {
                following = index.blocks.indices.contains(block + 1) ? index.blocks[block + 1].firstPath : nil
            }
            return following?.starts(with: below) == true ? .impliedDirectory(pathBytes: path) : nil
        }
    }

    /// The entries directly in directory `directory` (its UTF-8 bytes; "" for the top), each name
    /// once, in TOC order.
    public func children(of directory: String) throws(ArchiveError) -> [TOCTreeEntry] {
        try children(of: Array(directory.utf8))
    }

    /// The entries directly in the directory at path bytes `directory` (empty for the top), each
    /// name once, in TOC order. Format 2: reads the blocks of the directory's subtree, except
    /// those that lie wholly inside one child's subtree (they hold no child of their own).
    public func children(of directory: [UInt8]) throws(ArchiveError) -> [TOCTreeEntry] {
        let prefix: [UInt8] = directory.isEmpty ? [] : directory + [Self.slash]
        var children = ChildCollector(prefix: prefix)
        switch content {
        case .format1(let toc, _, _):
            for entry in toc.entries { children.offer(entry) }
        case .format2(let index):
            let start = directory.isEmpty ? 0 : (index.blockIndex(containing: directory) ?? 0)
            var block = start
            while block < index.blocks.count {
                defer { block += 1 }
                let first = index.blocks[block].firstPath
                if block > start, !first.starts(with: prefix) { break }
                if let next = index.blocks.indices.contains(block + 1) ? index.blocks[block + 1].firstPath : nil,
                    let inside = Self.childSubtree(of: first, below: prefix), next.starts(with: inside)
                {
                    continue
                }
                for entry in try entries(ofBlock: block, index) { children.offer(entry) }
            }
        }
        return children.found
    }

    /// `prefix` + the child component of `path` + "/", when `path` lies strictly below a child
    /// of the directory whose paths start with `prefix`; nil otherwise.
    private static func childSubtree(of path: [UInt8], below prefix: [UInt8]) -> [UInt8]? {
        guard path.starts(with: prefix) else { return nil }
        guard let slash = path[prefix.count...].firstIndex(of: slash) else { return nil }
        return Array(path[...slash])
    }
}

/// Collects a directory's children from entries offered in TOC order.
private struct ChildCollector {
    let prefix: [UInt8]
    var found: [TOCTreeEntry] = []
    /// As bytes: String equality would merge names that differ only in Unicode normalization.
    private var names: Set<[UInt8]> = []

    init(prefix: [UInt8]) { self.prefix = prefix }

    mutating func offer(_ entry: ArchiveTOC.Entry) {
        let path = entry.pathBytes
        guard path.count > prefix.count, path.starts(with: prefix) else { return }
        let rest = path[prefix.count...]
        if let slash = rest.firstIndex(of: NameBytes.slash) {
            // Below a child: that child is a directory, implied if its own entry was not seen.
            if names.insert(Array(rest[..<slash])).inserted {
                found.append(.impliedDirectory(pathBytes: Array(path[..<slash])))
            }
        } else if names.insert(Array(rest)).inserted {
            found.append(.entry(entry))
        }
    }
}
