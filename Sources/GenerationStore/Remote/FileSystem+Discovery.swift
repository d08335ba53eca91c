// Many mounts, one bucket (DESIGN §6): versions other mounts uploaded are found by listing the
// bucket (everything at start; a folder again when its directory is read or a name in it is
// missed, at most once per REMOTE_LIST_INTERVAL) and added sealed, their files known from the
// TOC and fetched only when read. A version this mount has under the same number stays its own.
import Foundation
import GRDB
import SeekableArchive
import SupabaseStorage
import SystemPackage

/// What part of the bucket to list.
public enum BucketScope: Sendable, Hashable {
    /// Every project, generation and version (at start).
    case everything
    /// The projects, and everything in projects this mount does not know yet.
    case projects
    /// One project's generations, and everything in generations this mount does not know yet.
    case project(String)
    /// One generation's versions.
    case generation(project: String, generation: String)
}

extension GenerationFileSystem {
    /// Lists the bucket under `scope` and adds the versions found there. Called without the lock;
    /// failures are logged and leave the tree as it was.
    public func listBucket(_ scope: BucketScope) {
        guard let remote else { return }
        do {
            switch scope {
            case .everything:
                for project in try folders(remote, "projects") { try listProject(remote, project, everything: true) }
            case .projects:
                for project in try folders(remote, "projects") where !knowsProject(project) {
                    try listProject(remote, project, everything: true)
                }
            case .project(let project):
                try listProject(remote, project, everything: false)
            case .generation(let project, let generation):
                try listGeneration(remote, project, generation)
            }
        } catch {
            logger.warning("listing the bucket (\(scope)) failed; versions of other mounts may be missing: \(error)")
        }
    }

    /// Lists the bucket folder behind directory `ino` if it was not listed within the interval.
    /// Returns whether it listed.
    @discardableResult
    func listBucketIfDue(for ino: InodeNumber) -> Bool {
        guard remote != nil else { return false }
        let scope: BucketScope? = withLockNonThrowing {
            if let view = VirtualEntry(ino: ino) {
                return view.kind == .generationsView || view.kind == .activeView ? .projects : nil
            }
            guard let node = try? nodeLocked(ino: ino) else { return nil }
            switch node.role {
            case .projects: return .projects
            case .project: return .project(String(decoding: node.nameBytes, as: UTF8.self))
            case .projectGenerations:
                return (try? nodeLocked(node.parentID ?? 0)).map { .project(String(decoding: $0.nameBytes, as: UTF8.self)) }
            case .generation:
                return (try? projectLocked(ofGeneration: node)).map {
                    .generation(
                        project: String(decoding: $0.nameBytes, as: UTF8.self),
                        generation: String(decoding: node.nameBytes, as: UTF8.self))
                }
            default: return nil
            }
        }
        guard let scope else { return false }
        let due = withLockNonThrowing { () -> Bool in
            let key = "\(scope)"
            let interval = Duration.milliseconds(Int64(configuration.remoteListInterval * 1000))
            if let last = listedAt[key], ContinuousClock.now - last < interval { return false }
            listedAt[key] = .now
            return true
        }
        if due { listBucket(scope) }
        return due
    }

    // MARK: - Walking the bucket

    private func listProject(_ remote: any ObjectStore, _ project: String, everything: Bool) throws {
        for generation in try folders(remote, "projects/\(project)/generations")
        where everything || !knowsGeneration(generation) {
            try listGeneration(remote, project, generation)
        }
    }

    private func listGeneration(_ remote: any ObjectStore, _ project: String, _ generation: String) throws {
        let prefix = "projects/\(project)/generations/\(generation)"
        let numbers = try objects(remote, prefix).compactMap(Self.tocVersionNumber).sorted()
        for number in numbers where !knowsVersion(project, generation, number) {
            let key = "\(prefix)/v\(number).toc.json"
            let bytes = try BlockingCall.run { try await Self.fetchRetries.run { try await remote.get(key: key, range: nil) } }.get()
            let toc: ArchiveTOC
            do {
                toc = try ArchiveTOC.decode(from: bytes)
                try toc.validate()
            } catch {
                logger.warning("skipping \(key) in the bucket: not a readable TOC (\(error))")
                continue
            }
            do {
                try withLock { () throws(FSError) in
                    try addRemoteVersionLocked(project: project, generation: generation, number: number, toc: toc, tocBytes: bytes)
                }
            } catch {
                logger.warning("could not add \(prefix)/v\(number) found in the bucket: \(error)")
            }
        }
    }

