// The plan of one snapshot, read from the catalog under the namespace lock, and the packing of
// it into the version's seekable archive and TOC, which runs without any lock.
import Foundation
import SeekableArchive
import SystemPackage

/// What one snapshot packs, read from the catalog under the lock and written without it.
struct SnapshotPlan {
    let version: VersionRecord
    /// "v3 of g1 (project p1)", for progress reports.
    let title: String
    let changes: UInt64
    let archive: FilePath
    let toc: FilePath
    let entries: [(path: [UInt8], node: Node)]
    /// The version's `user.*` xattrs, kept in the TOC so other mounts show them.
    let metadata: [String: String]

    /// Writes the archive and its TOC to temporary names, syncs them and renames them into place.
    /// `progress` hears how many entries are packed, every `progressStep` entries.
    func write(blobs: BlobStore, keepGoing: @escaping () -> Bool, progress: (Int) -> Void) throws -> ArchiveTOC {
        try FileManager.default.createDirectory(
            atPath: archive.removingLastComponent().string, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let temporaryArchive = FilePath(archive.string + ".tmp")
        let temporaryTOC = FilePath(toc.string + ".tmp")
        let writer = try SeekableTarWriter(output: temporaryArchive, options: .snapshot)
        writer.keepGoing = keepGoing
        for (index, (path, node)) in entries.enumerated() {
            if index % Self.progressStep == 0 { progress(index) }
            let mtime = Timespec(totalNanoseconds: node.mtimeNs)
            let entry = ArchiveEntry(
                path: String(decoding: path, as: UTF8.self), kind: Self.kind(node.role), mode: node.mode,
                mtime: (mtime.seconds, Int32(mtime.nanoseconds)), size: node.role == .file ? UInt64(node.size) : 0,
                linkTarget: node.linkTarget.map { String(decoding: $0, as: UTF8.self) })
            try writer.append(entry, contentsOf: node.role == .file ? blobs.path(node.ino) : nil)
        }
        var toc = try writer.finish()
        toc.metadata = metadata.isEmpty ? nil : metadata
        let descriptor = try FileDescriptor.open(
            temporaryTOC, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        try descriptor.closeAfter {
            _ = try descriptor.writeAll(try toc.encodeJSON())
            _ = Glibc.fsync(descriptor.rawValue)
        }
        try Self.rename(temporaryArchive, to: archive)
        try Self.rename(temporaryTOC, to: self.toc)
        return toc
    }

    static let progressStep = 64

    private static func kind(_ role: NodeRole) -> ArchiveEntry.Kind {
        switch role {
        case .file: .file
        case .symlink: .symlink
        default: .directory
        }
    }

    private static func rename(_ from: FilePath, to: FilePath) throws {
        if Glibc.rename(from.string, to.string) != 0 { throw Errno(rawValue: errno) }
    }
}
