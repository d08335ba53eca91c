// The virtual entries' attributes, link targets and content (status.json, download_url,
// `latest`, and the `generations/` and `active/` views).
import Foundation
import GRDB

extension Namespace {
    func virtualExistsLocked(_ virtual: VirtualEntry) -> Bool {
        virtual.kind != .latestLink || latestVersion[virtual.owner] != nil
    }

    /// The entry of a virtual node. A virtual file's size is its content's length, computed now
    /// (status.json saves pending sizes and builds the whole report for it); `sized: false` leaves
    /// it 0, for lookups and listings: the timeout is 0, so the kernel asks getattr before it uses a
    /// size, and reads use direct I/O (which does not look at it).
    func virtualEntryLocked(_ virtual: VirtualEntry, sized: Bool = true) throws(FSError) -> Entry {
        guard virtualExistsLocked(virtual) else { throw FSError.notFound() }
        let ownerNode = try nodeLocked(virtual.owner)
        let now = Timespec.now()
        var attributes = Attributes(
            ino: virtual.ino, kind: virtual.kind.fileKind, mode: 0o444, nlink: 1, uid: owner.uid, gid: owner.gid,
            size: 0, atime: now, mtime: now, ctime: now)
        switch virtual.kind.fileKind {
        case .directory:
            attributes.mode = 0o555
            attributes.size = 4096
        case .symlink:
            attributes.mode = 0o777
            attributes.size = UInt64(try linkTargetLocked(virtual)?.count ?? 0)
            attributes.mtime = Timespec(totalNanoseconds: ownerNode.mtimeNs)
        case .file:
            // The exact size of the content as it would be computed now; reads use direct I/O.
            if sized { attributes.size = UInt64(try virtualContentLocked(virtual).count) }
        case .fifo, .socket, .characterDevice, .blockDevice:
            break  // no virtual entry is one
        }
        return Entry(attributes: attributes, timeout: 0)
    }

    func linkTargetLocked(_ virtual: VirtualEntry) throws(FSError) -> [UInt8]? {
        switch virtual.kind {
        case .latestLink:
            guard let latest = latestVersion[virtual.owner], let version = versions[latest] else { return nil }
            return NameRules.versionName(version.number)
        case .generationsViewLink, .activeViewLink:
            let generation = try nodeLocked(virtual.owner)
            let project = try projectLocked(ofGeneration: generation)
            return Array("../projects/".utf8) + project.nameBytes + Array("/generations/".utf8) + generation.nameBytes
        default:
            return nil
        }
    }

    func lookupInViewLocked(_ view: VirtualEntry, _ name: [UInt8]) throws(FSError) -> Entry {
        guard view.kind == .generationsView || view.kind == .activeView else {
            throw FSError(.notDirectory, "not a directory")
        }
        let id = String(decoding: name, as: UTF8.self)
        guard let generation = try readCatalogLocked("looking up a generation", { try Node.generation($0, id: id) }),
            let generationID = generation.id
        else { throw FSError.notFound() }
        if view.kind == .activeView, !isActiveLocked(generationID) { throw FSError.notFound() }
        return try virtualEntryLocked(
            VirtualEntry(owner: generationID, kind: view.kind == .generationsView ? .generationsViewLink : .activeViewLink))
    }

    /// The generations a view lists: all of them, or the active ones.
    func viewMembersLocked(_ view: VirtualEntry) throws(FSError) -> [Node] {
        let all = try readCatalogLocked("listing generations") {
            try Node.filter(Node.Columns.role == NodeRole.generation).order(Node.Columns.name).fetchAll($0)
        }
        guard view.kind == .activeView else { return all }
        return all.filter { isActiveLocked($0.id ?? 0) }
    }

    /// A generation is active while one of its versions is still open, or its upload is pending,
    /// running or failed (DESIGN §1).
    func isActiveLocked(_ generationID: Int64) -> Bool {
        versions.values.contains { version in
            guard version.generationNodeID == generationID else { return false }
            if !version.sealed { return true }
            guard uploads.isEnabled else { return false }
            let state = uploads.job(version.nodeID)?.state
            return state == nil || state == .pending || state == .uploading || state == .failed
        }
    }

    func projectLocked(ofGeneration generation: Node) throws(FSError) -> Node {
        let container = try nodeLocked(generation.parentID ?? Catalog.rootID)
        return try nodeLocked(container.parentID ?? Catalog.rootID)
    }

    /// The bytes of a virtual file, computed now.
    func virtualContentLocked(_ virtual: VirtualEntry) throws(FSError) -> [UInt8] {
        switch virtual.kind {
        case .rootStatus:
            return Array(try rootStatusLocked().rendered().utf8) + [10]
        case .generationStatus:
            return Array(try generationStatusLocked(try nodeLocked(virtual.owner)).rendered().utf8) + [10]
        case .versionStatus:
            guard let version = versions[virtual.owner] else { throw FSError.notFound() }
            return Array(report.version(try versionFactsLocked(version)).rendered().utf8) + [10]
        case .versionDownloadURL:
            guard let version = versions[virtual.owner] else { throw FSError.notFound() }
            return Array((downloadURLLocked(version) ?? "").utf8) + [10]
        case .generationDownloadURL:
            guard let latest = latestVersion[virtual.owner], let version = versions[latest] else { return [10] }
            return Array((downloadURLLocked(version) ?? "").utf8) + [10]
        default:
            throw FSError(.isDirectory, "not a regular file")
        }
    }
}
