// Open files at their interface: handles, writer counts per version, and sealing under open writers.
import Foundation
import SystemPackage
import Testing

@testable import GenerationStore

@Suite struct OpenFilesTests {
    private func blob(node: Int64 = 10, version: Int64 = 5, writable: Bool) throws -> GenerationStore.FileHandle {
        let descriptor = try FileDescriptor.open("/dev/null", writable ? .readWrite : .readOnly)
        return .blob(BlobHandle(nodeID: node, versionID: version, descriptor: descriptor, writable: writable, append: false))
    }

    @Test func writersAreCountedPerVersionUntilTheirHandlesGo() throws {
        let open = OpenFiles()
        let reader = open.add(try blob(writable: false))
        #expect(!open.hasWriters(5), "a reader is not a writer")
        let first = open.add(try blob(writable: true))
        let second = open.add(try blob(node: 11, writable: true))
        #expect(open.hasWriters(5) && !open.hasWriters(6))
        #expect(open.openBlobs().nodes == [10, 11] && open.openBlobs().versions == [5])
        for handle in [first, second, reader] {
            guard case .blob(let closed) = open.remove(handle) else { Issue.record("handle \(handle) was not a blob"); continue }
            try closed.descriptor.close()
        }
        #expect(!open.hasWriters(5))
        #expect(open.remove(first) == nil, "a handle is released once")
    }

    @Test func aSealedVersionRefusesWritesThroughHandlesOpenedBefore() throws {
        let open = OpenFiles()
        let handle = open.add(try blob(writable: true))
        #expect(try open.writableBlob(handle).nodeID == 10)
        open.markSealed(5)
        expectErrno(.readOnlyFileSystem) { _ = try open.writableBlob(handle) }
        let other = open.add(try blob(version: 6, writable: true))
        #expect(try open.writableBlob(other).versionID == 6, "other versions are not affected")
    }

    @Test func unknownAndReadOnlyHandlesAreBadDescriptors() throws {
        let open = OpenFiles()
        expectErrno(.badFileDescriptor) { _ = try open.file(42) }
        expectErrno(.badFileDescriptor) { _ = try open.directory(42) }
        let reader = open.add(try blob(writable: false))
        expectErrno(.badFileDescriptor) { _ = try open.writableBlob(reader) }
        let computed = open.add(.computed([1, 2, 3]))
        expectErrno(.badFileDescriptor) { _ = try open.writableBlob(computed) }
        let directory = open.addDirectory(DirectoryHandle(directoryID: 1, entries: []))
        #expect(try open.directory(directory).directoryID == 1)
        open.removeDirectory(directory)
        expectErrno(.badFileDescriptor) { _ = try open.directory(directory) }
    }
}

@Suite struct WritesThroughOpenFilesTests {
    @Test func extentsGrowUntilTakenOnceAndWritesAreCountedPerVersion() throws {
        let open = OpenFiles()
        let handle = open.add(.blob(BlobHandle(
            nodeID: 10, versionID: 5, descriptor: try FileDescriptor.open("/dev/null", .readWrite), writable: true, append: false)))
        let blob = try open.writableBlob(handle)
        open.recordWrite(blob, end: 100, at: Timespec(totalNanoseconds: 1))
        open.recordWrite(blob, end: 40, at: Timespec(totalNanoseconds: 2))
        #expect(open.writeCount(5) == 2 && open.writeCount(6) == 0)
        #expect(open.takeWritten(11) == nil)
        #expect(open.takeWritten(10) == WrittenExtent(size: 100, timeNs: 2, versionID: 5), "the furthest end, the last time")
        #expect(open.takeWritten(10) == nil, "handed over once")
        open.recordWrite(blob, end: 7, at: Timespec(totalNanoseconds: 3))
        #expect(open.takeAllWritten() == [10: WrittenExtent(size: 7, timeNs: 3, versionID: 5)])
        #expect(open.takeAllWritten().isEmpty)
    }

    /// The namespace takes what writes did whenever it reads the node: sizes are right before close,
    /// and an O_TRUNC open of a file still being written truncates it.
    @Test func sizesAreSeenBeforeCloseAndTruncationSeesThem() throws {
        let h = try Harness()
        let version = try h.mkdir(try h.generation(), "v1")
        let (entry, opened) = try h.fileSystem.create(
            parent: version, name: Array("f".utf8), mode: 0o644, flags: O_WRONLY, caller: h.caller)
        let bytes = [UInt8](repeating: 7, count: 5000)
        _ = try bytes.withUnsafeBytes { try h.fileSystem.write(handle: opened.handle, offset: 0, data: $0) }
        #expect(try h.fileSystem.getattr(entry.attributes.ino).attributes.size == 5000, "seen before close")
        let truncating = try h.fileSystem.open(entry.attributes.ino, flags: O_WRONLY | O_TRUNC)
        #expect(try h.fileSystem.getattr(entry.attributes.ino).attributes.size == 0)
        h.fileSystem.release(handle: truncating.handle)
        h.fileSystem.release(handle: opened.handle)
        #expect(try h.readFile(entry.attributes.ino) == "")
        #expect(try h.fileSystem.getattr(entry.attributes.ino).attributes.size == 0)
    }
}
