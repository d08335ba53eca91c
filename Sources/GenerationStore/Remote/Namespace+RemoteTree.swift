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
    let path: String
    let versionID: Int64
    let toc: LocalTOC
    let stem: String

    func path(of name: [UInt8]) -> String {
        let name = String(decoding: name, as: UTF8.self)
        return path.isEmpty ? name : path + "/" + name
    }
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
            try writeCatalogLocked("adding \(path) of \(source.stem) from its TOC") { db in
                try self.insertLocked(found, under: directory, db)
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
            try writeCatalogLocked("listing \(source.path.isEmpty ? "." : source.path) of \(source.stem) from its TOC") { db in
                let present = Set(try Node.children(db, parent: source.directoryID).compactMap(\.name))
                for child in children where !present.contains(Data(Self.lastComponent(child.path).utf8)) {
                    try self.insertLocked(child, under: directory, db)
                }
                _ = try UnlistedDirectory.deleteOne(db, key: source.directoryID)
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
            directoryID: id, path: String(decoding: row.tocPath, as: UTF8.self), versionID: versionID,
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
    private func insertLocked(_ found: TOCTreeEntry, under parent: Node, _ db: Database) throws {
        let name = Array(Self.lastComponent(found.path).utf8)
        guard (try? NameRules.checkName(name)) != nil else {
            logger.warning("skipping \(found.path) of a TOC in the bucket: not a valid name")
            return
        }
        var node: Node
        switch found {
        case .impliedDirectory:
            node = Node.make(parent: parent, name: name, role: .dir, owner: owner, now: parent.mtimeNs)
        case .entry(let entry):
            let mtimeNs = Timespec(seconds: entry.mtime.seconds, nanoseconds: Int64(entry.mtime.nanoseconds)).totalNanoseconds
            let role: NodeRole = entry.type == .directory ? .dir : entry.type == .symlink ? .symlink : .file
            node = Node.make(parent: parent, name: name, role: role, owner: owner, now: mtimeNs)
            node.mode = entry.mode & 0o7777
            switch entry.type {
            case .directory:
                break
            case .symlink:
                let target = Data((entry.linkTarget ?? "").utf8)
                node.linkTarget = target
                node.size = Int64(target.count)
            default:
                node.size = Int64(entry.size)
                node.archivePath = Data(entry.path.utf8)
            }
        }
        try node.insert(db)
        if node.role == .dir, let id = node.id {
            try UnlistedDirectory(nodeID: id, tocPath: Data(found.path.utf8)).insert(db)
        }
    }

    private static func lastComponent(_ path: String) -> Substring {
        path.lastIndex(of: "/").map { path[path.index(after: $0)...] } ?? path[...]
    }
}
