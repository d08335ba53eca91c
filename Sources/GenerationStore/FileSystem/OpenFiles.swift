// Open files and directories: the handles the kernel holds, what each reads or writes, how many
// writers each version has, which versions were sealed while files in them were open, and what
// writes did to sizes and times since the namespace last took them (`takeWritten`). Reads, writes
// and fsyncs run on this lock alone, never the namespace's. Its own lock, a leaf: nothing is
// called while holding it (the namespace calls in while holding its own).
import Foundation
import Synchronization
import SystemPackage

/// What writes through open handles did to one file since the namespace last took it.
struct WrittenExtent: Sendable, Equatable {
    /// The end of the furthest write: the file is at least this long.
    var size: Int64
    /// When the last write ended (the file's new mtime and ctime).
    var timeNs: Int64
    let versionID: Int64
}

final class OpenFiles: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`:
    private var files: [UInt64: FileHandle] = [:]
    private var directories: [UInt64: DirectoryHandle] = [:]
    private var nextHandle: UInt64 = 1
    private var writers: [Int64: Int] = [:]
    /// Versions sealed since they were loaded: writes through handles opened before are refused.
    private var sealed: Set<Int64> = []
    private var written: [Int64: WrittenExtent] = [:]
    /// Writes ever made per version: a snapshot being packed stops when this moves.
    private var writes: [Int64: UInt64] = [:]
    /// `written.count`, read without the lock by the namespace's node accessors.
    private let pendingExtents = Atomic<Int>(0)

    // MARK: - Files

    func add(_ file: FileHandle) -> UInt64 {
        lock.withLock {
            let handle = nextHandle
            nextHandle += 1
            files[handle] = file
            if case .blob(let blob) = file, blob.writable { writers[blob.versionID, default: 0] += 1 }
            return handle
        }
    }

    func file(_ handle: UInt64) throws(FSError) -> FileHandle {
        guard let file = lock.withLock({ files[handle] }) else {
            throw FSError(.badFileDescriptor, "unknown file handle \(handle)")
        }
        return file
    }

    /// The blob behind a handle open for writing, unless its version has been sealed meanwhile.
    func writableBlob(_ handle: UInt64) throws(FSError) -> BlobHandle {
        let (file, isSealed) = lock.withLock { () -> (FileHandle?, Bool) in
            guard let file = files[handle] else { return (nil, false) }
            guard case .blob(let blob) = file else { return (file, false) }
            return (file, sealed.contains(blob.versionID))
        }
        guard case .blob(let blob) = file, blob.writable else {
            throw FSError(.badFileDescriptor, "handle \(handle) is not open for writing")
        }
        if isSealed { throw FSError.sealed("the version was sealed while this file was open: the write is refused") }
        return blob
    }

    /// Forgets a handle; returns what it was open on.
    func remove(_ handle: UInt64) -> FileHandle? {
        lock.withLock {
            guard let file = files.removeValue(forKey: handle) else { return nil }
            if case .blob(let blob) = file, blob.writable {
                let remaining = (writers[blob.versionID] ?? 1) - 1
                writers[blob.versionID] = remaining > 0 ? remaining : nil
            }
            return file
        }
    }

    func hasWriters(_ versionID: Int64) -> Bool { lock.withLock { writers[versionID] != nil } }

    /// The versions and nodes with an open blob, which clean-up must leave alone.
    func openBlobs() -> (versions: Set<Int64>, nodes: Set<Int64>) {
        lock.withLock {
            var versions: Set<Int64> = []
            var nodes: Set<Int64> = []
            for case .blob(let blob) in files.values {
                versions.insert(blob.versionID)
                nodes.insert(blob.nodeID)
            }
            return (versions, nodes)
        }
    }

    func markSealed(_ versionID: Int64) { lock.withLock { _ = sealed.insert(versionID) } }

    // MARK: - What writes did

    /// Records a write through `blob` that left the file at least `end` bytes long.
    func recordWrite(_ blob: BlobHandle, end: Int64, at time: Timespec) {
        lock.withLock {
            if var extent = written[blob.nodeID] {
                extent.size = max(extent.size, end)
                extent.timeNs = time.totalNanoseconds
                written[blob.nodeID] = extent
            } else {
                written[blob.nodeID] = WrittenExtent(size: end, timeNs: time.totalNanoseconds, versionID: blob.versionID)
                pendingExtents.store(written.count, ordering: .relaxed)
            }
            writes[blob.versionID, default: 0] += 1
        }
    }

    /// What was written to `nodeID` since the last take, handed over once.
    func takeWritten(_ nodeID: Int64) -> WrittenExtent? {
        guard pendingExtents.load(ordering: .relaxed) > 0 else { return nil }
        return lock.withLock {
            defer { pendingExtents.store(written.count, ordering: .relaxed) }
            return written.removeValue(forKey: nodeID)
        }
    }

    /// Everything written since the last take, by node, handed over once.
    func takeAllWritten() -> [Int64: WrittenExtent] {
        guard pendingExtents.load(ordering: .relaxed) > 0 else { return [:] }
        return lock.withLock {
            defer {
                written.removeAll()
                pendingExtents.store(0, ordering: .relaxed)
            }
            return written
        }
    }

    func writeCount(_ versionID: Int64) -> UInt64 { lock.withLock { writes[versionID] ?? 0 } }

    // MARK: - Directories

    func addDirectory(_ directory: DirectoryHandle) -> UInt64 {
        lock.withLock {
            let handle = nextHandle
            nextHandle += 1
            directories[handle] = directory
            return handle
        }
    }

    func directory(_ handle: UInt64) throws(FSError) -> DirectoryHandle {
        guard let directory = lock.withLock({ directories[handle] }) else {
            throw FSError(.badFileDescriptor, "unknown directory handle \(handle)")
        }
        return directory
    }

    func replaceDirectory(_ handle: UInt64, _ directory: DirectoryHandle) {
        lock.withLock { if directories[handle] != nil { directories[handle] = directory } }
    }

    func removeDirectory(_ handle: UInt64) { lock.withLock { _ = directories.removeValue(forKey: handle) } }
}
