// Directory listings. The first readdir of an open directory takes the listing: names, inode
// numbers and types, which is all plain READDIR passes on. READDIRPLUS reads the attributes of
// the entries it hands out, a chunk at a time, so a listing never decodes whole nodes that only
// their names were asked of (`find` of a cold tree is mostly plain READDIR).
import Foundation

extension Namespace {
    /// Entries of a READDIRPLUS reply whose attributes one catalog statement reads (a reply of
    /// the kernel's 32 KiB holds about 200).
    static let attributedChunk = 128

    /// Hands the entries from `offset` on to `add` until it returns false (its buffer is full).
    /// With `plus`, each real entry added gets a lookup reference, exactly as if looked up.
    public func readdir(
        handle: UInt64, offset: UInt64, plus: Bool, add: (DirectoryEntry, _ nextOffset: UInt64) -> Bool
    ) throws(FSError) {
        let (directory, entries) = try withLock { () throws(FSError) -> (DirectoryHandle, ArraySlice<ListedEntry>) in
            var directory = try openFiles.directory(handle)
            if offset == 0 || directory.entries == nil {
                // The first read, or a rewind: list now, so the caller sees every change made before.
                (directory.entries, directory.readAheadRows) = try listingLocked(directory.directoryID)
                openFiles.replaceDirectory(handle, directory)
            }
            let listed = directory.entries ?? []
            guard offset < listed.count else { return (directory, []) }
            return (directory, listed[Int(offset)...])
        }
        var next = offset
        guard plus else {
            for listed in entries {
                next += 1
                guard add(listed.withoutAttributes, next) else { return }
            }
            return
        }
        var rest = entries
        while !rest.isEmpty {
            let chunk = rest.prefix(Self.attributedChunk)
            rest = rest.dropFirst(chunk.count)
            let attributed = try withLock { () throws(FSError) in try attributedLocked(chunk, of: directory) }
            var added: [Node] = []
            var full = false
            for one in attributed {
                next += 1
                // Removed since the listing was taken: nothing to hand out (its offset stays taken).
                guard let (entry, node) = one else { continue }
                guard add(entry, next) else {
                    full = true
                    break
                }
                if let node { added.append(node) }
            }
            referenceListed(added)
            if full { return }
        }
    }

    /// The lookup references of the nodes a READDIRPLUS reply handed out.
    private func referenceListed(_ added: [Node]) {
        guard !added.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        // Cached while the cache is less than three quarters full: `ls -l` asks for every file's
        // extended attributes, `cat` opens it, `rm -rf` unlinks it, and a cached node answers
        // without a query. Never further: lookups evict an eighth of the cache when it is full,
        // listings refilled it, and in `find` of a million files that churn cost 0.5 s of CPU.
        let room = Self.cachedNodesLimit * 3 / 4 - nodes.count
        for (index, node) in added.enumerated() {
            guard let id = node.id else { continue }
            if index < room, nodes[id] == nil { cacheLocked(node) }
            references.addLookup(id)
        }
    }

