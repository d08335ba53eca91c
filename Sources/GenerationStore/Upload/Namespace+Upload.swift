// The namespace's side of uploads: linking a version's current snapshot aside for a claimed job
// (under the snapshot lock, so a snapshot being renamed into place cannot mix with it), and the
// version's keys in the bucket. The queue itself is UploadQueue.swift.
import Foundation
import SystemPackage

extension Namespace {
    /// Hard links to the archive and TOC of the version's newest snapshot, for the upload queue.
    func stageUpload(_ versionID: Int64) throws -> StagedUpload? {
        snapshots.packing.lock()
        defer { snapshots.packing.unlock() }
        return try withLock { () throws(FSError) -> StagedUpload? in
            guard let version = versions[versionID], let snapshot = version.snapshottedAtNs else { return nil }
            let paths = try archivePathsLocked(version)
            let keys = try remoteKeysLocked(version)
            let staged = (paths.archive.string + ".upload", paths.toc.string + ".upload")
            for (source, link) in [(paths.archive.string, staged.0), (paths.toc.string, staged.1)] {
                Glibc.unlink(link)
                if Glibc.link(source, link) != 0 {
                    throw FSError(Errno(rawValue: errno), "linking \(source) aside for its upload")
                }
            }
            return StagedUpload(
                snapshotNs: snapshot, archiveSize: version.archiveSize ?? 0, archive: staged.0, toc: staged.1,
                archiveKey: keys.archive, tocKey: keys.toc)
        }
    }

    /// Re-signs the archive URL of an uploaded version once it is no longer reusable.
    func refreshSignedURLIfNeeded(versionID: Int64) {
        guard uploads.isEnabled else { return }
        let key = withLockNonThrowing { versions[versionID].flatMap { try? remoteKeysLocked($0).archive } }
        if let key { uploads.refreshSignedURLIfNeeded(versionID, archiveKey: key) }
    }

    func remoteKeysLocked(_ version: VersionRecord) throws(FSError) -> (archive: String, toc: String) {
        let stem = try objectStemLocked(version)
        return (stem + ".tar.gz", stem + ".toc.json")
    }
}

/// Runs async work to completion from a thread outside Swift concurrency (a FUSE worker).
public enum BlockingCall {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task.detached {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return box.result ?? .failure(CancellationError())
    }
}

/// Written once by the task before it signals, read once after the wait: the semaphore orders them.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
