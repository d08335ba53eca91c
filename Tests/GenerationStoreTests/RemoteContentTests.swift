// Remote content at the file system's interface, without a mount: a version whose local copy
// clean-up removed reads back from the bundled server through the fetched-files cache, and a
// read that cannot reach the bucket fails with EIO and is recorded for status.json.
import Foundation
import Testing

@testable import GenerationStore

@Suite(.serialized) struct RemoteContentTests {
    @Test func aCleanedUpVersionReadsBackThroughTheCacheAndAnUnreachableBucketIsEIO() async throws {
        let h = try await UploadHarness { $0.cacheTTLHours = 0 }
        let fs = h.files.fileSystem
        let version = try h.files.mkdir(try h.files.generation(), "v1")
        let first = try h.files.writeFile(version, "a.txt", "first file\n")
        let second = try h.files.writeFile(version, "b.txt", "second file\n")
        #expect(try fs.snapshotIfDirty(versionID: Int64(version)))
        try await h.upload(Int64(version))

        fs.cleanUp()
        #expect(!FileManager.default.fileExists(atPath: fs.blobs.path(first).string), "the local copy was removed")
        #expect(try await offThePool { try h.files.readFile(first) } == "first file\n", "read back from the bucket")
        #expect(fs.fetched.holds(Int64(first)), "kept in the cache")
        #expect(fs.fetched.lastReadError(Int64(version)) == nil)

        await h.server.stop()
        do {
            _ = try await offThePool { try h.files.readFile(second) }
            Issue.record("read b.txt with the bucket down")
        } catch let error as FSError {
            #expect(error.errno == .ioError, "\(error)")
        }
        let error = try #require(fs.fetched.lastReadError(Int64(version)))
        #expect(error.message.contains("b.txt") && error.message.contains("from the bucket failed"), "\(error.message)")
        #expect(try await offThePool { try h.files.readFile(first) } == "first file\n", "what is cached still reads")
        try? FileManager.default.removeItem(atPath: h.files.directory + "-server")
    }
}
