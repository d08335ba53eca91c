// The plan of one snapshot, fixed under the namespace lock (a catalog snapshot of the version's
// tree), and the packing of it into the version's seekable archive and TOC, without any lock.
import Foundation
import GRDB
import SeekableArchive
import SystemPackage

/// What one snapshot packs: the version's tree as the catalog held it when the plan was made.
struct SnapshotPlan {
    let version: VersionRecord
    /// "v3 of g1 (project p1)", for progress reports.
    let title: String
    let changes: UInt64
    let archive: FilePath
    let toc: FilePath
    /// The catalog as committed when the plan was made; the tree is walked there.
    let tree: DatabaseSnapshot
    let entryCount: Int
    /// The version's `user.*` xattrs, kept in the TOC so other mounts show them: UTF-8 values as
    /// text, the others base64.
    let metadata: [String: String]
    let metadataBase64: [String: String]
    /// Earlier archives whose unchanged members may be copied, in order of preference: the first
    /// that opens and holds entries is used.
    let reuse: [ReuseSource]

    struct ReuseSource {
        var archive: FilePath
        var toc: FilePath
        var trust: PreviousArchive.Trust
    }

    /// What packing did, for the log and for tests.
    struct Result {
        var summary: TOCSummary
        var entries: Int
        /// Uncompressed bytes that went through the compressor.
        var bytesCompressed: UInt64
        /// Compressed bytes copied from the previous archive.
        var bytesReused: UInt64
        /// Entries of directories that did not change, copied without reading the catalog.
        var entriesNotRead: Int
        /// Blocks of the previous TOC copied without decoding them.
        var tocBlocksCopied: Int
    }

    /// Writes the archive and its TOC to temporary names, syncs them and renames them into place.
    /// `progress` hears how many entries are packed, every `progressStep` entries.
    func write(
        blobs: BlobStore, keepGoing: @escaping () -> Bool, progress: (Int) -> Void, log: (String) -> Void
    ) throws -> Result {
        try FileManager.default.createDirectory(
            atPath: archive.removingLastComponent().string, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let temporaryArchive = FilePath(archive.string + ".tmp")
        let temporaryTOC = FilePath(toc.string + ".tmp")
        var previous: PreviousArchive?
        // A version whose content is in the bucket only has no local archive to copy from.
        for source in reuse
        where previous == nil && FileManager.default.fileExists(atPath: source.toc.string)
            && FileManager.default.fileExists(atPath: source.archive.string)
        {
            do {
                let candidate = try PreviousArchive(archive: source.archive, toc: source.toc, trust: source.trust)
                if candidate.current != nil { previous = candidate }
            } catch {
                log("v\(version.number): \(source.archive.lastComponent?.string ?? "") cannot be reused (\(error))")
            }
        }
        let tocWriter = try TOCFileWriter(output: temporaryTOC)
        let writer = try SeekableTarWriter(output: temporaryArchive, options: .snapshot, toc: tocWriter)
        writer.keepGoing = keepGoing
        var count = 0
        var notRead = 0
        var socketsLeftOut = 0
        try tree.read { db in
            let versionID = version.nodeID
            let packer = IncrementalPacker(
                writer: writer, blobs: blobs, previous: previous, nodeAt: { try Node.descendant(db, of: versionID, at: $0) })
            // From the version's own archive only the changed directories are read.
            var changed: ChangedTree?
            if case .changedBefore(let since) = previous?.trust {
                changed = try ChangedTree.find(db, version: versionID, since: since)
            }
            let holders = try ExtendedAttribute.holders(db, version: versionID)
            var reported = 0
            func counted(_ added: Int) {
                count += added
                if count >= reported + Self.progressStep {
                    progress(count)
                    reported = count
                }
            }
            try VersionTreeWalk.walk(db, version: versionID, changed: changed) { path, node in
                counted(1)
                guard let id = node.id, holders.contains(id) else { return try packer.add(path, node) }
                try packer.add(path, node, xattrs: try Self.xattrs(db, node: id))
            } unchanged: { range in
                let added = try packer.addUnchanged(range)
                notRead += added
                counted(added)
            }
            try packer.finish()
            socketsLeftOut = packer.socketsLeftOut
        }
        if socketsLeftOut > 0 {
            log("v\(version.number): \(socketsLeftOut) socket(s) left out of the archive (tar cannot hold sockets)")
        }
        var summary = try writer.finishArchive()
        summary.metadata = metadata.isEmpty ? nil : metadata
        summary.metadataBase64 = metadataBase64.isEmpty ? nil : metadataBase64
        try tocWriter.finish(summary)
        try Self.rename(temporaryArchive, to: archive)
        try Self.rename(temporaryTOC, to: self.toc)
        return Result(
            summary: summary, entries: count, bytesCompressed: writer.bytesCompressed, bytesReused: writer.bytesReused,
            entriesNotRead: notRead, tocBlocksCopied: writer.tocBlocksCopied)
    }

    static let progressStep = 64

    /// A node's attributes as an archive entry carries them, in byte order of their names
    /// (the catalog's order for BLOB names).
    private static func xattrs(_ db: Database, node: Int64) throws -> [ArchiveXattr] {
        try ExtendedAttribute.all(db, node: node).map { ArchiveXattr(name: [UInt8]($0.name), value: [UInt8]($0.value)) }
    }

    private static func rename(_ from: FilePath, to: FilePath) throws {
        if Glibc.rename(from.string, to.string) != 0 { throw Errno(rawValue: errno) }
    }
}
