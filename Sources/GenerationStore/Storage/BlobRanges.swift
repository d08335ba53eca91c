// Range operations on open blob files that only Linux's GNU calls offer: fallocate, SEEK_DATA /
// SEEK_HOLE, copy_file_range. The one user of CLinux; errors carry the errno ext4 gave.
internal import CLinux
import Foundation
import SystemPackage

enum BlobRanges {
    /// fallocate(2) on the blob with the caller's mode: ext4 applies its own rules to the mode
    /// (PUNCH_HOLE needs KEEP_SIZE, …) and answers ENOSPC when the disk cannot hold the range.
    static func allocate(_ descriptor: FileDescriptor, mode: FileAllocation, offset: Int64, length: Int64) throws(FSError) {
        if clinux_fallocate(descriptor.rawValue, mode.rawValue, off_t(offset), off_t(length)) != 0 {
            throw FSError(Errno(rawValue: errno), "fallocate(\(mode), \(offset), \(length)) on a blob")
        }
    }

    /// The next offset at or after `offset` holding data (or the next hole); ENXIO past the end.
    static func seek(_ descriptor: FileDescriptor, from offset: Int64, to target: SeekTarget) throws(FSError) -> Int64 {
        let result = lseek(descriptor.rawValue, off_t(offset), target == .data ? clinux_seek_data : clinux_seek_hole)
        if result < 0 { throw FSError(Errno(rawValue: errno), "seeking to the next \(target) from \(offset)") }
        return Int64(result)
    }

    /// Copies up to `length` bytes between two blob files inside the kernel (ext4 may share or
    /// copy the blocks; nothing passes through this process). Returns the bytes copied, fewer
    /// at the source's end. Where the kernel cannot (EXDEV, ENOSYS) the answer is EOPNOTSUPP,
    /// and FUSE then copies through the mount's read and write.
    static func copy(
        from source: FileDescriptor, at sourceOffset: Int64, to target: FileDescriptor, at targetOffset: Int64, length: Int
    ) throws(FSError) -> Int {
        var input = off_t(sourceOffset)
        var output = off_t(targetOffset)
        var copied = 0
        while copied < length {
            let result = clinux_copy_file_range(source.rawValue, &input, target.rawValue, &output, length - copied)
            if result == 0 { break }
            if result > 0 {
                copied += result
                continue
            }
            if errno == EINTR { continue }
            if copied > 0 { break }
            switch errno {
            case EXDEV, ENOSYS, EOPNOTSUPP:
                throw FSError(.notSupported, "copy_file_range between blobs: \(Errno(rawValue: errno))")
            default:
                throw FSError(Errno(rawValue: errno), "copy_file_range between blobs")
            }
        }
        return copied
    }
}

/// The mode bits of fallocate(2), with Linux's values.
public struct FileAllocation: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let keepSize = FileAllocation(rawValue: 0x01)
    public static let punchHole = FileAllocation(rawValue: 0x02)
    public static let zeroRange = FileAllocation(rawValue: 0x10)
    static let supported: FileAllocation = [.keepSize, .punchHole, .zeroRange]

    public var description: String {
        let names = [(Self.keepSize, "KEEP_SIZE"), (.punchHole, "PUNCH_HOLE"), (.zeroRange, "ZERO_RANGE")]
            .filter { contains($0.0) }.map(\.1)
        return names.isEmpty ? "mode 0" : names.joined(separator: "|")
    }
}

/// What lseek(2) looks for: SEEK_DATA or SEEK_HOLE.
public enum SeekTarget: Sendable, CustomStringConvertible {
    case data, hole
    public var description: String { self == .data ? "data" : "hole" }
}
