// The number of a character or block device node, as an archive entry and its TOC hold it.

/// A device node's number, as `major(3)` and `minor(3)` split `st_rdev`. In tar it is the
/// ustar `devmajor`/`devminor` fields; in a TOC, JSON `{"major": …, "minor": …}` or two varints.
public struct ArchiveDevice: Codable, Hashable, Sendable {
    public var major: UInt32
    public var minor: UInt32

    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }
}

extension ArchiveDevice {
    /// Splits a Linux `dev_t` as glibc's `major(3)` and `minor(3)` do.
    public init(linuxDevice rdev: UInt64) {
        self.init(
            major: UInt32(truncatingIfNeeded: ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)),
            minor: UInt32(truncatingIfNeeded: (rdev & 0xff) | ((rdev >> 12) & ~0xff)))
    }

    /// The Linux `dev_t` of this number, as glibc's `makedev(3)` builds it.
    public var linuxDevice: UInt64 {
        let major = UInt64(self.major)
        let minor = UInt64(self.minor)
        return (major & 0xfff) << 8 | (major & ~0xfff) << 32 | (minor & 0xff) | (minor & ~0xff) << 12
    }
}
