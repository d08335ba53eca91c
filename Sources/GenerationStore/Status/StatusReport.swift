// Status (DESIGN §3): the documents behind the virtual status.json files and what `download_url`
// answers, built from facts the namespace gathers under its lock (VersionFacts, RootFacts) and from
// what the other components report: the upload queue, fetched files, open files, the connection.
// It owns no state and takes no lock of its own.
import Foundation
import SupabaseStorage

/// What the namespace knows of one version, gathered under its lock.
struct VersionFacts {
    let record: VersionRecord
    let project: String
    let generation: String
    let files: Int
    let bytes: Int64
    /// Sockets in the version, which its archive cannot hold.
    let socketsLeftOut: Int
    /// The version's `user.*` xattrs, names without `user.`.
    let metadata: [(String, String)]
    /// The local archive, once a snapshot exists and the local copy is kept.
    let localArchive: String?
}

/// What the namespace knows of the whole mount.
struct RootFacts {
    let projects: Int
    let generations: Int
    let versions: [VersionRecord]
    let cleanCopyBytes: Int64
}

struct StatusReport {
    let configuration: Configuration
    let uploads: UploadQueue
    let fetched: FetchedFiles
    let openFiles: OpenFiles
    let connection: RemoteConnection?
    let dataDirectory: DataDirectory

    func version(_ facts: VersionFacts) -> JSONValue {
        let record = facts.record
        let signed = uploads.reusableSignedURL(record.nodeID)
        return .object([
            ("id", .string(facts.generation)),
            ("project_id", .string(facts.project)),
            ("version", .int(Int64(record.number))),
            ("status", .string(state(record))),
            ("sealed", .bool(record.sealed)),
            ("files_count", .int(Int64(facts.files))),
            ("bytes", .int(facts.bytes)),
            ("sockets_left_out", .int(Int64(facts.socketsLeftOut))),
            ("download_url", .optional(Self.url(signed: signed, localArchive: facts.localArchive))),
            ("archive_bytes", record.archiveSize.map { .int($0) } ?? .null),
            ("download_url_expires_at", .optional(signed.map { ISO8601DateFormatter().string(from: $0.expiresAt) })),
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("upload", uploads.statusJSON(versionID: record.nodeID, archiveSize: record.archiveSize, waitingFor: waitingFor)),
            ("origin", .string(record.origin.rawValue)),
            ("local_copy", .bool(record.localCopy)),
            (
                "last_read_error",
                fetched.lastReadError(record.nodeID).map {
                    .object([("message", .string($0.message)), ("at", .string(Self.iso8601($0.atNs)))])
                } ?? .null
            ),
            ("metadata", .object(facts.metadata.map { ($0.0, .string($0.1)) })),
            ("created_at", .string(Self.iso8601(record.createdAtNs))),
            ("updated_at", .string(Self.iso8601(record.updatedAtNs))),
        ])
    }

    /// A generation's document; `versions` oldest first.
    func generation(id: String, project: String, versions: [VersionFacts]) -> JSONValue {
        let summaries: [JSONValue] = versions.map { facts in
            .object([
                ("version", .int(Int64(facts.record.number))),
                ("status", .string(state(facts.record))),
                ("sealed", .bool(facts.record.sealed)),
                ("upload_state", .string(uploads.state(of: facts.record.nodeID))),
                ("files_count", .int(Int64(facts.files))),
                ("download_url", .optional(downloadURL(facts.record.nodeID, localArchive: facts.localArchive))),
            ])
        }
        return .object([
            ("id", .string(id)),
            ("project_id", .string(project)),
            ("latest_version", versions.last.map { .int(Int64($0.record.number)) } ?? .null),
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("download_url", .optional(versions.last.flatMap { downloadURL($0.record.nodeID, localArchive: $0.localArchive) })),
            ("versions", .array(summaries)),
        ])
    }

    func root(_ facts: RootFacts) throws -> JSONValue {
        .object([
            ("cloud_storage_enabled", .bool(configuration.useCloudStorage)),
            ("remote", connection.map(Self.remote) ?? .null),
            ("upload_queue", try queue(facts.versions)),
            (
                "cache",
                .object([
                    ("bytes_used", .int(facts.cleanCopyBytes)), ("limit_bytes", .int(configuration.cacheMaxBytes)),
                    ("ttl_hours", .number(configuration.cacheTTLHours)),
                ])
            ),
            (
                "daemon",
                .object([("pid", .int(Int64(getpid()))), ("data_directory", .string(dataDirectory.root.string))])
            ),
            ("projects", .int(Int64(facts.projects))),
            ("generations", .int(Int64(facts.generations))),
            ("versions", .int(Int64(facts.versions.count))),
        ])
    }

    /// Why uploads wait while the storage has not answered since the mount started.
    private var waitingFor: String? {
        switch connection?.current {
        case .waiting(let reason, _, _, _)?: "waiting for the storage to answer: \(reason)"
        case .connecting?: "waiting for the storage to answer"
        default: nil
        }
    }

    /// "writing" while changes are not yet in the archive or a file is open for writing,
    /// "completed" once the archive holds everything.
    func state(_ version: VersionRecord) -> String {
        version.dirty || (!version.sealed && openFiles.hasWriters(version.nodeID)) ? "writing" : "completed"
    }

    /// The URL `download_url` answers: a signed URL of the uploaded archive while one is known
    /// that is still reusable (`signedURLReuseMargin`), else the local archive once a snapshot exists.
    func downloadURL(_ versionID: Int64, localArchive: String?) -> String? {
        Self.url(signed: uploads.reusableSignedURL(versionID), localArchive: localArchive)
    }

    private static func url(signed: SignedURL?, localArchive: String?) -> String? {
        signed?.url ?? localArchive.map { URL(fileURLWithPath: $0).absoluteString }
    }

    /// The queue counted from the same per-version states that the versions' status.json show,
    /// so the counts add up to the number of versions.
    private func queue(_ versions: [VersionRecord]) throws -> JSONValue {
        let jobs = try uploads.jobs()
        var counts: [String: Int64] = [:]
        var pendingBytes: Int64 = 0
        for version in versions {
            let state = uploads.state(jobs[version.nodeID])
            counts[state, default: 0] += 1
            if state == "pending" || state == "uploading" { pendingBytes += version.archiveSize ?? 0 }
        }
        return .object(
            ["pending", "uploading", "failed", "conflict", "uploaded"].map { ($0, .int(counts[$0] ?? 0)) }
                + [("bytes_pending", .int(pendingBytes))])
    }

    /// The bucket's URL and name (never the key) and whether it answers: uploads wait until it has.
    private static func remote(_ connection: RemoteConnection) -> JSONValue {
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

    static func iso8601(_ nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }
}
