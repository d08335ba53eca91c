// The content of user files: one blob file per inode under `<data>/blobs/<ino / 4096>/<ino>`,
// written in place with pwrite (no catalog write per write call). Inode numbers grow, so files
// created together share a directory (and its block group): creating a file in a 256-way hash
// fan-out cost ~1.7x as much on ext4 here. Directories hold at most 4096 blobs and are made on demand.
import Foundation
import SystemPackage

struct BlobStore: Sendable {
    let root: FilePath
    private let room: DiskRoom
    /// Where removed blobs go, to be deleted in the background; nil: they are unlinked at once.
    private let trash: Trash?

    init(root: FilePath, trash: Trash? = nil) throws {
        self.root = root
        self.trash = trash
        room = DiskRoom(path: root)
        try DataDirectory.makeDirectory(root)
    }

    private func directory(_ ino: InodeNumber) -> FilePath {
        root.appending(String(ino >> 12, radix: 16))
    }

    func path(_ ino: InodeNumber) -> FilePath {
        directory(ino).appending(String(ino))
    }

    /// Opens the blob for reading, or reading and writing; a missing blob (a crash between the
    /// catalog insert and its creation) is created empty. With `made`, the blob is known to exist
    /// (BlobPool): opened without O_CREAT, which would lock its directory against the pool's maker.
    func open(_ ino: InodeNumber, writable: Bool, append: Bool, made: Bool = false) throws(FSError) -> FileDescriptor {
        var options: FileDescriptor.OpenOptions = [.closeOnExec]
        if append { options.insert(.append) }
        let openBlob = { (options: FileDescriptor.OpenOptions) in
            try FileDescriptor.open(
                path(ino), writable ? .readWrite : .readOnly, options: options, permissions: [.ownerReadWrite],
                retryOnInterrupt: true)
        }
        do {
            do {
                return try openBlob(made ? options : options.union(.create))
            } catch Errno.noSuchFileOrDirectory {
                // A missing directory, or a made blob removed by hand: made now.
                try DataDirectory.makeDirectory(directory(ino))
                return try openBlob(options.union(.create))
            }
        } catch {
            throw FSError.wrapping(error, "opening the blob of inode \(ino)")
        }
    }

    func truncate(_ ino: InodeNumber, size: UInt64) throws(FSError) {
        let fd = try open(ino, writable: true, append: false)
        defer { try? fd.close() }
        if ftruncate(fd.rawValue, off_t(size)) != 0 {
            throw FSError(Errno(rawValue: errno), "truncating the blob of inode \(ino)")
        }
    }

    func remove(_ ino: InodeNumber) {
        if let trash { trash.put(path(ino), as: String(ino)) } else { unlink(path(ino).string) }
    }

    /// Opens an existing file read-only; nil when it is missing (the cache may have dropped it).
    func openExisting(_ ino: InodeNumber) throws(FSError) -> FileDescriptor? {
        do {
            return try FileDescriptor.open(path(ino), .readOnly, options: [.closeOnExec], retryOnInterrupt: true)
        } catch Errno.noSuchFileOrDirectory {
            return nil
        } catch {
            throw FSError.wrapping(error, "opening the cached content of inode \(ino)")
        }
    }

    /// Creates (or empties) `file`, a path in this store, for writing.
    func create(_ file: FilePath) throws -> FileDescriptor {
        try DataDirectory.makeDirectory(file.removingLastComponent())
        return try FileDescriptor.open(
            file, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite],
            retryOnInterrupt: true)
    }

    /// Moves `file` (on the same disk) into place as the content of `ino`; false when `file` is missing.
    func adopt(_ file: FilePath, as ino: InodeNumber) throws(FSError) -> Bool {
        do {
            try DataDirectory.makeDirectory(directory(ino))
        } catch {
            throw FSError.wrapping(error, "making the blob directory of inode \(ino)")
        }
        if rename(file.string, path(ino).string) == 0 { return true }
        if errno == ENOENT { return false }
        throw FSError(Errno(rawValue: errno), "moving fetched content into the blob of inode \(ino)")
    }

    /// The size of the file of `ino`, nil when there is none.
    func size(_ ino: InodeNumber) -> Int64? {
        var info = stat()
        guard stat(path(ino).string, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// 512-byte blocks the blob occupies on disk (fewer than its size says once holes are punched).
    func allocatedBlocks(_ ino: InodeNumber) -> UInt64? {
        var info = stat()
        guard stat(path(ino).string, &info) == 0 else { return nil }
        return UInt64(info.st_blocks)
    }

    /// Whether `bytes` more of file data leave the catalog room to record them (DiskRoom).
    func hasRoom(for bytes: Int) -> Bool { room.hasRoom(for: bytes) }
}
