// What the caller hands the writer for one tar entry: path, kind, mode, mtime, size, link target.

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

/// One entry of a version: a regular file, a directory or a symbolic link.
///
/// `path` is relative and `/`-separated, without a leading or trailing `/`, and without
/// empty, `.` or `..` components. `mode` holds permission bits; anything above `0o7777`
/// (the file-type bits of `st_mode`) is ignored. `size` is the content length of a regular
/// file and is ignored for directories and symlinks. `linkTarget` is required for symlinks.
public struct ArchiveEntry: Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        case file
        case directory
        case symlink
    }

    public var path: String
    public var kind: Kind
    public var mode: UInt32
    public var mtime: ArchiveTimestamp
    public var size: UInt64
    public var linkTarget: String?

    public init(
        path: String,
        kind: Kind,
        mode: UInt32,
        mtime: ArchiveTimestamp,
        size: UInt64 = 0,
        linkTarget: String? = nil
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
        self.size = size
        self.linkTarget = linkTarget
    }

    public init(
        path: String,
        kind: Kind,
        mode: UInt32,
        mtime: (seconds: Int64, nanoseconds: Int32),
        size: UInt64 = 0,
        linkTarget: String? = nil
    ) {
        self.init(
            path: path,
            kind: kind,
            mode: mode,
            mtime: ArchiveTimestamp(seconds: mtime.seconds, nanoseconds: mtime.nanoseconds),
            size: size,
            linkTarget: linkTarget
        )
    }
}
