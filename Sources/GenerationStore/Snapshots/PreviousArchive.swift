// An earlier archive a snapshot may copy from (the version's own, or the previous version's), read
// as runs of entries that share gzip members.
import SeekableArchive
import SystemPackage

/// An earlier archive and its format-2 TOC, read front to back in step with the new snapshot.
/// Its entries come in groups (`MemberGroups`): the entries of one shared member, or one file
/// with members of its own. A group is the unit a snapshot can copy without compressing again.
final class PreviousArchive {
    /// How an entry that comes again with the same header fields is known to be unchanged.
    enum Trust: Sendable {
        /// The version's own previous archive: entries whose ctime is at most this are as they were.
        case changedBefore(Int64)
        /// The previous version's archive: a file must have the same content (sha256 of its blob).
        case sameContent
    }

    let archive: FileDescriptor
    let trust: Trust
    private var groups: MemberGroups
    private(set) var current: MemberGroup?

    /// Opens the archive and its TOC; throws when there is no usable pair (none yet, a format-1
    /// TOC, or a TOC that does not describe this archive file).
    init(archive archivePath: FilePath, toc tocPath: FilePath, trust: Trust) throws {
        let toc = try TOCFileReader(path: tocPath)
        let archive = try FileDescriptor.open(archivePath, .readOnly, options: .closeOnExec)
        do {
            // A crash between the renames of a new archive and its TOC leaves a pair that does not match.
            let size = try archive.seek(offset: 0, from: .end)
            guard UInt64(size) == toc.summary.archiveSize,
                try FileDigest.sha256(of: archive, path: archivePath.string) == toc.summary.archiveSHA256
            else {
                throw FSError(.ioError, "\(tocPath) does not describe the archive beside it")
            }
            groups = try MemberGroups(next: toc.next)
            current = try groups.nextGroup()
        } catch {
            try? archive.close()
            throw error
        }
        self.archive = archive
        self.trust = trust
    }

    deinit { try? archive.close() }

    /// Moves to the next group; `current` is nil after the last.
    func advance() throws { current = try groups.nextGroup() }
}
