// The data files of unfinished resumable uploads under `<data>/uploads`, their expiry, and the clean-up of
// stale ones at start.
import Foundation

/// Where resumable uploads keep their bytes, how long they live, and who holds them.
struct ResumableUploads: Sendable {
    let directory: String
    /// Seconds an upload lives after its creation.
    let lifetime: Double
    let locks: UploadLocks

    init(dataDirectory: String, expiry: Duration, lockDrainTimeout: Duration) throws {
        locks = UploadLocks(drainTimeout: lockDrainTimeout)
        directory = dataDirectory + "/uploads"
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw BlobError.io(directory, errno) }
        let c = expiry.components
        lifetime = Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    func dataPath(_ row: ResumableUploadRow) -> String { directory + "/" + row.version }

    func expiresAt(_ row: ResumableUploadRow) -> Date { Date(timeIntervalSince1970: row.createdAt + lifetime) }

    func isExpired(_ row: ResumableUploadRow, now: Date = Date()) -> Bool { now > expiresAt(row) }

    /// Removes expired uploads (rows and data) and data files that no unfinished upload owns (left by a crash
    /// between commit and bookkeeping, or by a removal that failed).
    func removeStale(_ metadata: MetadataStore) async throws {
        let cutoff = Date().timeIntervalSince1970 - lifetime
        for row in try await metadata.deleteUploads(createdBefore: cutoff) { unlink(dataPath(row)) }
        let owned = try await metadata.unfinishedUploadVersions()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where !owned.contains(name) { unlink(directory + "/" + name) }
    }
}

/// The data file of one upload, open for appending while its request holds the upload's lock.
final class UploadDataFile {
    let path: String
    private var fd: Int32
    /// Bytes in the file (= the upload's offset).
    private(set) var size: Int64

    /// Opens (creating) the file and cuts it to `offset`, the last offset recorded: bytes a crash left beyond it
    /// were never acknowledged. A file shorter than `offset` (lost) keeps its size; the caller corrects the offset.
    init(path: String, offset: Int64) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError.io(path, errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw BlobError.io(path, errno)
        }
        size = min(Int64(st.st_size), offset)
        guard ftruncate(fd, off_t(size)) == 0, lseek(fd, off_t(size), SEEK_SET) >= 0 else {
            close(fd)
            throw BlobError.io(path, errno)
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        try TempBlob.writeAll(fd, base, count: bytes.count, path: path)
        size += Int64(bytes.count)
    }

    /// fsync (off the request threads) and close: what was stored survives a crash before the offset is recorded.
    func syncAndClose() async throws {
        let descriptor = fd
        fd = -1
        let path = self.path
        try await offloaded {
            defer { close(descriptor) }
            guard fsync(descriptor) == 0 else { throw BlobError.io(path, errno) }
        }
    }
}
