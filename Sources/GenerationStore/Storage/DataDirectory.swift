// The data directory (DESIGN §7): created 0700 with files 0600, held by one mount at a time
// through an exclusive lock on `<data>/lock`.
import Foundation
import SystemPackage

public struct DataDirectory: Sendable {
    public let root: FilePath

    public var catalogPath: FilePath { root.appending("catalog.sqlite") }
    /// Creates not yet committed to the catalog (Catalog/CreateJournal.swift).
    var createJournalPath: FilePath { root.appending("catalog.creates") }
    public var blobsPath: FilePath { root.appending("blobs") }
    /// The inode numbers whose blobs may have been made ahead of creates (Storage/BlobPool.swift).
    var blobsAheadPath: FilePath { root.appending("blobs-ahead") }
    public var archivesPath: FilePath { root.appending("archives") }
    /// Removed blobs, until the background deletes them (Storage/Trash.swift).
    var trashPath: FilePath { root.appending("trash") }
    /// Contents fetched from the bucket, one file per inode (laid out like blobs).
    public var cachePath: FilePath { root.appending("cache") }
    public var logPath: FilePath { root.appending("codebegenfs.log") }
    var lockPath: FilePath { root.appending("lock") }
    /// Present only between a clean unmount and the next mount (`takeCleanStopMark`).
    var cleanStopPath: FilePath { root.appending("stopped-cleanly") }
    /// The running daemon's control socket (`codebegenfs unmount` follows its shutdown there).
    public var controlSocketPath: FilePath { Self.controlSocketPath(in: root) }
    /// The same, for a data directory named by a running daemon (without creating it, as `init` does).
    public static func controlSocketPath(in root: FilePath) -> FilePath { root.appending("control.sock") }

    public init(_ root: FilePath) throws(FSError) {
        self.root = root
        umask(0o077)
        do {
            try Self.makeDirectory(root, intermediates: true)
            chmod(root.string, 0o700)
        } catch {
            throw FSError.wrapping(error, "creating the data directory \(root)")
        }
    }

    /// Records that the catalog holds everything (every size and create saved) as the daemon stops.
    func markCleanStop() {
        guard let fd = try? FileDescriptor.open(cleanStopPath, .writeOnly, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
        else { return }
        try? fd.close()
        syncDirectory()
    }

    /// Whether the last run stopped cleanly; removes the mark (durably), so a crash of this run is
    /// not taken for a clean stop.
    func takeCleanStopMark() -> Bool {
        guard unlink(cleanStopPath.string) == 0 else { return false }
        syncDirectory()
        return true
    }

    private func syncDirectory() {
        guard let fd = try? FileDescriptor.open(root, .readOnly, options: [.directory, .closeOnExec]) else { return }
        _ = fsync(fd.rawValue)
        try? fd.close()
    }

    static func makeDirectory(_ path: FilePath, intermediates: Bool = false) throws {
        if intermediates {
            try FileManager.default.createDirectory(
                atPath: path.string, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } else if mkdir(path.string, 0o700) != 0, errno != EEXIST {
            throw Errno(rawValue: errno)
        }
    }

    /// Takes the data directory's lock for the life of the returned descriptor, and writes
    /// `holder` into the lock file for whoever finds it taken (`lockHolder`).
    /// Fails with EBUSY, naming the directory, while another process holds it.
    public func lock(holder: String) throws(FSError) -> FileDescriptor {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(lockPath, .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
        } catch {
            throw FSError.wrapping(error, "opening \(lockPath)")
        }
        if flock(fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
            try? fd.close()
            throw FSError(.resourceBusy, "the data directory \(root) is in use by another mount (lock \(lockPath) is held)")
        }
        _ = ftruncate(fd.rawValue, 0)
        _ = try? fd.writeAll(toAbsoluteOffset: 0, Array(holder.utf8))
        return fd
    }

    /// What the process holding the lock wrote into it, if anything.
    public func lockHolder() -> String? {
        guard let data = FileManager.default.contents(atPath: lockPath.string), !data.isEmpty else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
