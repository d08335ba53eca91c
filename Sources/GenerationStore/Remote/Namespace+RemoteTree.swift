// The tree of a version found in the bucket, catalogued as it is used (DESIGN §6). Discovery adds
// only the version directory, marked unlisted; a lookup in an unlisted directory adds the one
// name from the TOC, and listing it adds all its children and marks it listed. With a partial
// TOC copy (LocalTOC fetches the blocks it needs), reading one file of a million-file version
// moves the TOC's tail and a few blocks, not the whole TOC, and catalogues a handful of rows.
import Foundation
import GRDB
import SeekableArchive

/// An unlisted directory of a version from the bucket, and the TOC its children come from.
private struct UnlistedSource {
    let directoryID: Int64
    /// The directory's path in the TOC, as bytes (names are any bytes but `/` and NUL).
    let path: [UInt8]
    let versionID: Int64
    let toc: LocalTOC
    let stem: String

    func path(of name: [UInt8]) -> [UInt8] { path.isEmpty ? name : path + [UInt8(ascii: "/")] + name }

    /// The directory's path for log lines and errors.
    var printablePath: String { path.isEmpty ? "." : NameRules.readablePath(path) }
}

extension Namespace {
    /// Adds `name` to unlisted directory `parent` from the version's TOC when the TOC has it.
    /// Returns whether it is in the catalog now. Called without the lock, after a lookup missed.
    func catalogueRemoteChild(parent: InodeNumber, name: [UInt8]) throws(FSError) -> Bool {
        guard let source = try withLock({ () throws(FSError) in try unlistedSourceLocked(parent) }) else { return false }
        let path = source.path(of: name)
        guard let found = try readTOC(source, { try $0.treeEntry(at: path) }) else { return false }
        return try withLock { () throws(FSError) -> Bool in
            let directory = try nodeLocked(source.directoryID)
            if try childLocked(directory, name) != nil { return true }
            guard try isUnlistedLocked(source.directoryID) else { return false }
            try writeCatalogLocked("adding \(NameRules.readablePath(path)) of \(source.stem) from its TOC") { db in
                try self.insertLocked(found, under: directory, from: source, db)
            }
            return true
        }
    }

    /// Adds every child of unlisted directory `ino` missing from the catalog, from the version's
    /// TOC, and marks the directory listed. Called without the lock, before a listing.
    func catalogueRemoteDirectory(_ ino: InodeNumber) throws(FSError) {
        guard let source = try withLock({ () throws(FSError) in try unlistedSourceLocked(ino) }) else { return }
        let children = try readTOC(source, { try $0.children(of: source.path) })
        try withLock { () throws(FSError) in
            guard try isUnlistedLocked(source.directoryID) else { return }
            let directory = try nodeLocked(source.directoryID)
            try writeCatalogLocked("listing \(source.printablePath) of \(source.stem) from its TOC") { db in
                let present = Set(try Node.children(db, parent: source.directoryID).compactMap(\.name))
                for child in children where !present.contains(Data(Self.lastComponent(child.pathBytes))) {
                    try self.insertLocked(child, under: directory, from: source, db)
                }
                _ = try UnlistedDirectory.deleteOne(db, key: source.directoryID)
                // Listed: its link count is known now (2 + subdirectories), as for local directories.
                var listed = try Node.withID(db, source.directoryID) ?? directory
                listed.links = 2 + UInt32(children.filter(\.isDirectory).count)
                try listed.updateRow(db)
                if nodes[source.directoryID] != nil { nodes[source.directoryID] = listed }
            }
        }
    }

    /// Marks a version found in the bucket as not catalogued below its directory.
    func markUnlistedLocked(versionNode id: Int64, _ db: Database) throws {
        try UnlistedDirectory(nodeID: id, tocPath: Data()).insert(db)
    }

    /// The source of `ino`'s children when it is an unlisted directory; nil for anything else.
    private func unlistedSourceLocked(_ ino: InodeNumber) throws(FSError) -> UnlistedSource? {
        guard ino > 0, ino < VirtualEntry.marker, let node = try? nodeLocked(ino: ino), node.kind == .directory,
            let id = node.id, let versionID = node.versionID, let version = versions[versionID], version.origin == .remote,
            let row = try readCatalogLocked("looking up an unlisted directory", { try UnlistedDirectory.fetchOne($0, key: id) })
        else { return nil }
        return UnlistedSource(
            directoryID: id, path: [UInt8](row.tocPath), versionID: versionID,
            toc: try tocLocked(version), stem: try objectStemLocked(version))
    }

    private func isUnlistedLocked(_ id: Int64) throws(FSError) -> Bool {
        try readCatalogLocked("looking up an unlisted directory") { try UnlistedDirectory.exists($0, key: id) }
    }