    /// The valid ids among the folders under `prefix`.
    private func folders(_ remote: any ObjectStore, _ prefix: String) throws -> [String] {
        try BlockingCall.run { try await Self.fetchRetries.run { try await remote.listAll(prefix: prefix) } }.get()
            .filter { $0.isFolder && (try? NameRules.parseID(Array($0.name.utf8), what: "id")) != nil }.map(\.name)
    }

    private func objects(_ remote: any ObjectStore, _ prefix: String) throws -> [String] {
        try BlockingCall.run { try await Self.fetchRetries.run { try await remote.listAll(prefix: prefix) } }.get()
            .filter { !$0.isFolder }.map(\.name)
    }

    /// `v<n>.toc.json` → n.
    static func tocVersionNumber(_ name: String) -> Int? {
        guard name.hasSuffix(".toc.json") else { return nil }
        return NameRules.versionNumber(Array(name.dropLast(".toc.json".count).utf8))
    }

    private func knowsProject(_ project: String) -> Bool {
        withLockNonThrowing { (try? childLocked(try nodeLocked(Catalog.projectsID), Array(project.utf8))) != nil }
    }

    private func knowsGeneration(_ generation: String) -> Bool {
        withLockNonThrowing { (try? readCatalogLocked("looking up a generation") { try Node.generation($0, id: generation) }) != nil }
    }

    private func knowsVersion(_ project: String, _ generation: String, _ number: Int) -> Bool {
        withLockNonThrowing {
            guard let found = try? versionLocked(project, generation, number) else { return false }
            return found != nil
        }
    }

    private func versionLocked(_ project: String, _ generation: String, _ number: Int) throws(FSError) -> VersionRecord? {
        guard let node = try readCatalogLocked("looking up a generation", { try Node.generation($0, id: generation) }),
            let id = node.id
        else { return nil }
        return versions.values.first { $0.generationNodeID == id && $0.number == number }
    }

    // MARK: - Adding a version

    /// Adds a version found in the bucket: sealed, uploaded, its tree from the TOC with every
    /// file's content left in the archive. Skipped (with a log line) when its generation id
    /// belongs to another project here.
    private func addRemoteVersionLocked(
        project: String, generation: String, number: Int, toc: ArchiveTOC, tocBytes: [UInt8]
    ) throws(FSError) {
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
        let tocPath = archivesRoot.string + "/" + stem + ".toc.json"
        do {
            try DataDirectory.makeDirectory(FilePath(tocPath).removingLastComponent(), intermediates: true)
            try Data(tocBytes).write(to: URL(fileURLWithPath: tocPath), options: .atomic)
        } catch {
            throw FSError.wrapping(error, "saving the TOC of \(stem)")
        }
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
                updatedAtNs: now, dirty: false, archiveSize: Int64(toc.archiveSize), snapshottedAtNs: now, origin: .remote,
                localCopy: false)
            try record.insert(db)
            try self.insertTreeLocked(toc, version: fixed, db)
            for (key, value) in toc.metadata ?? [:] {
                try ExtendedAttribute(nodeID: versionID, name: Data("user.\(key)".utf8), value: Data(value.utf8)).insert(db)
            }
            try UploadJob(
                versionNodeID: versionID, state: .uploaded, bytesUploaded: Int64(toc.archiveSize),
                bytesTotal: Int64(toc.archiveSize), enqueuedAtNs: now, nextAttemptAtNs: now, uploadedAtNs: now,
                snapshotNs: now, published: true
            ).insert(db)
            return record
        }
        versions[record.nodeID] = record
        tocs[record.nodeID] = toc
        if number > (latestVersion[generationID].flatMap { versions[$0] }?.number ?? 0) {
            latestVersion[generationID] = record.nodeID
        }
        logger.info("found \(stem) in the bucket (\(toc.entries.count) entries): shown sealed, read on demand")
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
    private func insertTreeLocked(_ toc: ArchiveTOC, version: Node, _ db: Database) throws {
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
        for entry in toc.entries {
            let (parentPath, name) = Self.split(entry.path)
            guard (try? NameRules.checkName(Array(name.utf8))) != nil, !entry.path.hasPrefix("/") else {
                logger.warning("skipping \(entry.path) of a TOC in the bucket: not a valid name")
                continue
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
                continue
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
