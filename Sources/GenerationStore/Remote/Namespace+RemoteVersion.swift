// Adding a version found in the bucket (Namespace+Discovery.swift lists the bucket): its
// project and generation directories if missing, the version sealed and uploaded, unlisted: its
// tree is catalogued from the TOC as it is looked up and listed (Namespace+RemoteTree.swift),
// every file's content left in the archive (read on demand).
import Foundation
import GRDB
import SeekableArchive
import SupabaseStorage
import SystemPackage

extension Namespace {
    /// Adds a version found in the bucket: sealed, uploaded, its tree left in the TOC until used.
    /// Skipped (with a log line) when its generation id belongs to another project here, and
    /// skipped quietly when another listing added it meanwhile. `fetchedTOC` (fetchTOC) becomes the version's TOC only once it is added.
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
            toc = try LocalTOC(path: tocPath, fetchMissing: missingTOCBlocks(from: stem + ".toc.json"))
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
            try self.markUnlistedLocked(versionNode: versionID, db)
            for (key, value) in summary.metadata ?? [:] {
                try ExtendedAttribute(nodeID: versionID, name: Data("user.\(key)".utf8), value: Data(value.utf8)).insert(db)
            }
            for (key, value) in summary.metadataBase64 ?? [:] {
                guard let bytes = Data(base64Encoded: value) else {
                    self.logger.warning("\(stem): metadata \(key) in the TOC is not base64; left out")
                    continue
                }
                try ExtendedAttribute(nodeID: versionID, name: Data("user.\(key)".utf8), value: bytes).insert(db)
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

    /// Fetches the TOC at `key` (`size` bytes, when the listing said) to a file of its own beside
    /// the version's TOC path (a local version of that number may appear before the lock is
    /// taken), once it opens as a TOC. A format-2 TOC larger than its tail is kept as a partial
    /// copy: only the tail moves now, blocks when a lookup or a listing needs them. Anything
    /// else (format 1, a small TOC) is fetched whole. Without the namespace lock.
    func fetchTOC(_ remote: any ObjectStore, key: String, size: Int64?, stem: String) throws -> FilePath {
        let path = FilePath(archivesRoot.string + "/" + stem + ".toc.json.fetched")
        try DataDirectory.makeDirectory(path.removingLastComponent(), intermediates: true)
        do {
            let tailLength = Int64(TOCFileIndex.suggestedTailLength)
            if let size, size > tailLength,
                case let tail = try Self.remoteCall({ try await remote.get(key: key, range: .suffix(tailLength)) }),
                tail.count == Int(tailLength),
                case .index? = try? TOCFileIndex.parse(tail: tail, fileSize: UInt64(size))
            {
                try LocalTOC.createPartial(at: path, size: UInt64(size), tail: tail)
            } else {
                let bytes = try Self.remoteCall { try await remote.get(key: key, range: nil) }
                try Data(bytes).write(to: URL(fileURLWithPath: path.string), options: .atomic)
            }
            _ = try LocalTOC(path: path)
        } catch {
            Glibc.unlink(path.string)
            throw error
        }
        return path
    }

    /// Where a partial TOC copy gets its missing blocks: Range requests for the TOC at `key`.
    func missingTOCBlocks(from key: String) -> LocalTOC.RangeFetch? {
        guard let remote else { return nil }
        let source = RemoteRangeSource(store: remote, key: key)
        return { range in try source.bytes(in: range) }
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
}

extension Node {
    /// A new row named `name` in `parent`, owned by `owner`, with all three times `now`.
    static func make(parent: Node, name: [UInt8], role: NodeRole, owner: Caller, now: Int64) -> Node {
        Node(
            id: nil, parentID: parent.id, name: Data(name), role: role, mode: 0o755, uid: owner.uid, gid: owner.gid,
            size: 0, atimeNs: now, mtimeNs: now, ctimeNs: now, linkTarget: nil, versionID: parent.versionID)
    }
}
