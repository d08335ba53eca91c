// Adding a version found in the bucket (FileSystem+Discovery.swift lists the bucket): its
// project and generation directories if missing, the version sealed and uploaded, and its tree
// from the TOC with every file's content left in the archive (read on demand).
import Foundation
import GRDB
import SeekableArchive
import SystemPackage

extension Namespace {
    /// Adds a version found in the bucket: sealed, uploaded, its tree from the TOC with every
    /// file's content left in the archive. Skipped (with a log line) when its generation id
    /// belongs to another project here, and skipped quietly when another listing added it
    /// meanwhile. `fetchedTOC` (saveFetchedTOC) becomes the version's TOC only once it is added.
    func addRemoteVersionLocked(project: String, generation: String, number: Int, fetchedTOC: FilePath) throws(FSError) {
        defer { Glibc.unlink(fetchedTOC.string) }  // nothing left once renamed into place
        if try versionLocked(project, generation, number) != nil { return }
        let now = Timespec.now().totalNanoseconds
        let projects = try nodeLocked(Catalog.projectsID)
        if let existing = try readCatalogLocked("looking up a generation", { try Node.generation($0, id: generation) }),
            let container = try? nodeLocked(existing.parentID ?? 0),
            let owner = try? nodeLocked(container.parentID ?? 0), owner.nameBytes != Array(project.utf8)
        {
            let here = String(decoding: owner.nameBytes, as: UTF8.self)
            logger.warning(
                "the bucket has generation \(generation) under project \(project), but here it belongs to \(here); not shown (generation ids are unique in a mount)")
            return
        }
        let stem = "projects/\(project)/generations/\(generation)/v\(number)"
        // The name is free now (no version of this number here), and the lock keeps it so.
        let tocPath = FilePath(archivesRoot.string + "/" + stem + ".toc.json")
        let toc: LocalTOC
        do {
            if Glibc.rename(fetchedTOC.string, tocPath.string) != 0 { throw Errno(rawValue: errno) }
            toc = try LocalTOC(path: tocPath)
        } catch {
            throw FSError.wrapping(error, "saving the TOC of \(stem)")
        }
        let summary = toc.summary
        let generationNode = try ensureStructureLocked(project: project, generation: generation, under: projects)
        guard let generationID = generationNode.id else { return }
        let record = try writeCatalogLocked("adding \(stem) from the bucket") { db -> VersionRecord in
            let versionNode = try self.insertStructureLocked(
                Node.make(parent: generationNode, name: Array("v\(number)".utf8), role: .version, owner: self.owner, now: now), db)
            guard let versionID = versionNode.id else { throw FSError.notFound() }
            var fixed = versionNode
            fixed.versionID = versionID
            try fixed.update(db)
            let record = VersionRecord(
                nodeID: versionID, generationNodeID: generationID, number: number, sealed: true, createdAtNs: now,
                updatedAtNs: now, dirty: false, archiveSize: Int64(summary.archiveSize), snapshottedAtNs: now, origin: .remote,
                localCopy: false)
            try record.insert(db)
            try self.insertTreeLocked(toc, version: fixed, db)
            for (key, value) in summary.metadata ?? [:] {
                try ExtendedAttribute(nodeID: versionID, name: Data("user.\(key)".utf8), value: Data(value.utf8)).insert(db)
            }
            try UploadJob(
                versionNodeID: versionID, state: .uploaded, bytesUploaded: Int64(summary.archiveSize),
                bytesTotal: Int64(summary.archiveSize), enqueuedAtNs: now, nextAttemptAtNs: now, uploadedAtNs: now,
                snapshotNs: now, published: true
            ).insert(db)
            return record
        }
        versions[record.nodeID] = record
        fetched.setTOC(record.nodeID, toc)
        if number > (latestVersion[generationID].flatMap { versions[$0] }?.number ?? 0) {
            latestVersion[generationID] = record.nodeID
        }
        logger.info("found \(stem) in the bucket (\(summary.entryCount) entries): shown sealed, read on demand")
    }

