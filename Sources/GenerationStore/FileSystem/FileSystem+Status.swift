// The documents behind the virtual status.json files (DESIGN §3), and download URLs.
import Foundation
import GRDB

extension GenerationFileSystem {
    func versionStatusLocked(_ version: VersionRecord) throws(FSError) -> JSONValue {
        do {
            try saveDirtyLocked()
        } catch {
            logger.warning("status.json may show stale sizes: \(error)")
        }
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        let totals = try readCatalogLocked("counting a version's files") {
            try Node.contentTotals($0, version: version.nodeID)
        }
        let metadata = try readCatalogLocked("reading a version's metadata") {
            try ExtendedAttribute.all($0, node: version.nodeID)
        }
        let url = downloadURLLocked(version)
        return .object([
            ("id", .string(String(decoding: generation.nameBytes, as: UTF8.self))),
            ("project_id", .string(String(decoding: project.nameBytes, as: UTF8.self))),
            ("version", .int(Int64(version.number))),
            ("status", .string(versionStateLocked(version))),
            ("sealed", .bool(version.sealed)),
            ("files_count", .int(Int64(totals.files))),
            ("bytes", .int(totals.bytes)),
            ("download_url", .optional(url)),
            ("archive_bytes", version.archiveSize.map { .int($0) } ?? .null),
            ("download_url_expires_at", .optional(downloadURLExpiryLocked(version))),
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("upload", uploadStatusLocked(version)),
            ("origin", .string(version.origin.rawValue)),
            ("local_copy", .bool(version.localCopy)),
            (
                "last_read_error",
                fetched.lastReadError(version.nodeID).map {
                    .object([("message", .string($0.message)), ("at", .string(Self.iso8601($0.atNs)))])
                } ?? .null
            ),
            ("metadata", .object(metadata.map { let (key, value) = Self.metadataMember($0); return (key, .string(value)) })),
            ("created_at", .string(Self.iso8601(version.createdAtNs))),
            ("updated_at", .string(Self.iso8601(version.updatedAtNs))),
        ])
    }

    func generationStatusLocked(_ generation: Node) throws(FSError) -> JSONValue {
        guard let generationID = generation.id else { throw FSError.notFound() }
        let project = try projectLocked(ofGeneration: generation)
        let own = versions.values.filter { $0.generationNodeID == generationID }.sorted { $0.number < $1.number }
        var summaries: [JSONValue] = []
        for version in own {
            let totals = try readCatalogLocked("counting a version's files") {
                try Node.contentTotals($0, version: version.nodeID)
            }
            summaries.append(
                .object([
                    ("version", .int(Int64(version.number))),
                    ("status", .string(versionStateLocked(version))),
                    ("sealed", .bool(version.sealed)),
                    ("upload_state", .string(uploadStateLocked(version))),
                    ("files_count", .int(Int64(totals.files))),
                    ("download_url", .optional(downloadURLLocked(version))),
                ]))
        }
        let latest = own.last
        return .object([
            ("id", .string(String(decoding: generation.nameBytes, as: UTF8.self))),
            ("project_id", .string(String(decoding: project.nameBytes, as: UTF8.self))),
            ("latest_version", latest.map { .int(Int64($0.number)) } ?? .null),
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("download_url", .optional(latest.flatMap { downloadURLLocked($0) })),
            ("versions", .array(summaries)),
        ])
    }

    func rootStatusLocked() throws(FSError) -> JSONValue {
        let counts = try readCatalogLocked("counting projects and generations") { db in
            (
                try Node.filter(Node.Columns.role == NodeRole.project).fetchCount(db),
                try Node.filter(Node.Columns.role == NodeRole.generation).fetchCount(db)
            )
        }
        return .object([
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("remote", connection.map(Self.remoteStatus) ?? .null),
            ("upload_queue", try uploadQueueLocked()),
            (
                "cache",
                .object([
                    ("bytes_used", .int(cleanCopyBytesLocked())), ("limit_bytes", .int(configuration.cacheMaxBytes)),
                    ("ttl_hours", .number(configuration.cacheTTLHours)),
                ])
            ),
            (
                "daemon",
                .object([("pid", .int(Int64(getpid()))), ("data_directory", .string(dataDirectory.root.string))])
            ),
            ("projects", .int(Int64(counts.0))),
            ("generations", .int(Int64(counts.1))),
            ("versions", .int(Int64(versions.count))),
        ])
    }

