// Resumable uploads (TUS 1.0.0, as Supabase Storage serves them at `/storage/v1/upload/resumable`): the
// protocol's four calls, and the upload loop built on them that never resends acknowledged bytes.
import Foundation

/// Called with the upload URL and each offset the server acknowledged, so that the caller can persist both
/// and resume after a restart (`resumeFrom:`).
public typealias ResumableProgress = @Sendable (_ uploadURL: String, _ acknowledgedOffset: Int64) -> Void

/// What a HEAD on an upload URL tells.
public struct ResumableUploadStatus: Sendable, Hashable {
    /// Bytes the server has stored.
    public var offset: Int64
    /// `Upload-Length`.
    public var length: Int64
    /// The decoded `Upload-Metadata` entries (bucketName, objectName, contentType, cacheControl).
    public var metadata: [String: String]

    public init(offset: Int64, length: Int64, metadata: [String: String]) {
        self.offset = offset
        self.length = length
        self.metadata = metadata
    }
}

/// An ``ObjectStore`` that also takes uploads in chunks, resumable after any failure.
///
/// Upload URLs are the server's `Location`; a store sends its requests to its own configured base URL with the
/// upload's id (the URL's last segment), so a URL persisted before the server moved (another port) still works
/// and the key never goes to another host.
public protocol ResumableObjectStore: ObjectStore {
    /// Creates an upload of `length` bytes for `key` (TUS creation); returns the upload URL.
    /// `cacheControl` is a max-age in seconds ("3600"), as Supabase takes it; nil stores `no-cache`.
    /// Over the bucket's or the global size limit: ``StorageError/tooLarge(_:)`` naming the limit when known.
    func createResumableUpload(
        key: String,
        length: Int64,
        contentType: String,
        cacheControl: String?,
        upsert: Bool
    ) async throws -> String

    /// The upload's offset and length (HEAD). ``StorageError/notFound(_:)`` when it is unknown or expired.
    func resumableStatus(uploadURL: String) async throws -> ResumableUploadStatus

    /// Sends `length` bytes of the file at `path` from `offset` (PATCH), streamed with memory bounded by
    /// libcurl's buffer; returns the server's new offset. `upsert` must match the creation's: Supabase checks
    /// it again on every request. An offset conflict (409) is transient: ask ``resumableStatus(uploadURL:)``.
    func uploadChunk(uploadURL: String, fromFile path: String, offset: Int64, length: Int64, upsert: Bool)
        async throws -> Int64

    /// Abandons an unfinished upload (DELETE); a finished one cannot be terminated.
    func terminateResumableUpload(uploadURL: String) async throws
}

/// Defaults of resumable uploads.
public enum ResumableUploadDefaults {
    /// Supabase's documented chunk size for resumable uploads: 6 MiB.
    public static let chunkSize: Int64 = 6 * 1024 * 1024
}

extension ResumableObjectStore {
    /// The server's offset for the upload (HEAD).
    public func resumableOffset(uploadURL: String) async throws -> Int64 {
        try await resumableStatus(uploadURL: uploadURL).offset
    }

    /// Uploads the file at `path` to `key` in chunks, resuming `resumeFrom` when that upload still exists for this
    /// key and size (an unknown, expired or different one starts a new upload).
    ///
    /// Chunks end on multiples of `chunkSize` (so all are `chunkSize` long but the last, and a shorter one after
    /// an interruption). After a failure the loop backs off, asks the server for its offset (HEAD) and continues
    /// from there, so bytes the server acknowledged are never sent again; an offset conflict (another request on
    /// the same upload) and a lock timeout are retried the same way. `retry` bounds the consecutive failures
    /// without progress. An upload that disappears midway (expired) starts over, at most `retry.maxAttempts` times.
    /// `onProgress` gets the upload URL and every acknowledged offset, starting with the one resumed from.
    @discardableResult
    public func uploadResumably(
        key: String,
        fromFile path: String,
        contentType: String = "application/octet-stream",
        cacheControl: String? = nil,
        upsert: Bool = false,
        chunkSize: Int64 = ResumableUploadDefaults.chunkSize,
        resumeFrom uploadURL: String? = nil,
        retry: RetryPolicy = RetryPolicy(),
        onProgress: ResumableProgress = { _, _ in }
    ) async throws -> ObjectInfo {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StorageError.localFile(path: path, errno: errno) }
        let size = Int64(st.st_size)
        guard chunkSize > 0 else {
            throw StorageError.permanent(statusCode: 0, code: "InvalidChunkSize", message: "chunk size \(chunkSize)")
        }
        let create = {
            try await retry.run {
                try await createResumableUpload(
                    key: key,
                    length: size,
                    contentType: contentType,
                    cacheControl: cacheControl,
                    upsert: upsert
                )
            }
        }
        var url: String
        var offset: Int64 = 0
        if let uploadURL, let resumed = try await usableOffset(uploadURL, key: key, length: size, retry: retry) {
            url = uploadURL
            offset = resumed
        } else {
            url = try await create()
        }
        onProgress(url, offset)
        var failures = 0
        var restarts = 0
        while offset < size {
            let end = min(size, (offset / chunkSize + 1) * chunkSize)
            do {
                offset = try await uploadChunk(
                    uploadURL: url,
                    fromFile: path,
                    offset: offset,
                    length: end - offset,
                    upsert: upsert
                )
                failures = 0
                onProgress(url, offset)
            } catch let error as StorageError where error.isTransient {
                failures += 1
                guard failures < retry.maxAttempts else { throw error }
                try await Task.sleep(for: retry.delay(beforeRetry: failures))
                do {
                    let known = try await retry.run { try await resumableStatus(uploadURL: url).offset }
                    if known > offset {
                        failures = 0
                        onProgress(url, known)
                    }
                    offset = known
                } catch StorageError.notFound {
                    (url, offset, restarts) = try await restart(restarts, retry: retry, create: create)
                    onProgress(url, offset)
                }
            } catch StorageError.notFound {
                (url, offset, restarts) = try await restart(restarts, retry: retry, create: create)
                onProgress(url, offset)
            }
        }
        return ObjectInfo(key: key, size: size, etag: nil, contentType: contentType, lastModified: nil, createdAt: nil)
    }

    /// A new upload in place of one that disappeared (expired), at most `retry.maxAttempts` times.
    private func restart(
        _ restarts: Int,
        retry: RetryPolicy,
        create: () async throws -> String
    ) async throws -> (String, Int64, Int) {
        guard restarts < retry.maxAttempts else {
            throw StorageError.notFound("the resumable upload disappeared \(restarts + 1) times")
        }
        return (try await create(), 0, restarts + 1)
    }

    /// The offset to continue `uploadURL` from, or nil when it is gone or belongs to another key or size.
    private func usableOffset(_ uploadURL: String, key: String, length: Int64, retry: RetryPolicy) async throws
        -> Int64?
    {
        do {
            let status = try await retry.run { try await resumableStatus(uploadURL: uploadURL) }
            if status.length != length { return nil }
            if let name = status.metadata["objectName"], name != ResumableURL.objectName(key) { return nil }
            return status.offset
        } catch StorageError.notFound {
            return nil
        }
    }
}
