// Packs a local directory tree into a seekable archive (for `codebegenfs pack`, tests and benchmarks).
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks a directory (names sorted bytewise, parents before children, symlinks not followed)
/// and writes every regular file, directory, symlink, FIFO and device under it with
/// ``SeekableTarWriter``. A regular file with several names in the tree is stored once, under its
/// first name; the others are hard link entries. Sockets are left out (as GNU tar does). The
/// directory itself is not an entry; paths are relative to it. Names and symlink targets are
/// taken as the bytes the file system holds, UTF-8 or not, and trees deeper than PATH_MAX pack
/// too. The `user.*` extended attributes of files and directories go with them (as a snapshot's).
public enum ArchivePacker {
    public static func pack(
        directory: FilePath,
        to output: FilePath,
        options: SeekableTarWriter.Options = .init()
    ) throws(ArchiveError) -> ArchiveTOC {
        let writer = try SeekableTarWriter(output: output, options: options)
        var firstNames: [FileIdentity: [UInt8]] = [:]
        try walk(directory, relative: [], writer: writer, firstNames: &firstNames)
        return try writer.finish()
    }

    /// Packs like `pack(directory:to:options:)`, streaming the TOC (format 2) to `tocOutput`:
    /// memory stays constant however many files the directory holds.
    public static func pack(
        directory: FilePath,
        to output: FilePath,
        tocOutput: FilePath,
        options: SeekableTarWriter.Options = .init()
    ) throws(ArchiveError) -> TOCSummary {
        let toc = try TOCFileWriter(output: tocOutput)
        let writer = try SeekableTarWriter(output: output, options: options, toc: toc)
        var firstNames: [FileIdentity: [UInt8]] = [:]
        try walk(directory, relative: [], writer: writer, firstNames: &firstNames)
        let summary = try writer.finishArchive()
        try toc.finish(summary)
        return summary
    }

    /// A regular file with more than one name, as the file system identifies it.
    private struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// Opens `directory` and walks it.
    private static func walk(
        _ directory: FilePath, relative: [UInt8], writer: SeekableTarWriter, firstNames: inout [FileIdentity: [UInt8]]
    ) throws(ArchiveError) {
        let descriptor = try PackedDirectory.open(directory)
        defer { descriptor.close() }
        try walk(descriptor, relative: relative, writer: writer, firstNames: &firstNames)
    }

    /// Walks one open directory. Every call is relative to its descriptor (`fstatat`, `openat`,
    /// `readlinkat`), so a tree deeper than PATH_MAX (4096 bytes) packs like any other.
    private static func walk(
        _ directory: PackedDirectory, relative: [UInt8], writer: SeekableTarWriter,
        firstNames: inout [FileIdentity: [UInt8]]
    ) throws(ArchiveError) {
        for name in try directory.names() {
            let entryPath = relative.isEmpty ? name : relative + [NameBytes.slash] + name
            let info = try directory.status(of: name)
            let mtime = ArchiveTimestamp(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int32(info.st_mtim.tv_nsec))
            let mode = UInt32(info.st_mode) & 0o7777
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let file = try directory.openFile(name)
                defer { try? file.close() }
                var entry = ArchiveEntry(
                    pathBytes: entryPath, kind: .file, mode: mode, mtime: mtime, size: UInt64(max(info.st_size, 0)),
                    xattrs: try directory.userAttributes(of: file, name))
                if info.st_nlink > 1 {
                    let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
                    if let first = firstNames[identity] {
                        entry = ArchiveEntry(pathBytes: entryPath, kind: .hardLink, mode: mode, mtime: mtime, linkTargetBytes: first)
                        try writer.append(entry, contentsOf: nil)
                        continue
                    }
                    firstNames[identity] = entryPath
                    entry.links = UInt32(clamping: info.st_nlink)
                }
                try writer.append(entry, contentsOf: file)
            case S_IFDIR:
                let child = try directory.openDirectory(name)
                defer { child.close() }
                let entry = ArchiveEntry(
                    pathBytes: entryPath, kind: .directory, mode: mode, mtime: mtime,
                    xattrs: try directory.userAttributes(of: child.descriptor, name))
                try writer.append(entry, contentsOf: nil)
                try walk(child, relative: entryPath, writer: writer, firstNames: &firstNames)
            case S_IFIFO:
                try writer.append(ArchiveEntry(pathBytes: entryPath, kind: .fifo, mode: mode, mtime: mtime), contentsOf: nil)
            case S_IFCHR, S_IFBLK:
                let entry = ArchiveEntry(
                    pathBytes: entryPath, kind: info.st_mode & S_IFMT == S_IFCHR ? .characterDevice : .blockDevice,
                    mode: mode, mtime: mtime, device: ArchiveDevice(linuxDevice: UInt64(info.st_rdev)))
                try writer.append(entry, contentsOf: nil)
            case S_IFSOCK:
                continue
            case S_IFLNK:
                let entry = ArchiveEntry(
                    pathBytes: entryPath, kind: .symlink, mode: mode, mtime: mtime,
                    linkTargetBytes: try directory.linkTarget(name, size: Int(max(info.st_size, 0))))
                try writer.append(entry, contentsOf: nil)
            default:
                throw .unsupportedFileType(path: directory.shown(name))
            }
        }
    }

    /// The names in a directory other than "." and "..", sorted by their UTF-8 bytes (a name that
    /// is not UTF-8 comes out lossy: ``listDirectoryBytes(_:)`` has the real ones).
    static func listDirectory(_ directory: FilePath) throws(ArchiveError) -> [String] {
        try listDirectoryBytes(directory).map { NameBytes.text($0) }
    }

    /// The names in a directory other than "." and "..", as the bytes readdir gives, sorted bytewise.
    static func listDirectoryBytes(_ directory: FilePath) throws(ArchiveError) -> [[UInt8]] {
        let opened = try PackedDirectory.open(directory)
        defer { opened.close() }
        return try opened.names()
    }
}