    /// Runs a TOC query; a failure (the bucket unreachable, a damaged block) is logged, shown in
    /// status.json and answered EIO: the directory is not empty, it cannot be read now.
    private func readTOC<T>(_ source: UnlistedSource, _ query: (LocalTOC) throws -> T) throws(FSError) -> T {
        do {
            return try query(source.toc)
        } catch {
            let reason = "reading the TOC of \(source.stem) failed: \(error)"
            logger.error("\(reason)")
            fetched.recordReadError(source.versionID, reason)
            throw FSError(.ioError, reason)
        }
    }

    /// Adds one TOC entry below `parent` (a directory comes unlisted). Invalid names are skipped with a log line.
    private func insertLocked(_ found: TOCTreeEntry, under parent: Node, from source: UnlistedSource, _ db: Database) throws {
        let name = Array(Self.lastComponent(found.pathBytes))
        guard (try? NameRules.checkName(name)) != nil else {
            logger.warning("skipping \(NameRules.readablePath(found.pathBytes)) of a TOC in the bucket: not a valid name")
            return
        }
        var node: Node
        switch found {
        case .impliedDirectory:
            node = Node.make(parent: parent, name: name, role: .dir, owner: owner, now: parent.mtimeNs)
        case .entry(let entry) where entry.type == .hardLink:
            // A later name of a file: a name row for the file at the link target, catalogued first if needed.
            guard let target = entry.linkTargetBytes, let inode = try remoteNodeLocked(at: target, from: source, db),
                inode.role == .file
            else {
                logger.warning(
                    "skipping \(NameRules.readablePath(found.pathBytes)) of a TOC in the bucket: its hard link target is not a file of the version")
                return
            }
            node = Node.hardLink(name, in: parent, to: inode.id)
        case .entry(let entry):
            let mtimeNs = Timespec(seconds: entry.mtime.seconds, nanoseconds: Int64(entry.mtime.nanoseconds)).totalNanoseconds
            node = Node.make(parent: parent, name: name, role: Self.role(of: entry.type), owner: owner, now: mtimeNs)
            node.mode = entry.mode & 0o7777
            switch entry.type {
            case .symlink:
                let target = Data(entry.linkTargetBytes ?? [])
                node.linkTarget = target
                node.size = Int64(target.count)
            case .file:
                node.size = Int64(entry.size)
                node.archivePath = Data(entry.pathBytes)
                node.links = entry.links ?? 1
            case .characterDevice, .blockDevice:
                node.rdev = entry.device?.linuxDevice ?? 0
            case .directory, .fifo, .hardLink:
                break
            }
        }
        try node.insertRow(db)
        if case .entry(let entry) = found, let id = node.id {
            for xattr in entry.xattrs where NameRules.isUserAttribute(xattr.name) {
                try ExtendedAttribute(nodeID: id, name: Data(xattr.name), value: Data(xattr.value)).insert(db)
            }
        }
        if node.role == .dir, let id = node.id {
            try UnlistedDirectory(nodeID: id, tocPath: Data(found.pathBytes)).insert(db)
        }
    }

    /// The node at TOC path `path` of the source's version, catalogued from the TOC on the way
    /// if its directories are not listed yet; nil if the TOC has no such entry.
    private func remoteNodeLocked(at path: [UInt8], from source: UnlistedSource, _ db: Database) throws -> Node? {
        guard var current = try Node.withID(db, source.versionID) else { return nil }
        var walked: [UInt8] = []
        for component in path.split(separator: UInt8(ascii: "/")) {
            walked += (walked.isEmpty ? [] : [UInt8(ascii: "/")]) + component
            guard let currentID = current.id else { return nil }
            if let child = try Node.child(db, parent: currentID, name: Array(component)) {
                current = child
                continue
            }
            guard try UnlistedDirectory.exists(db, key: currentID), let found = try source.toc.treeEntry(at: walked) else {
                return nil
            }
            try insertLocked(found, under: current, from: source, db)
            guard let added = try Node.child(db, parent: currentID, name: Array(component)) else { return nil }
            current = added
        }
        return current
    }

    private static func role(of type: ArchiveEntry.Kind) -> NodeRole {
        switch type {
        case .directory: .dir
        case .symlink: .symlink
        case .fifo: .fifo
        case .characterDevice: .characterDevice
        case .blockDevice: .blockDevice
        case .file, .hardLink: .file
        }
    }

    private static func lastComponent(_ path: [UInt8]) -> ArraySlice<UInt8> {
        path.lastIndex(of: UInt8(ascii: "/")).map { path[($0 + 1)...] } ?? path[...]
    }
}

extension TOCTreeEntry {
    var isDirectory: Bool {
        switch self {
        case .impliedDirectory: true
        case .entry(let entry): entry.type == .directory
        }
    }
}
