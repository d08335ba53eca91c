// Snapshots of a directory tree (names, kinds, modes, sizes, contents, times, inodes, xattrs),
// for comparing a mount with a plain directory or with itself across a restart.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct TreeEntry: Equatable, CustomStringConvertible {
    var type: mode_t
    var perm: mode_t
    var size: Int64
    var content: [UInt8]?  // regular files
    var linkTarget: String?  // symlinks
    var mtime: (Int, Int)?
    var inode: UInt64?
    var xattrs: [String: String]?

    static func == (a: TreeEntry, b: TreeEntry) -> Bool {
        a.type == b.type && a.perm == b.perm && a.size == b.size && a.content == b.content
            && a.linkTarget == b.linkTarget && a.mtime?.0 == b.mtime?.0 && a.mtime?.1 == b.mtime?.1
            && a.inode == b.inode && a.xattrs == b.xattrs
    }

    var description: String {
        let kind = type == S_IFDIR ? "dir" : type == S_IFLNK ? "link" : type == S_IFREG ? "file" : "other"
        var parts = ["\(kind) \(String(perm, radix: 8)) size=\(size)"]
        if let content { parts.append("content#\(checksum(content))") }
        if let linkTarget { parts.append("-> \(linkTarget)") }
        if let mtime { parts.append("mtime=\(mtime.0).\(mtime.1)") }
        if let inode { parts.append("ino=\(inode)") }
        if let xattrs, !xattrs.isEmpty { parts.append("xattrs=\(xattrs)") }
        return parts.joined(separator: " ")
    }
}

private func checksum(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

struct TreeOptions {
    var contents = true
    var mtimes = false
    var inodes = false
    var xattrs = false
    /// Directory sizes differ between file systems; compare them only when asked.
    var directorySizes = false
    /// Relative paths not recorded at all (and not descended into).
    var skip: (String) -> Bool = { _ in false }
    /// Relative paths whose size/content/mtime are not recorded (virtual files).
    var volatile: (String) -> Bool = { _ in false }
}

/// Walks `root` without following symlinks; keys are paths relative to `root` ("" is the root itself).
func snapshotTree(_ root: String, _ options: TreeOptions = TreeOptions()) throws -> [String: TreeEntry] {
    var result: [String: TreeEntry] = [:]
    func visit(_ relative: String) throws {
        let full = relative.isEmpty ? root : root + "/" + relative
        guard let info = Sys.lstat(full) else {
            throw TestFailure("lstat \(full) failed: \(Outcome(code: errno))")
        }
        let volatile = options.volatile(relative)
        var entry = TreeEntry(
            type: info.type, perm: info.perm,
            size: (info.isDir && !options.directorySizes) || volatile ? 0 : info.size)
        if info.isFile && options.contents && !volatile { entry.content = try Sys.readFile(full) }
        if info.isSymlink { entry.linkTarget = Sys.readlink(full) }
        if options.mtimes && !volatile { entry.mtime = (info.mtimeSec, info.mtimeNsec) }
        if options.inodes { entry.inode = info.inode }
        if options.xattrs && !volatile {
            var values: [String: String] = [:]
            for name in try Sys.listxattr(full).get() where name.hasPrefix("user.") {
                values[name] = try Sys.getxattr(full, name).get()
            }
            entry.xattrs = values
        }
        result[relative] = entry
        if info.isDir {
            guard let names = Sys.list(full) else {
                throw TestFailure("cannot list \(full): \(Outcome(code: errno))")
            }
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                if !options.skip(child) { try visit(child) }
            }
        }
    }
    try visit("")
    return result
}

/// Human-readable differences between two snapshots (empty when equal).
func treeDifferences(_ a: [String: TreeEntry], _ b: [String: TreeEntry], labels: (String, String) = ("a", "b"))
    -> [String]
{
    var out: [String] = []
    for key in Set(a.keys).union(b.keys).sorted() {
        switch (a[key], b[key]) {
        case (let x?, nil): out.append("/\(key): only in \(labels.0) (\(x))")
        case (nil, let y?): out.append("/\(key): only in \(labels.1) (\(y))")
        case (let x?, let y?) where x != y: out.append("/\(key): \(labels.0) \(x) ≠ \(labels.1) \(y)")
        default: break
        }
    }
    return out
}

/// True for the two virtual files at a version root, given a path relative to that root.
func isVersionRootVirtual(_ relative: String) -> Bool {
    relative == "status.json" || relative == "download_url"
}