    /// The bucket's URL and name (never the key) and whether it answers: uploads wait until it has.
    static func remoteStatus(_ connection: RemoteConnection) -> JSONValue {
        var members: [(String, JSONValue)] = [("url", .string(connection.url)), ("bucket", .string(connection.bucket))]
        switch connection.current {
        case .connecting:
            members.append(("state", .string("connecting")))
        case .connected(let at):
            members += [("state", .string("connected")), ("connected_at", .string(iso8601(at)))]
        case .waiting(let reason, let since, let attempts, let retryAt):
            members += [
                ("state", .string("unreachable")), ("error", .string(reason)), ("since", .string(iso8601(since))),
                ("attempts", .int(Int64(attempts))), ("next_attempt_at", .string(iso8601(retryAt))),
            ]
        }
        return .object(members)
    }

    /// The queue counted from the same per-version states that the versions' status.json show,
    /// so the counts add up to the number of versions.
    func uploadQueueLocked() throws(FSError) -> JSONValue {
        let jobs: [Int64: UploadJob]
        do {
            jobs = try uploads.jobs()
        } catch {
            throw FSError.wrapping(error, "reading the upload queue")
        }
        var counts: [String: Int64] = [:]
        var pendingBytes: Int64 = 0
        for version in versions.values {
            let state = uploads.state(jobs[version.nodeID])
            counts[state, default: 0] += 1
            if state == "pending" || state == "uploading" { pendingBytes += version.archiveSize ?? 0 }
        }
        return .object(
            ["pending", "uploading", "failed", "conflict", "uploaded"].map { ($0, .int(counts[$0] ?? 0)) }
                + [("bytes_pending", .int(pendingBytes))])
    }

    /// "writing" while changes are not yet in the archive or a file is open for writing,
    /// "completed" once the archive holds everything.
    func versionStateLocked(_ version: VersionRecord) -> String {
        version.dirty || (!version.sealed && openFiles.hasWriters(version.nodeID)) ? "writing" : "completed"
    }

    func uploadStateLocked(_ version: VersionRecord) -> String {
        uploads.state(of: version.nodeID)
    }

    func uploadStatusLocked(_ version: VersionRecord) -> JSONValue {
        uploads.statusJSON(versionID: version.nodeID, archiveSize: version.archiveSize)
    }

    /// The URL `download_url` answers: a signed URL of the uploaded archive while one is known
    /// that is still reusable (`signedURLReuseMargin`), else the local archive once a snapshot exists.
    func downloadURLLocked(_ version: VersionRecord) -> String? {
        if let signed = uploads.reusableSignedURL(version.nodeID) { return signed.url }
        guard version.snapshottedAtNs != nil, version.localCopy, let paths = try? archivePathsLocked(version) else { return nil }
        return URL(fileURLWithPath: paths.archive.string).absoluteString
    }

    func downloadURLExpiryLocked(_ version: VersionRecord) -> String? {
        guard let signed = uploads.reusableSignedURL(version.nodeID), downloadURLLocked(version) == signed.url else { return nil }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: signed.expiresAt)
    }

    /// A version xattr as a metadata member: the name without `user.`, the value as text.
    static func metadataMember(_ attribute: ExtendedAttribute) -> (String, String) {
        let name = String(decoding: attribute.name, as: UTF8.self)
        let key = name.hasPrefix("user.") ? String(name.dropFirst(5)) : name
        return (key, String(decoding: attribute.value, as: UTF8.self))
    }

    static func iso8601(_ nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }
}
