// The snapshotter at its interface, on a real catalog without a mount: when versions are due,
// and a snapshot whose version changed while it was packed is not recorded.
import Foundation
import Logging
import SeekableArchive
import SystemPackage
import Testing

@testable import GenerationStore

/// Passes everything to the file system, but makes a change just before the snapshot is recorded.
private final class ChangingSource: SnapshotSource {
    let fileSystem: Namespace
    let change: () throws -> Void

    init(_ fileSystem: Namespace, change: @escaping () throws -> Void) {
        self.fileSystem = fileSystem
        self.change = change
    }

    func unsnapshottedVersions() -> [(id: Int64, sealed: Bool)] { fileSystem.unsnapshottedVersions() }
    func isCleanedUp(_ versionID: Int64) -> Bool { fileSystem.isCleanedUp(versionID) }
    func makeVersionLocal(_ versionID: Int64) throws(FSError) { try fileSystem.makeVersionLocal(versionID) }
    func planSnapshot(_ versionID: Int64, changes: (Int64) -> UInt64) throws(FSError) -> SnapshotPlan? {
        try fileSystem.planSnapshot(versionID, changes: changes)
    }
    func recordSnapshot(_ plan: SnapshotPlan, archiveSize: UInt64, isCurrent: () -> Bool) throws(FSError) -> Bool {
        do { try change() } catch { Issue.record("the change failed: \(error)") }
        return try fileSystem.recordSnapshot(plan, archiveSize: archiveSize, isCurrent: isCurrent)
    }
}

@Suite struct SnapshotterTests {
    private func harness(delay: Double) throws -> Harness {
        try Harness(directory: NSTemporaryDirectory() + "gs-snap-\(UUID().uuidString)") { directory in
            var config = Configuration(dataDirectory: directory)
            config.useCloudStorage = false
            config.writeBackDelay = delay
            return try GenerationFileSystem(
                dataDirectory: try DataDirectory(FilePath(directory)), configuration: config, logger: Logger(label: "test"))
        }
    }

    /// Async, and waiting with Task.sleep: a sleeping cooperative thread slows the suites beside it.
    @Test func aVersionIsDueOnceQuietWithNoWriterAndASealedOneAtOnce() async throws {
        let h = try harness(delay: 0.3)
        let fs = h.fileSystem
        let generation = try h.generation()
        let v1 = Int64(try h.mkdir(generation, "v1"))
        #expect(fs.snapshots.due(in: fs.namespace).isEmpty, "a new version waits its quiet period")
        let (_, opened) = try fs.create(parent: InodeNumber(v1), name: Array("f".utf8), mode: 0o644, flags: O_WRONLY, caller: h.caller)
        _ = try Array("data".utf8).withUnsafeBytes { try fs.write(handle: opened.handle, offset: 0, data: $0) }
        try await Task.sleep(for: .milliseconds(400))
        #expect(fs.snapshots.due(in: fs.namespace).isEmpty, "not while a file is open for writing")
        fs.release(handle: opened.handle)
        #expect(fs.snapshots.due(in: fs.namespace).isEmpty, "the close is a change: quiet again from now")
        try await Task.sleep(for: .milliseconds(400))
        #expect(fs.snapshots.due(in: fs.namespace) == [v1])
        fs.takeDueSnapshots()
        #expect(fs.snapshots.due(in: fs.namespace).isEmpty, "snapshotted")
        #expect(FileManager.default.fileExists(atPath: h.directory + "/archives/projects/p1/generations/g1/v1.tar.gz"))

        _ = try h.writeFile(InodeNumber(v1), "g", "more")
        let v2 = Int64(try h.mkdir(generation, "v2"))
        #expect(fs.snapshots.due(in: fs.namespace) == [v1], "sealed by v2 with a change: due at once")
        #expect(!fs.snapshots.due(in: fs.namespace).contains(v2))
    }

    @Test func aSnapshotOfAVersionThatChangedWhilePackedIsNotRecorded() throws {
        let h = try harness(delay: 0)
        let fs = h.fileSystem
        let v1 = try h.mkdir(try h.generation(), "v1")
        _ = try h.writeFile(v1, "a", "first")
        let source = ChangingSource(fs.namespace) { _ = try h.writeFile(v1, "b", "written while packing") }
        #expect(try fs.snapshots.snapshot(Int64(v1), from: source) == false)
        #expect(fs.namespace.unsnapshottedVersions().map(\.id) == [Int64(v1)], "still to be snapshotted")
        #expect(try fs.snapshotIfDirty(versionID: Int64(v1)))
        let toc = try ArchiveTOC.decode(
            from: [UInt8](Data(contentsOf: URL(fileURLWithPath: h.directory + "/archives/projects/p1/generations/g1/v1.toc.json"))))
        #expect(Set(toc.entries.map(\.path)) == ["a", "b"], "the next snapshot has both files")
    }

    /// Small files share gzip members (SeekableTarWriter.Options.snapshot); a large one has its own.
    /// The archive still extracts with tar to the same bytes.
    @Test func smallFilesShareMembersAndTheArchiveExtracts() throws {
        let h = try harness(delay: 0)
        let fs = h.fileSystem
        let v1 = try h.mkdir(try h.generation(), "v1")
        let directory = try h.mkdir(v1, "src")
        for index in 0..<40 { _ = try h.writeFile(directory, "f\(index)", "content of file \(index)\n") }
        _ = try h.writeFile(v1, "big", String(repeating: "0123456789abcdef", count: 16_384))
        #expect(try fs.snapshotIfDirty(versionID: Int64(v1)))
        let base = h.directory + "/archives/projects/p1/generations/g1/v1"
        let toc = try ArchiveTOC.decode(from: [UInt8](Data(contentsOf: URL(fileURLWithPath: base + ".toc.json"))))
        let small = toc.entries.filter { $0.path.hasPrefix("src/f") }
        #expect(small.count == 40)
        #expect(Set(small.map { $0.members[0].offset }).count == 1, "40 small files in one shared member")
        let big = try #require(toc.entries.first { $0.path == "big" })
        #expect(!small.contains { $0.members[0].offset == big.members[0].offset }, "a 256 KiB file has its own member")
        let out = h.directory + "/extracted"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["-xzf", base + ".tar.gz", "-C", out]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        #expect(try String(contentsOfFile: out + "/src/f7", encoding: .utf8) == "content of file 7\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/big")).count == 262_144)
    }
}
