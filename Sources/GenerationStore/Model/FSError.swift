// The core's one error type: every failure a file system call can report, with the errno the
// FUSE adapter answers and a message that says why (logged once, by the adapter).
import GRDB
import SystemPackage

public struct FSError: Error, CustomStringConvertible, Sendable {
    public let errno: Errno
    public let message: String

    public init(_ errno: Errno, _ message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String { "\(message) (\(errno))" }

    public static func notFound(_ what: String = "no such entry") -> FSError { FSError(.noSuchFileOrDirectory, what) }
    public static func invalid(_ message: String) -> FSError { FSError(.invalidArgument, message) }
    public static func sealed(_ message: String) -> FSError { FSError(.readOnlyFileSystem, message) }
    public static func notPermitted(_ message: String) -> FSError { FSError(.notPermitted, message) }
    public static func accessDenied(_ message: String) -> FSError { FSError(.permissionDenied, message) }
    public static func exists(_ message: String) -> FSError { FSError(.fileExists, message) }

    /// Wraps an error from a lower layer (SQLite, the file system under the data directory):
    /// a known errno passes through, anything else is an I/O error.
    static func wrapping(_ error: Error, _ context: String) -> FSError {
        switch error {
        case let fsError as FSError: return fsError
        case let errno as Errno: return FSError(errno, "\(context): \(errno)")
        case let database as DatabaseError where database.resultCode == .SQLITE_FULL:
            return FSError(.noSpace, "\(context): the disk holding the catalog is full")
        default: return FSError(.ioError, "\(context): \(error)")
        }
    }
}