    /// Keeps a TOC fetched from the bucket beside the version's TOC path, under a name of its own
    /// (a local version of that number may appear before the lock is taken), once it opens as a
    /// TOC (a format-2 index, or a whole format-1 document). Without the namespace lock.
    func saveFetchedTOC(_ bytes: [UInt8], stem: String) throws -> FilePath {
        let path = FilePath(archivesRoot.string + "/" + stem + ".toc.json.fetched")
        try DataDirectory.makeDirectory(path.removingLastComponent(), intermediates: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path.string), options: .atomic)
        do {
            _ = try LocalTOC(path: path)
        } catch {
            Glibc.unlink(path.string)
            throw error
        }
        return path
    }

    /// The project and generation directories of a version from the bucket, made if missing.
    private func ensureStructureLocked(project: String, generation: String, under projects: Node) throws(FSError) -> Node {
        let now = Timespec.now().totalNanoseconds
        return try writeCatalogLocked("adding \(project)/\(generation) from the bucket") { db -> Node in
            var projectNode = try Node.child(db, parent: Catalog.projectsID, name: Array(project.utf8))
            if projectNode == nil {
                projectNode = try self.insertStructureLocked(
                    Node.make(parent: projects, name: Array(project.utf8), role: .project, owner: self.owner, now: now), db)
            }
            guard let projectNode, let projectID = projectNode.id else { throw FSError.notFound() }
            var container = try Node.child(db, parent: projectID, name: VirtualEntry.generations)
            if container == nil {
                container = try self.insertStructureLocked(
                    Node.make(parent: projectNode, name: VirtualEntry.generations, role: .projectGenerations, owner: self.owner, now: now),
                    db)
            }
            guard let container, let containerID = container.id else { throw FSError.notFound() }
            if let existing = try Node.child(db, parent: containerID, name: Array(generation.utf8)) { return existing }
            return try self.insertStructureLocked(
                Node.make(parent: container, name: Array(generation.utf8), role: .generation, owner: self.owner, now: now), db)
        }
    }

    private func insertStructureLocked(_ node: Node, _ db: Database) throws -> Node {
        var node = node
        try node.insert(db)
        return node
    }

    /// The version's directories, files and symlinks from its TOC; missing parent directories are made.
    private func insertTreeLocked(_ toc: LocalTOC, version: Node, _ db: Database) throws {
        guard let versionID = version.id else { return }
        var directories: [String: Node] = ["": version]
        func directory(_ path: String, mtimeNs: Int64) throws -> Node {
            if let known = directories[path] { return known }
            let (parentPath, name) = Self.split(path)
            let parent = try directory(parentPath, mtimeNs: mtimeNs)
            var node = Node.make(parent: parent, name: Array(name.utf8), role: .dir, owner: owner, now: mtimeNs)
            node.versionID = versionID
            try node.insert(db)
            directories[path] = node
            return node
        }
        try toc.forEachEntry { entry in
            let (parentPath, name) = Self.split(entry.path)
            guard (try? NameRules.checkName(Array(name.utf8))) != nil, !entry.path.hasPrefix("/") else {
                logger.warning("skipping \(entry.path) of a TOC in the bucket: not a valid name")
                return
            }
            let mtimeNs = entry.mtime.seconds * 1_000_000_000 + Int64(entry.mtime.nanoseconds)
            if entry.type == .directory {
                if var existing = directories[entry.path] {
                    existing.mode = entry.mode & 0o7777
                    try existing.update(db)
                } else {
                    var node = try directory(entry.path, mtimeNs: mtimeNs)
                    node.mode = entry.mode & 0o7777
                    try node.update(db)
                    directories[entry.path] = node
                }
                return
            }
            let parent = try directory(parentPath, mtimeNs: mtimeNs)
            var node = Node.make(
                parent: parent, name: Array(name.utf8), role: entry.type == .symlink ? .symlink : .file, owner: owner,
                now: mtimeNs)
            node.mode = entry.mode & 0o7777
            node.versionID = versionID
            if entry.type == .symlink {
                let target = Data((entry.linkTarget ?? "").utf8)
                node.linkTarget = target
                node.size = Int64(target.count)
            } else {
                node.size = Int64(entry.size)
                node.archivePath = Data(entry.path.utf8)
            }
            try node.insert(db)
        }
    }

    private static func split(_ path: String) -> (parent: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }
}

extension Node {
    /// A new row named `name` in `parent`, owned by `owner`, with all three times `now`.
    static func make(parent: Node, name: [UInt8], role: NodeRole, owner: Caller, now: Int64) -> Node {
        Node(
            id: nil, parentID: parent.id, name: Data(name), role: role, mode: 0o755, uid: owner.uid, gid: owner.gid,
            size: 0, atimeNs: now, mtimeNs: now, ctimeNs: now, linkTarget: nil, versionID: parent.versionID)
    }
}
