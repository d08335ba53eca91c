// The one error type of the archive library: every case names what failed, where, and why.
import SystemPackage

/// Errors thrown by ``SeekableTarWriter``, ``SeekableTarReader``, ``ArchiveTOC`` and ``ArchivePacker``.
///
/// Errors thrown by a caller's fetch closure (``ArchiveByteSource``) are passed through unchanged.
public enum ArchiveError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An entry given to the writer breaks a rule (path shape, order, duplicate, missing link target…).
    case invalidEntry(path: String, reason: String)
    /// A system call failed on a local file (the content source, the output, a packed directory).
    case io(operation: String, path: String, errno: Errno)
    /// A content file did not hold exactly `entry.size` bytes while it was read.
    case contentSizeMismatch(path: String, expected: UInt64, actual: UInt64)
    /// `append` or `finish` was called after `finish`, or after an earlier error left the archive incomplete.
    case writerUnusable(reason: String)
    /// zlib refused an operation (out of memory, bad parameters).
    case zlib(operation: String, code: Int32)
    /// A member's compressed bytes did not inflate into what the TOC promises.
    case corruptMember(path: String, offset: UInt64, reason: String)
    /// A whole file was read, and its sha256 is not the one in the TOC.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// The fetch returned a different number of bytes than the range asked for.
    case shortFetch(range: Range<UInt64>, received: Int)
    /// A caller's fetch closure failed where the error cannot pass through (a partial ``LocalTOC``'s missing block).
    case fetchFailed(range: Range<UInt64>, reason: String)
    /// No entry with this path is in the TOC.
    case notFound(path: String)
    /// The entry exists but is not a regular file, so it has no content to read.
    case notARegularFile(path: String)
    /// The TOC (format-1 JSON or format-2 blocks) could not be decoded or breaks an invariant.
    case invalidTOC(reason: String)
    /// The TOC was written by a format version this library does not read.
    case unsupportedFormatVersion(Int)
    /// A directory being packed holds a file type ``ArchivePacker`` does not archive (socket, fifo,
    /// device: the writer takes FIFOs and devices, the packer does not make them).
    case unsupportedFileType(path: String)
    /// The writer's owner asked it to stop (``SeekableTarWriter/keepGoing``); the output is incomplete.
    case stopped

    public var description: String {
        switch self {
        case .invalidEntry(let path, let reason):
            return "invalid archive entry '\(path)': \(reason)"
        case .io(let operation, let path, let errno):
            return "\(operation) failed for '\(path)': \(errno)"
        case .contentSizeMismatch(let path, let expected, let actual):
            return "content of '\(path)' changed while archiving: expected \(expected) bytes, read \(actual)"
        case .writerUnusable(let reason):
            return "archive writer cannot continue: \(reason)"
        case .zlib(let operation, let code):
            return "zlib \(operation) failed with code \(code)"
        case .corruptMember(let path, let offset, let reason):
            return "archive member at offset \(offset) for '\(path)' is corrupt: \(reason)"
        case .checksumMismatch(let path, let expected, let actual):
            return "sha256 mismatch for '\(path)': TOC says \(expected), content is \(actual)"
        case .shortFetch(let range, let received):
            return "fetch of archive bytes \(range.lowerBound)..<\(range.upperBound) returned \(received) bytes"
        case .fetchFailed(let range, let reason):
            return "fetching bytes \(range.lowerBound)..<\(range.upperBound) failed: \(reason)"
        case .notFound(let path):
            return "no entry '\(path)' in the archive"
        case .notARegularFile(let path):
            return "'\(path)' is not a regular file"
        case .invalidTOC(let reason):
            return "invalid archive TOC: \(reason)"
        case .unsupportedFormatVersion(let version):
            let readable = ArchiveTOC.readableFormatVersions.map(String.init)
            let list = readable.dropLast().joined(separator: ", ") + " and " + (readable.last ?? "")
            return "archive TOC format_version \(version) is not supported (this build reads \(list))"
        case .unsupportedFileType(let path):
            return "'\(path)' is not a regular file, directory or symlink"
        case .stopped:
            return "packing stopped by its owner"
        }
    }
}
