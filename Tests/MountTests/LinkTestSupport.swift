// Helpers for the hard-link and special-file tests: a full `lstat` (link count, device number,
// owner), a walk of a tree that groups names by inode, and ext4's link-count rules checked over it.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `lstat` says about one name, with the fields `FileInfo` leaves out.
struct NodeStat: Equatable, CustomStringConvertible {
    let type: mode_t
    let perm: mode_t
    let nlink: Int
    let inode: UInt64
    let rdev: UInt64
    let uid: uid_t
    let gid: gid_t
    let size: Int64
    /// 512-byte blocks.
    let blocks: Int64

    init(_ st: stat) {
        type = st.st_mode & S_IFMT
        perm = st.st_mode & 0o7777
        nlink = Int(st.st_nlink)
        inode = UInt64(st.st_ino)
        rdev = UInt64(st.st_rdev)
        uid = st.st_uid
        gid = st.st_gid
        size = Int64(st.st_size)
        blocks = Int64(st.st_blocks)
    }

    /// `lstat(path)`, or nil when it fails.
    static func of(_ path: String) -> NodeStat? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return NodeStat(st)
    }

    /// `fstat(fd)`, or nil when it fails.
    static func of(fd: Int32) -> NodeStat? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return NodeStat(st)
    }

    /// glibc's gnu_dev_major / gnu_dev_minor.
    var major: UInt32 { UInt32(truncatingIfNeeded: ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)) }
    var minor: UInt32 { UInt32(truncatingIfNeeded: (rdev & 0xff) | ((rdev >> 12) & ~0xff)) }

    var isDir: Bool { type == S_IFDIR }

    static func kindName(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: return "dir"
        case S_IFREG: return "file"
        case S_IFLNK: return "symlink"
        case S_IFIFO: return "fifo"
        case S_IFSOCK: return "socket"
        case S_IFCHR: return "chardev"
        case S_IFBLK: return "blockdev"
        default: return "type \(String(type, radix: 8))"
        }
    }

    var description: String {
        var text = "\(Self.kindName(type)) \(String(perm, radix: 8)) ino=\(inode) nlink=\(nlink) size=\(size) uid=\(uid) gid=\(gid)"
        if type == S_IFCHR || type == S_IFBLK { text += " rdev=\(major),\(minor)" }
        return text
    }
}

enum LinkFacts {
    /// Every entry under `root` (relative path → lstat), not following symlinks; the root itself
    /// is "". `skip` leaves out paths (by default a version root's two virtual files).
    static func walk(_ root: String, skip: (String) -> Bool = isVersionRootVirtual) throws -> [String: NodeStat] {
        var result: [String: NodeStat] = [:]
        var pending = [""]
        while let relative = pending.popLast() {
            let full = relative.isEmpty ? root : root + "/" + relative
            guard let info = NodeStat.of(full) else { throw TestFailure("lstat \(full) failed: \(Outcome(code: errno))") }
            result[relative] = info
            guard info.isDir else { continue }
            guard let names = Sys.list(full) else { throw TestFailure("cannot list \(full): \(Outcome(code: errno))") }
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                if !skip(child) { pending.append(child) }
            }
        }
        return result
    }

    /// The names of each non-directory inode, each group sorted, the groups sorted.
    static func sharing(_ entries: [String: NodeStat]) -> [[String]] {
        var byInode: [UInt64: [String]] = [:]
        for (path, info) in entries where !info.isDir { byInode[info.inode, default: []].append(path) }
        return byInode.values.map { $0.sorted() }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Only the groups of two names or more.
    static func linkedGroups(_ entries: [String: NodeStat]) -> [[String]] {
        sharing(entries).filter { $0.count > 1 }
    }

    /// Where a tree breaks ext4's rules (empty when it keeps them all): the names of one inode
    /// agree on type, mode, owner, size and device; a non-directory's st_nlink is its number of
    /// names in the tree; a directory's is 2 + its subdirectories.
    static func linkCountProblems(_ entries: [String: NodeStat]) -> [String] {
        var problems: [String] = []
        var byInode: [UInt64: [String]] = [:]
        var subdirectories: [String: Int] = [:]
        for (path, info) in entries {
            if info.isDir {
                subdirectories[path, default: 0] += 0
                if !path.isEmpty { subdirectories[parent(of: path), default: 0] += 1 }
            } else {
                byInode[info.inode, default: []].append(path)
            }
        }
        for (inode, names) in byInode {
            let sorted = names.sorted()
            let infos = sorted.map { entries[$0]! }
            for (name, info) in zip(sorted, infos) where info.nlink != names.count {
                problems.append("/\(name): st_nlink \(info.nlink), but inode \(inode) has \(names.count) names \(sorted)")
            }
            let first = infos[0]
            for (name, info) in zip(sorted, infos).dropFirst()
            where info.type != first.type || info.perm != first.perm || info.uid != first.uid || info.gid != first.gid
                || info.size != first.size || info.rdev != first.rdev
            {
                problems.append("/\(name) (\(info)) and /\(sorted[0]) (\(first)) share inode \(inode) but differ")
            }
        }
        for (path, count) in subdirectories {
            let nlink = entries[path]!.nlink
            if nlink != 2 + count {
                problems.append("/\(path): directory st_nlink \(nlink), expected 2 + \(count) subdirectories")
            }
        }
        return problems.sorted()
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// The path of the blob holding inode `ino`'s content: `<data>/blobs/<ino / 4096 in hex>/<ino>`.
    static func blobPath(_ fs: MountedFS, _ ino: UInt64) -> String {
        "\(fs.dataDir)/blobs/\(String(ino >> 12, radix: 16))/\(ino)"
    }

    /// `chown(path, uid, gid)` (following symlinks, as `chown` does).
    static func chown(_ path: String, _ uid: uid_t, _ gid: gid_t) -> Outcome { .of(Glibc.chown(path, uid, gid)) }

    /// `mkfifo(path, mode)` (the process umask applies).
    static func mkfifo(_ path: String, _ mode: mode_t) -> Outcome { .of(Glibc.mkfifo(path, mode)) }

    /// Fails the test (not skips) when a tool it drives is missing.
    static func requireTool(_ name: String) throws {
        guard try Shell.run("command -v \(name)").succeeded else {
            throw TestFailure("\(name) is missing: install it (apt-get install \(name))")
        }
    }
}
