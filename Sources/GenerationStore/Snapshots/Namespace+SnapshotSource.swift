// The namespace's side of snapshots (the snapshotter is Snapshotter.swift): where a version's
// archive lives, what a snapshot packs (read under the namespace lock), recording a finished one,
// and taking one before `download_url` answers so that the URL matches what `ls` shows.
import Foundation
import GRDB
import SeekableArchive
import SystemPackage

extension Namespace: SnapshotSource {
    /// `projects/<p>/generations/<g>/v<n>`: the version's key stem in the bucket (DESIGN §4) and,
    /// below `<data>/archives`, of its local archive. `.tar.gz` and `.toc.json` are appended.
    func objectStemLocked(_ version: VersionRecord) throws(FSError) -> String {
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        return "projects/\(String(decoding: project.nameBytes, as: UTF8.self))/generations/"
            + "\(String(decoding: generation.nameBytes, as: UTF8.self))/v\(version.number)"
    }

    func archivePathsLocked(_ version: VersionRecord) throws(FSError) -> (archive: FilePath, toc: FilePath) {
        let stem = archivesRoot.string + "/" + (try objectStemLocked(version))
        return (FilePath(stem + ".tar.gz"), FilePath(stem + ".toc.json"))
    }

    /// `download_url` always names an archive that matches what `ls` shows: a version with
    /// unsnapshotted changes is packed before its URL is answered.
    func snapshotBeforeAnswering(_ virtual: VirtualEntry) throws(FSError) {
        let versionID: Int64? = withLockNonThrowing {
            switch virtual.kind {
            case .versionDownloadURL: virtual.owner
            case .generationDownloadURL: latestVersion[virtual.owner]
            default: nil
            }
        }
        guard let versionID else { return }
        for _ in 0..<3 where try !snapshotIfDirty(versionID: versionID) {}
        refreshSignedURLIfNeeded(versionID: versionID)
    }

    /// Takes a snapshot of the version now if it has unsnapshotted changes (see Snapshotter.snapshot).
    @discardableResult
    func snapshotIfDirty(versionID: Int64) throws(FSError) -> Bool {
        try snapshots.snapshot(versionID, from: self)
    }

    // MARK: - SnapshotSource

    func unsnapshottedVersions() -> [(id: Int64, sealed: Bool)] {
        withLockNonThrowing { versions.values.filter(\.dirty).map { ($0.nodeID, $0.sealed) } }
    }

    func isCleanedUp(_ versionID: Int64) -> Bool {
        withLockNonThrowing {
            takeAllWrittenLocked()
            return versions[versionID].map { $0.dirty && !$0.localCopy } ?? false
        }
    }

    func planSnapshot(_ versionID: Int64, changes: (Int64) -> UInt64) throws(FSError) -> SnapshotPlan? {
        try withLock { () throws(FSError) -> SnapshotPlan? in
            takeAllWrittenLocked()
            guard let version = versions[versionID], version.dirty else { return nil }
            return try snapshotPlanLocked(version, changes: changes(versionID))
        }
    }

    func recordSnapshot(_ plan: SnapshotPlan, archiveSize: UInt64, isCurrent: () -> Bool) throws(FSError) -> Bool {
        try withLock { () throws(FSError) -> Bool in
            let versionID = plan.version.nodeID
            guard isCurrent(), var version = versions[versionID] else { return false }
            version.dirty = false
            version.localCopy = true
            version.archiveSize = Int64(archiveSize)
            // From the change clock: every later change gets a later ctime (incremental snapshots rely on it).
            version.snapshottedAtNs = changeClock.now().totalNanoseconds
            let saved = version
            try writeCatalogLocked("recording a snapshot") { db in
                try saved.update(db)
                if let snapshot = saved.snapshottedAtNs { try self.uploads.enqueue(versionID: saved.nodeID, snapshotNs: snapshot, db) }
            }
            versions[versionID] = version
            dirtyVersions.remove(versionID)
            fullPackNeeded.remove(versionID)
            fetched.setTOC(versionID, nil)
            return true
        }
    }

    private func snapshotPlanLocked(_ version: VersionRecord, changes: UInt64) throws(FSError) -> SnapshotPlan {
        try saveDirtyLocked()
        let (archive, toc) = try archivePathsLocked(version)
        let (tree, entryCount) = try catalogSnapshotLocked(version)
        let attributes = try readCatalogLocked("reading a version's metadata") {
            try ExtendedAttribute.all($0, node: version.nodeID)
        }
        var metadata: [String: String] = [:]
        var metadataBase64: [String: String] = [:]
        for attribute in attributes {
            let key = Self.metadataKey(attribute)
            if let text = String(validating: attribute.value, as: UTF8.self) {
                metadata[key] = text
            } else {
                metadataBase64[key] = attribute.value.base64EncodedString()
            }
        }
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        // Ids are ASCII by the naming rules.
        let title = "v\(version.number) of \(String(decoding: generation.nameBytes, as: UTF8.self)) "
            + "(project \(String(decoding: project.nameBytes, as: UTF8.self)))"
        return SnapshotPlan(
            version: version, title: title, changes: changes, archive: archive, toc: toc, tree: tree,
            entryCount: entryCount, metadata: metadata, metadataBase64: metadataBase64,
            reuse: reuseSourcesLocked(version, archive: archive, toc: toc))
    }

    /// What a snapshot of `version` may copy from, in order of preference: its own archive
    /// (unless an unclean stop makes ctimes untrustworthy), then the previous version's, file
    /// contents compared (a new version is often packed empty before the tool copies the previous
    /// version's files in, so the first archive with entries is used).
    private func reuseSourcesLocked(_ version: VersionRecord, archive: FilePath, toc: FilePath) -> [SnapshotPlan.ReuseSource] {
        if fullPackNeeded.contains(version.nodeID) { return [] }
        var sources: [SnapshotPlan.ReuseSource] = []
        if let snapshotNs = version.snapshottedAtNs {
            sources.append(SnapshotPlan.ReuseSource(archive: archive, toc: toc, trust: .changedBefore(snapshotNs)))
        }
        if let previous = versionLocked(generation: version.generationNodeID, number: version.number - 1),
            previous.localCopy, previous.snapshottedAtNs != nil, let paths = try? archivePathsLocked(previous) {
            sources.append(SnapshotPlan.ReuseSource(archive: paths.archive, toc: paths.toc, trust: .sameContent))
        }
        return sources
    }

    /// The catalog as it is now, every change committed, for a tree walk without the lock.
    private func catalogSnapshotLocked(_ version: VersionRecord) throws(FSError) -> (DatabaseSnapshot, Int) {
        do {
            try catalog.commitBatch()
            let tree = try catalog.committedSnapshot()
            return (tree, try tree.read { try Node.approximateEntryCount($0, version: version.nodeID) })
        } catch {
            throw FSError.wrapping(error, "reading a version's files")
        }
    }
}
