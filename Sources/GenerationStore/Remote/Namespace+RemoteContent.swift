// Files whose content is not on local disk (DESIGN §6): cleaned-up copies of uploaded versions
// and versions found in the bucket. Such a node has `archive_path`; its content is read from the
// cache (`<data>/cache`), else fetched from the version's archive with Range requests for the
// file's members only, verified against the TOC's sha256 and stored in the cache. Readers of the
// same file at the same time wait for one fetch. Writers (and snapshots) first make the content a
// local blob again.
import Foundation
import SeekableArchive
import SupabaseStorage
import SystemPackage

/// What one fetch needs, read under the lock and used without it.
private struct FetchRequest: Sendable {
    let nodeID: Int64
    let ino: InodeNumber
    let versionID: Int64
    let archiveKey: String
    /// The file's path in the archive (bytes: names are any bytes but `/` and NUL).
    let path: [UInt8]
    /// The file's TOC entry, with the summary of the TOC it comes from.
    let toc: ArchiveTOC
}

extension Namespace {
    /// Retries of one bucket request (a Range read, a listing, a TOC) before it counts as failed.
    static let fetchRetries = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(1))

    /// Runs one bucket request from a FUSE or background thread, retried while it fails transiently.
    static func remoteCall<T: Sendable>(_ request: @escaping @Sendable () async throws -> T) throws -> T {
        try BlockingCall.run { try await fetchRetries.run(request) }.get()
    }

    /// Before a remote-only file is opened: fetches it into the cache for reading, or makes it a
    /// local blob for writing (refused in sealed versions before anything is fetched). Returns
    /// the node it pinned in the cache, which the caller unpins once it has opened it.
    func prepareRemoteContent(_ ino: InodeNumber, forWriting: Bool) throws(FSError) -> Int64? {
        let node: Node? = withLockNonThrowing {
            guard ino > 0, ino < VirtualEntry.marker, let node = try? nodeLocked(ino: ino), node.role == .file,
                node.archivePath != nil, node.id != nil
            else { return nil }
            return node
        }
        guard let node, let id = node.id else { return nil }
        fetched.pin(id)
        do {
            if forWriting {
                try withLock { () throws(FSError) in try checkWritableLocked(node) }
                try makeLocal(id)
            } else {
                try ensureCached(id)
            }
        } catch {
            unpin(id)
            throw error
        }
        return id
    }

    /// Lets clean-up remove the cached copy of `id` again.
    func unpin(_ id: Int64?) { fetched.unpin(id) }

    /// Makes sure the cache holds the content of remote-only file `id`. Called without the lock.
    func ensureCached(_ id: Int64) throws(FSError) {
        try fetched.fetches.run(id) { () throws(FSError) in
            guard let request = try withLock({ () throws(FSError) -> FetchRequest? in try fetchRequestLocked(id) }) else {
                return
            }
            try fetch(request)
        }
    }

    /// Makes the content of remote-only file `id` a local blob again (before a write or a snapshot).
    func makeLocal(_ id: Int64) throws(FSError) {
        fetched.pin(id)
        defer { fetched.unpin(id) }
        for _ in 0..<3 {
            try ensureCached(id)
            let done = try withLock { () throws(FSError) -> Bool in
                var node = try nodeLocked(id)
                guard node.archivePath != nil else { return true }
                guard try blobs.adopt(fetched.store.path(node.ino), as: node.ino) else { return false }
                node.archivePath = nil
                let saved = node
                try writeCatalogLocked("keeping a fetched file locally") { db in try saved.update(db) }
                if nodes[id] != nil { nodes[id] = node }
                fetched.forget(id)
                return true
            }
            if done { return }
        }
        throw FSError(.ioError, "the fetched content of inode \(id) was removed from the cache three times in a row")
    }

    /// Makes every file of a version local, before it is packed again.
    func makeVersionLocal(_ versionID: Int64) throws(FSError) {
        let remoteOnly = try withLock { () throws(FSError) -> [Int64] in
            try readCatalogLocked("listing a version's remote files") { db in
                try Int64.fetchAll(
                    db, sql: "SELECT id FROM node WHERE version_id = ? AND role = 'file' AND archive_path IS NOT NULL",
                    arguments: [versionID])
            }
        }
        for id in remoteOnly { try makeLocal(id) }
    }

    /// The TOC of a version's current archive, opened once and kept. A version from the bucket
    /// may have a partial copy: it fetches its missing blocks from the bucket's TOC.
    func tocLocked(_ version: VersionRecord) throws(FSError) -> LocalTOC {
        let path = try archivePathsLocked(version).toc
        let fetchMissing = version.origin == .remote ? missingTOCBlocks(from: try remoteKeysLocked(version).toc) : nil
        do {
            return try fetched.toc(version.nodeID, at: path, fetchMissing: fetchMissing)
        } catch {
            throw FSError(.ioError, "reading the TOC \(path) of v\(version.number): \(error)")
        }
    }

    /// nil when the cache already holds the file (its use is recorded).
    private func fetchRequestLocked(_ id: Int64) throws(FSError) -> FetchRequest? {
        let node = try nodeLocked(id)
        guard let archivePath = node.archivePath, let versionID = node.versionID, let version = versions[versionID] else {
            return nil
        }
        if fetched.holds(id) { return nil }
        let path = [UInt8](archivePath)
        let toc = try tocLocked(version)
        let entry: ArchiveTOC.Entry?
        do {
            entry = try toc.entry(at: path)
        } catch {
            throw FSError(.ioError, "reading the TOC \(toc.path) of v\(version.number): \(error)")
        }
        guard let entry else { throw FSError(.ioError, "\(NameRules.readablePath(path)) is not in the TOC of v\(version.number)") }
        return FetchRequest(
            nodeID: id, ino: node.ino, versionID: versionID, archiveKey: try remoteKeysLocked(version).archive,
            path: path, toc: ArchiveTOC(summary: toc.summary, entries: [entry]))
    }

    /// Fetches one file's members, verifies them and moves the result into the cache.
    private func fetch(_ request: FetchRequest) throws(FSError) {
        let target = fetched.store.path(request.ino)
        let partial = FilePath(target.string + ".partial")
        do {
            guard let remote else { throw FSError(.ioError, "cloud storage is disabled") }
            let source = RemoteRangeSource(store: remote, key: request.archiveKey)
            let reader = try SeekableTarReader(toc: request.toc, source: source)
            let descriptor = try fetched.store.create(partial)
            try descriptor.closeAfter { try reader.writeFile(at: request.path, to: descriptor) }
            if Glibc.rename(partial.string, target.string) != 0 { throw Errno(rawValue: errno) }
            let (requests, bytes) = source.transferred.totals
            logger.info("fetched \(NameRules.readablePath(request.path)) of \(request.archiveKey): \(bytes) bytes in \(requests) requests")
        } catch {
            Glibc.unlink(partial.string)
            let reason = "reading \(NameRules.readablePath(request.path)) of \(request.archiveKey) from the bucket failed: \(error)"
            logger.error("\(reason)")
            fetched.recordReadError(request.versionID, reason)
            throw FSError(.ioError, reason)
        }
        fetched.fetched(request.nodeID, ino: request.ino, versionID: request.versionID)
        wakeups.contentAdded()
    }
}
