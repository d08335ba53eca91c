// Packs a local directory tree into a seekable archive (for `codebegenfs pack`, tests and benchmarks).
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks a directory (names sorted bytewise, parents before children, symlinks not followed)
/// and writes every regular file, directory and symlink under it with ``SeekableTarWriter``.
/// The directory itself is not an entry; paths are relative to it.
public enum ArchivePacker {
    public static func pack(
        directory: FilePath,
        to output: FilePath,
        options: SeekableTarWriter.Options = .init()
    ) throws(ArchiveError) -> ArchiveTOC {
        let writer = try SeekableTarWriter(output: output, options: options)
        try walk(directory, relative: "", writer: writer)
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
        try walk(directory, relative: "", writer: writer)
        let summary = try writer.finishArchive()
        try toc.finish(summary)
        return summary
    }

    private static func walk(_ directory: FilePath, relative: String, writer: SeekableTarWriter) throws(ArchiveError) {
        for name in try listDirectory(directory) {
            let path = directory.appending(name)
            let entryPath = relative.isEmpty ? name : relative + "/" + name
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
            case .regular:
                let entry = ArchiveEntry(
                    path: entryPath,
                    kind: .file,
                    mode: mode,
                    mtime: mtime,
                    size: UInt64(max(info.size, 0))
                )
                try writer.append(entry, contentsOf: path)
            case .directory:
                let entry = ArchiveEntry(path: entryPath, kind: .directory, mode: mode, mtime: mtime)
                try writer.append(entry, contentsOf: nil)
                try walk(path, relative: entryPath, writer: writer)
            case .symbolicLink:
                let entry = ArchiveEntry(
                    path: entryPath,
                    kind: .symlink,
                    mode: mode,
                    mtime: mtime,
                    linkTarget: try readLink(path, size: Int(max(info.size, 0)))
                )
                try writer.append(entry, contentsOf: nil)
            default:
                throw .unsupportedFileType(path: path.string)
            }
        }
    }

    /// The names in a directory other than "." and "..", sorted by their UTF-8 bytes.
    static func listDirectory(_ directory: FilePath) throws(ArchiveError) -> [String] {
        guard let handle = directory.withPlatformString({ opendir($0) }) else {
            throw .io(operation: "opendir", path: directory.string, errno: .current)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while true {
            errno = 0
            guard let record = readdir(handle) else {
                if errno != 0 { throw .io(operation: "readdir", path: directory.string, errno: .current) }
                break
            }
            let name = withUnsafeBytes(of: record.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    private static func readLink(_ path: FilePath, size: Int) throws(ArchiveError) -> String {
        let capacity = max(size, 256) + 1
        var buffer = [CChar](repeating: 0, count: capacity)
        let count = path.withPlatformString { readlink($0, &buffer, capacity) }
        guard count >= 0 else { throw .io(operation: "readlink", path: path.string, errno: .current) }
        guard count < capacity else {
            throw .io(operation: "readlink", path: path.string, errno: .fileNameTooLong)
        }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
