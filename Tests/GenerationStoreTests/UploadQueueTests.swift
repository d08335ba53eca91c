// The upload queue at its interface, without a mount: a real catalog, real snapshots, the
// Uploader's workers and the bundled storage server over loopback.
import Foundation
import Logging
import StorageServer
import SupabaseStorage
import SystemPackage
import Testing

@testable import GenerationStore

/// Runs a blocking file system call (one that may wait for the bucket through BlockingCall) on a
/// thread of its own: blocking one of Swift's two cooperative threads here starved the in-process
/// servers of the suites running beside it.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A file system (no FUSE) whose uploads go to an in-process storage server.
final class UploadHarness: @unchecked Sendable {
    let files: Harness
    let server: StorageServer
    let store: SupabaseObjectStore

    init(configure: (inout Configuration) -> Void = { _ in }) async throws {
        let directory = NSTemporaryDirectory() + "gs-upload-\(UUID().uuidString)"
        server = try StorageServer(configuration: StorageServerConfiguration(dataDirectory: directory + "-server"))
        let port = try await server.start()
        store = SupabaseObjectStore(
            configuration: SupabaseConfiguration(
                url: "http://127.0.0.1:\(port)", serviceKey: server.serviceKey, bucket: "codebegen-projects"),
            logger: Logger(label: "test"))
        _ = try await store.createBucketIfMissing(name: "codebegen-projects", public: false)
        var config = Configuration(dataDirectory: directory)
        config.writeBackDelay = 0
        configure(&config)
        let connection = RemoteConnection(store: store, url: "http://127.0.0.1:\(port)", bucket: "codebegen-projects", logger: Logger(label: "test"))
        files = try Harness(directory: directory) { directory in
            try GenerationFileSystem(
                dataDirectory: try DataDirectory(FilePath(directory)), configuration: config, logger: Logger(label: "test"),
                connection: connection)
        }
    }

    var queue: UploadQueue { files.fileSystem.uploads }

    /// Runs the Uploader until `versionID` is uploaded.
    func upload(_ versionID: Int64) async throws {
        let uploader = Uploader(queue: queue, store: store, concurrency: 1)
        uploader.start()
        let deadline = Date().addingTimeInterval(30)
        while queue.state(of: versionID) != "uploaded", Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        await uploader.stop()
        guard queue.state(of: versionID) == "uploaded" else { throw FSError(.ioError, "v\(versionID) was not uploaded") }
    }

    /// v1 of p1/g1 holding one file, snapshotted: its version id.
    func snapshottedVersion(_ text: String = "hello\n") throws -> Int64 {
        let version = try files.mkdir(try files.generation(), "v1")
        _ = try files.writeFile(version, "a.txt", text)
        #expect(try files.fileSystem.snapshotIfDirty(versionID: Int64(version)))
        return Int64(version)
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: files.directory + "-server")
    }
}

@Suite(.serialized) struct UploadQueueTests {
    @Test func aSnapshotIsQueuedClaimedUploadedAndTheBucketHoldsTheLocalArchive() async throws {
        let h = try await UploadHarness()
        let version = try h.snapshottedVersion()
        #expect(h.queue.state(of: version) == "pending")
        let uploader = Uploader(queue: h.queue, store: h.store, concurrency: 2)
        uploader.start()
        let deadline = Date().addingTimeInterval(30)
        while h.queue.state(of: version) != "uploaded", Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        await uploader.stop()
        #expect(h.queue.state(of: version) == "uploaded")
        let job = try #require(h.queue.job(version))
        #expect(job.attempts == 1 && job.lastError == nil && job.bytesUploaded == job.bytesTotal && job.bytesTotal > 0)
        let local = try [UInt8](Data(contentsOf: URL(fileURLWithPath: h.files.directory + "/archives/projects/p1/generations/g1/v1.tar.gz")))
        let remote = try await h.store.get(key: "projects/p1/generations/g1/v1.tar.gz", range: nil)
        #expect(remote == local)
        #expect(h.queue.reusableSignedURL(version) != nil, "a signed URL is kept for download_url")
        await h.stop()
    }

    @Test func aTransientFailureIsRetriedLaterWithTheReason() async throws {
        let h = try await UploadHarness()
        let version = try h.snapshottedVersion()
        let task = try #require(h.queue.claim())
        #expect(h.queue.state(of: version) == "uploading")
        #expect(h.queue.claim() == nil, "a running job is not claimed twice")
        h.queue.finish(task, .transient("HTTP 503: try later"))
        let job = try #require(h.queue.job(version))
        #expect(job.state == .pending && job.attempts == 1 && job.lastError == "HTTP 503: try later")
        #expect(job.nextAttemptAtNs > Timespec.now().totalNanoseconds, "backed off")
        #expect(h.queue.claim() == nil, "not due before its backoff has passed")
        #expect(!FileManager.default.fileExists(atPath: task.archive), "the staged link is removed")
        await h.stop()
    }

    @Test func aSnapshotTakenWhileUploadingIsUploadedNext() async throws {
        let h = try await UploadHarness()
        let version = try h.snapshottedVersion()
        let task = try #require(h.queue.claim())
        // A newer snapshot is queued while the older one uploads.
        try h.files.fileSystem.namespace.catalog.write { db in
            try h.queue.enqueue(versionID: version, snapshotNs: task.snapshotNs + 1, db)
        }
        h.queue.finish(task, .uploaded(nil))
        #expect(h.queue.state(of: version) == "pending", "the newer snapshot still has to go up")
        await h.stop()
    }

    @Test func aFailureForGoodAndAConflictAreFinal() async throws {
        let h = try await UploadHarness()
        let version = try h.snapshottedVersion()
        h.queue.finish(try #require(h.queue.claim()), .failed("too large: The object exceeded the maximum allowed size"))
        #expect(h.queue.state(of: version) == "failed")
        #expect(h.queue.claim() == nil, "a failed job is not retried")
        #expect(h.queue.job(version)?.lastError?.contains("too large") == true)
        // A change queues it again; a conflict stays a conflict even then.
        _ = try h.files.writeFile(InodeNumber(version), "b.txt", "more")
        #expect(try h.files.fileSystem.snapshotIfDirty(versionID: version))
        #expect(h.queue.state(of: version) == "pending")
        h.queue.finish(try #require(h.queue.claim()), .conflict("The resource already exists"))
        _ = try h.files.writeFile(InodeNumber(version), "c.txt", "again")
        #expect(try h.files.fileSystem.snapshotIfDirty(versionID: version))
        #expect(h.queue.state(of: version) == "conflict")
        await h.stop()
    }
}
