// What the caller hands the writer for one tar entry: path, kind, mode, mtime, size, link target,
// device number, link count, extended attributes.

/// A modification time with nanosecond precision (seconds since the Unix epoch).
public struct ArchiveTimestamp: Codable, Hashable, Sendable {
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// One entry of a version: a regular file, a directory, a symbolic link, a further name of a
/// file (hard link), a FIFO or a device node.
///
/// `path` is relative and `/`-separated, without a leading or trailing `/`, and without
/// empty, `.` or `..` components. `mode` holds permission bits; anything above `0o7777`
/// (the file-type bits of `st_mode`) is ignored. `size` is the content length of a regular
/// file; it is ignored for directories and symlinks and must be 0 for the other kinds.
/// `linkTarget` is required for symlinks and hard links: a hard link's is the path of an
/// earlier `.file` entry of the same archive, the name that carries the data (whose `links`
/// is then at least 2). `device` is required for device nodes and absent otherwise. `links`
/// is how many names a file's inode has in the version: 1 except on the entry carrying the
/// data of a file with hard links. `xattrs` are the entry's extended attributes, in byte order
/// of their names (``ArchiveXattr``); a hard link entry has none (its file's entry carries them).
///
/// Names are bytes: ``pathBytes`` and ``linkTargetBytes`` are what is stored and compared
/// (equality and hashing go by them), and may be any bytes a Linux name holds, UTF-8 or not.
/// ``path`` and ``linkTarget`` are views of them for UTF-8 names: reading decodes (invalid
/// UTF-8 becomes U+FFFD, so the String no longer names the file), writing stores the UTF-8.
public struct ArchiveEntry: Hashable, Sendable, BytePathed {
    public enum Kind: String, Codable, Hashable, Sendable {
        case file
        case directory
        case symlink
        case hardLink = "hardlink"
        case fifo
        case characterDevice = "chardev"
        case blockDevice = "blockdev"
    }

    public var pathBytes: [UInt8]
    public var kind: Kind
    public var mode: UInt32
    public var mtime: ArchiveTimestamp
    public var size: UInt64
    public var linkTargetBytes: [UInt8]?
    public var device: ArchiveDevice?
    public var links: UInt32
    public var xattrs: [ArchiveXattr]

    public init(
        pathBytes: [UInt8],
        kind: Kind,
        mode: UInt32,
        mtime: ArchiveTimestamp,
        size: UInt64 = 0,
        linkTargetBytes: [UInt8]? = nil,
        device: ArchiveDevice? = nil,
        links: UInt32 = 1,
        xattrs: [ArchiveXattr] = []
    ) {
        self.pathBytes = pathBytes
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
        self.size = size
        self.linkTargetBytes = linkTargetBytes
        self.device = device
        self.links = links
        self.xattrs = xattrs
    }

    public init(
        path: String,
        kind: Kind,
        mode: UInt32,
        mtime: ArchiveTimestamp,
        size: UInt64 = 0,
        linkTarget: String? = nil,
        device: ArchiveDevice? = nil,
        links: UInt32 = 1,
        xattrs: [ArchiveXattr] = []
    ) {
        self.init(
            pathBytes: Array(path.utf8), kind: kind, mode: mode, mtime: mtime, size: size,
            linkTargetBytes: linkTarget.map { Array($0.utf8) }, device: device, links: links, xattrs: xattrs)
    }

    public init(
        path: String,
        kind: Kind,
        mode: UInt32,
        mtime: (seconds: Int64, nanoseconds: Int32),
        size: UInt64 = 0,
        linkTarget: String? = nil,
        device: ArchiveDevice? = nil,
        links: UInt32 = 1
    ) {
        self.init(
            path: path,
            kind: kind,
            mode: mode,
            mtime: ArchiveTimestamp(seconds: mtime.seconds, nanoseconds: mtime.nanoseconds),
            size: size,
            linkTarget: linkTarget,
            device: device,
            links: links
        )
    }
}

extension ArchiveEntry.Kind {
    /// Device nodes: they carry an ``ArchiveDevice``.
    var isDevice: Bool { self == .characterDevice || self == .blockDevice }

    /// The kinds TOC format 3 added; a TOC holding one says format 3 (or later).
    var needsFormat3: Bool {
        switch self {
        case .file, .directory, .symlink: false
        case .hardLink, .fifo, .characterDevice, .blockDevice: true
        }
    }
}
