// Clean-up (DESIGN §6): removes local copies of uploaded versions and files fetched into the
// cache by CACHE_TTL_HOURS and CACHE_MAX_BYTES (CleanUpPolicy.swift). A version's copy is
// removable only while its uploaded archive holds exactly what it shows: uploaded, no change
// since, no file open. Its files then read through the cache from the bucket.
import Foundation
import GRDB
import SeekableArchive
import SystemPackage

extension Namespace {
    /// One clean-up pass (the clean-up loop's job).
    public func cleanUp() {
        guard configuration.autoCleanupEnabled, remote != nil else { return }
        withLockNonThrowing {
            let copies: [CleanCopy]
            do {
                copies = try cleanCopiesLocked()
            } catch {
                logger.error("clean-up could not list the clean copies: \(error)")
                return
            }
            let chosen = CleanUpPolicy.choose(
                copies, nowNs: Timespec.now().totalNanoseconds, ttlNs: Int64(configuration.cacheTTLHours * 3600e9),
                maxBytes: configuration.cacheMaxBytes)
            for kind in chosen {
                switch kind {
                case .versionFiles(let versionID):
                    do {
                        try removeLocalCopyLocked(versionID)
                    } catch {
                        logger.error("clean-up kept the local copy of version inode \(versionID): \(error)")
                    }
                case .cachedFile(let nodeID):
                    fetched.remove(nodeID, ino: InodeNumber(nodeID))
                }
            }
        }
    }

    /// Bytes of clean copies (what CACHE_MAX_BYTES limits), for status.json.
    func cleanCopyBytesLocked() -> Int64 {
        ((try? cleanCopiesLocked()) ?? []).reduce(0) { $0 + $1.bytes }
    }

    /// Every clean copy: local copies of versions whose upload holds all they show, and cached fetches.
    func cleanCopiesLocked() throws(FSError) -> [CleanCopy] {
        let uploaded = try readCatalogLocked("reading finished uploads") { db in
            try UploadJob.filter(Column("state") == UploadState.uploaded).fetchAll(db)
        }
        let (openVersions, openNodes) = openFiles.openBlobs()
        var copies: [CleanCopy] = []
        for job in uploaded {
            guard let version = versions[job.versionNodeID], version.origin == .local, version.localCopy, !version.dirty,
                version.snapshottedAtNs == job.snapshotNs
            else { continue }
            let totals = try readCatalogLocked("counting a version's files") {
                try Node.contentTotals($0, version: version.nodeID)
            }
            copies.append(
                CleanCopy(
                    kind: .versionFiles(versionID: version.nodeID), bytes: totals.bytes + (version.archiveSize ?? 0),
                    lastUsedNs: versionLastUsedNs[version.nodeID] ?? job.uploadedAtNs ?? job.snapshotNs,
                    removable: !openVersions.contains(version.nodeID)))
        }
        return copies + fetched.cleanCopies(open: openNodes)
    }

    /// Leaves a version's content to its uploaded archive: each file's TOC path is recorded, then
    /// its blob and the local archive are deleted (the TOC stays: reads need it). Nothing is
    /// removed unless every file is in the TOC with the size the catalog shows. The version is
    /// walked three times (check, record, delete) in archive order, so TOC lookups mostly hit the
    /// block read for the file before, and nothing is held per file: a million-file version
    /// costs no more memory than a small one.
    private func removeLocalCopyLocked(_ versionID: Int64) throws(FSError) {
        guard var version = versions[versionID] else { return }
        let toc = try tocLocked(version)
        var files = 0
        try readCatalogLocked("checking a version's files against its TOC") { db in
            try VersionTreeWalk.walk(db, version: versionID) { path, node in
                guard node.role == .file, node.archivePath == nil else { return }
                try Self.checkUploaded(path, node, in: toc)
                files += 1
            }
        }
        version.localCopy = false
        let saved = version
        try writeCatalogLocked("recording a removed local copy") { db in
            // Only archive_path changes: the walk's cursors (by parent and name) are not disturbed.
            let statement = try db.cachedStatement(sql: "UPDATE node SET archive_path = ? WHERE id = ?")
            try VersionTreeWalk.walk(db, version: versionID) { path, node in
                guard node.role == .file, node.archivePath == nil, let id = node.id else { return }
                try statement.execute(arguments: [Data(path), id])
            }
            try saved.update(db)
        }
        versions[versionID] = version
        try readCatalogLocked("removing a version's blobs") { db in
            try VersionTreeWalk.walk(db, version: versionID) { _, node in
                guard node.role == .file, let id = node.id else { return }
                nodes[id]?.archivePath = node.archivePath
                blobs.remove(node.ino)
            }
        }
        let archive = try archivePathsLocked(version).archive
        Glibc.unlink(archive.string)
        logger.info("clean-up: removed the local copy of \(archive.lastComponent?.string ?? "") (\(files) files); it reads from the bucket")
    }

    private static func checkUploaded(_ path: [UInt8], _ node: Node, in toc: LocalTOC) throws(FSError) {
        let entry: ArchiveTOC.Entry?
        do {
            entry = try toc.entry(at: path)
        } catch {
            throw FSError(.ioError, "reading the TOC \(toc.path): \(error)")
        }
        // A second name of a file with hard links is a hard link entry: the data is at the first.
        if entry?.type == .hardLink { return }
        guard let entry, entry.type == .file, Int64(entry.size) == node.size else {
            throw FSError(.ioError, "\(NameRules.readablePath(path)) is not in the uploaded archive as the catalog shows it")
        }
    }
}