    /// The entries of `chunk` with their current attributes, each catalog child with its node
    /// (a hard link's file); nil for a child removed since the listing was taken.
    private func attributedLocked(
        _ chunk: ArraySlice<ListedEntry>, of directory: DirectoryHandle
    ) throws(FSError) -> [(entry: DirectoryEntry, node: Node?)?] {
        let directoryID = Int64(directory.directoryID)
        // The kernel takes the sizes a listing gives it: a file being written must show its writes.
        takeAllWrittenLocked()
        let readAhead = directory.readAheadRows.flatMap { readahead.isCurrent($0) ? $0.nodes : nil } ?? [:]
        let notCached = chunk.compactMap { listed -> [UInt8]? in
            guard case .child(let child) = listed, nodes[child.id] == nil, readAhead[child.id] == nil else { return nil }
            return child.name
        }
        var read: [Int64: Node] = [:]
        if let first = notCached.first, let last = notCached.last {
            read = try readCatalogLocked("listing a directory") {
                try Node.childrenByID($0, parent: directoryID, from: first, through: last)
            }
        }
        var attributed: [(entry: DirectoryEntry, node: Node?)?] = []
        attributed.reserveCapacity(chunk.count)
        for listed in chunk {
            switch listed {
            case .whole(let entry):
                attributed.append((entry, nil))
            case .child(let child):
                // Gone, or moved to another directory, since the listing was taken.
                guard let named = nodes[child.id] ?? readAhead[child.id] ?? read[child.id], named.parentID == directoryID else {
                    attributed.append(nil)
                    continue
                }
                let node = try inodeLocked(of: named)
                let entry = entryLocked(node)
                attributed.append(
                    (DirectoryEntry(name: child.name, attributes: entry.attributes, timeout: entry.timeout, isDotEntry: false), node))
            }
        }
        return attributed
    }

    /// The entries of directory `ino`, and the whole rows of the first ones if it was read ahead.
    private func listingLocked(_ ino: InodeNumber) throws(FSError) -> ([ListedEntry], ListingReadahead.Rows?) {
        var listed: [ListedEntry] = []
        func whole(_ name: [UInt8], _ entry: Entry, isDot: Bool = false) {
            listed.append(.whole(DirectoryEntry(name: name, attributes: entry.attributes, timeout: entry.timeout, isDotEntry: isDot)))
        }
        func dot(_ name: String, _ attributes: Attributes) { whole(Array(name.utf8), Entry(attributes: attributes, timeout: 0), isDot: true) }
        if let view = VirtualEntry(ino: ino) {
            let entry = try virtualEntryLocked(view)
            dot(".", entry.attributes)
            dot("..", attributes(of: try nodeLocked(Catalog.rootID)))
            for generation in try viewMembersLocked(view) {
                let link = VirtualEntry(owner: generation.id ?? 0, kind: view.kind == .generationsView ? .generationsViewLink : .activeViewLink)
                whole(generation.nameBytes, try virtualEntryLocked(link))
            }
            return (listed, nil)
        }
        let directory = try nodeLocked(ino: ino)
        guard directory.kind == .directory, let directoryID = directory.id else {
            throw FSError(.notDirectory, "not a directory")
        }
        dot(".", attributes(of: directory))
        dot("..", attributes(of: try nodeLocked(directory.parentID ?? Catalog.rootID)))
        for (name, virtual) in VirtualEntry.listed(in: directory) where virtualExistsLocked(virtual) {
            whole(name, try virtualEntryLocked(virtual, sized: false))
        }
        let readAhead = readahead.take(directoryID)
        var children: [ListedChild]
        if let readAhead {
            children = readAhead.children
        } else {
            children = try readCatalogLocked("listing a directory") { try Node.listedChildren($0, parent: directoryID) }
        }
        for index in children.indices where children[index].role == .hardLink {
            // A hard link's type is its file's (a symlink or special file may have several names).
            children[index].kind = try inodeLocked(of: nodeLocked(children[index].id)).kind
        }
        readahead.listed(directoryID, children)
        listed.reserveCapacity(listed.count + children.count)
        for child in children { listed.append(.child(child)) }
        return (listed, readAhead?.rows)
    }
}

extension ListedEntry {
    /// The entry as plain READDIR passes it on: inode number and type, other attributes zero.
    var withoutAttributes: DirectoryEntry {
        switch self {
        case .whole(let entry):
            return entry
        case .child(let child):
            let never = Timespec(totalNanoseconds: 0)
            let attributes = Attributes(
                ino: child.ino, kind: child.kind, mode: 0, nlink: 0, uid: 0, gid: 0, size: 0, atime: never, mtime: never, ctime: never)
            return DirectoryEntry(name: child.name, attributes: attributes, timeout: 0, isDotEntry: false)
        }
    }
}
