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
