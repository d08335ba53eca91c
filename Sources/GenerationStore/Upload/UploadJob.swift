// A row of `upload_job`: the durable state of one version's upload (DESIGN §5). A restart
// resumes from these rows; an interrupted `uploading` job is pending again.
import Foundation
import GRDB

enum UploadState: String, Codable, Sendable, DatabaseValueConvertible {
    case pending, uploading, uploaded, failed, conflict
}

struct UploadJob: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "upload_job"

    var versionNodeID: Int64
    var state: UploadState
    var attempts: Int = 0
    var bytesUploaded: Int64 = 0
    var bytesTotal: Int64 = 0
    var lastError: String?
    var enqueuedAtNs: Int64
    var nextAttemptAtNs: Int64
    var uploadedAtNs: Int64?
    var snapshotNs: Int64
    var published: Bool = false
    /// The resumable (TUS) upload of the archive of snapshot `resumableSnapshotNs` under way, if any.
    var resumableURL: String?
    var resumableSnapshotNs: Int64?

    enum CodingKeys: String, CodingKey {
        case state, attempts, published
        case versionNodeID = "version_node_id"
        case bytesUploaded = "bytes_uploaded"
        case bytesTotal = "bytes_total"
        case lastError = "last_error"
        case enqueuedAtNs = "enqueued_at_ns"
        case nextAttemptAtNs = "next_attempt_at_ns"
        case uploadedAtNs = "uploaded_at_ns"
        case snapshotNs = "snapshot_ns"
        case resumableURL = "resumable_url"
        case resumableSnapshotNs = "resumable_snapshot_ns"
    }
}

/// Exponential backoff with full jitter for transient failures: no attempt limit, capped at 60 s.
enum UploadBackoff {
    static func delay(afterAttempt attempt: Int) -> Double {
        let ceiling = min(60.0, 0.5 * pow(2.0, Double(min(attempt, 10))))
        return Double.random(in: ceiling / 2...ceiling)
    }
}
