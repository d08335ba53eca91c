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
/// taken as the bytes the file system holds, UTF-8 or not.
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

    private static func walk(
        _ directory: FilePath, relative: [UInt8], writer: SeekableTarWriter,
        firstNames: inout [FileIdentity: [UInt8]]
    ) throws(ArchiveError) {
        for name in try listDirectoryBytes(directory) {
            let path = try Self.path(directory, appending: name)
            let entryPath = relative.isEmpty ? name : relative + [NameBytes.slash] + name
            let info: Stat
            do {
                info = try path.stat(followTargetSymlink: false)
            } catch {
                throw .io(operation: "lstat", path: path.string, errno: error)
            }
            let mtime = ArchiveTimestamp(
                seconds: Int64(info.st_mtim.tv_sec),
                nanoseconds: Int32(info.st_mtim.tv_nsec)
            )
            let mode = UInt32(info.permissions.rawValue)
            switch info.type {
            case .regular where info.rawValue.st_nlink > 1:
                let identity = FileIdentity(device: UInt64(info.rawValue.st_dev), inode: UInt64(info.rawValue.st_ino))
                if let first = firstNames[identity] {
                    let entry = ArchiveEntry(
                        pathBytes: entryPath, kind: .hardLink, mode: mode, mtime: mtime, linkTargetBytes: first)
                    try writer.append(entry, contentsOf: nil)
                } else {
                    firstNames[identity] = entryPath
                    let entry = ArchiveEntry(
                        pathBytes: entryPath, kind: .file, mode: mode, mtime: mtime, size: UInt64(max(info.size, 0)),
                        links: UInt32(clamping: info.rawValue.st_nlink))
                    try writer.append(entry, contentsOf: path)
                }
            case .regular:
                let entry = ArchiveEntry(
                    pathBytes: entryPath,
                    kind: .file,
                    mode: mode,
                    mtime: mtime,
                    size: UInt64(max(info.size, 0))
                )
                try writer.append(entry, contentsOf: path)
            case .directory:
                let entry = ArchiveEntry(pathBytes: entryPath, kind: .directory, mode: mode, mtime: mtime)
                try writer.append(entry, contentsOf: nil)
                try walk(path, relative: entryPath, writer: writer, firstNames: &firstNames)
            case .fifo:
                try writer.append(ArchiveEntry(pathBytes: entryPath, kind: .fifo, mode: mode, mtime: mtime), contentsOf: nil)
            case .characterSpecial, .blockSpecial:
                let entry = ArchiveEntry(
                    pathBytes: entryPath, kind: info.type == .characterSpecial ? .characterDevice : .blockDevice, mode: mode,
                    mtime: mtime, device: ArchiveDevice(linuxDevice: UInt64(info.rawValue.st_rdev)))
                try writer.append(entry, contentsOf: nil)
            case .socket:
                continue
            case .symbolicLink:
                let entry = ArchiveEntry(
                    pathBytes: entryPath,
                    kind: .symlink,
                    mode: mode,
                    mtime: mtime,
                    linkTargetBytes: try readLink(path, size: Int(max(info.size, 0)))
                )
                try writer.append(entry, contentsOf: nil)
            default:
                throw .unsupportedFileType(path: path.string)
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
        guard let handle = directory.withPlatformString({ opendir($0) }) else {
            throw .io(operation: "opendir", path: directory.string, errno: .current)
        }
        defer { closedir(handle) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let record = readdir(handle) else {
                if errno != 0 { throw .io(operation: "readdir", path: directory.string, errno: .current) }
                break
            }
            let name = withUnsafeBytes(of: record.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// `directory` with one more component, the name bytes as they are.
    private static func path(_ directory: FilePath, appending name: [UInt8]) throws(ArchiveError) -> FilePath {
        let component = (name.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress.flatMap { FilePath.Component(platformString: $0) }
        }
        guard let component else {
            throw .io(operation: "readdir", path: directory.string, errno: .invalidArgument)
        }
        return directory.appending(component)
    }

    private static func readLink(_ path: FilePath, size: Int) throws(ArchiveError) -> [UInt8] {
        let capacity = max(size, 256) + 1
        var buffer = [CChar](repeating: 0, count: capacity)
        let count = path.withPlatformString { readlink($0, &buffer, capacity) }
        guard count >= 0 else { throw .io(operation: "readlink", path: path.string, errno: .current) }
        guard count < capacity else {
            throw .io(operation: "readlink", path: path.string, errno: .fileNameTooLong)
        }
        return buffer[..<count].map { UInt8(bitPattern: $0) }
    }
}
