// Value types the file system facade speaks in: inode numbers, kinds, roles, times, attributes.
import Foundation
import SystemPackage

public typealias InodeNumber = UInt64

/// What a node is for the user: the file type `stat` reports.
public enum FileKind: String, Sendable, Codable {
    case directory, file, symlink
    case fifo, socket, characterDevice, blockDevice

    public var isDevice: Bool { self == .characterDevice || self == .blockDevice }
}

/// Where a node sits in the fixed layout of DESIGN §1. `dir`, `file`, `symlink`, the special
/// files and `hardLink` are the user's own; the others are structure the rules create and protect.
///
/// A `hardLink` row is a name, not an inode: its `inode_id` is the node (a file, symlink or
/// special file) the name stands for. That node keeps its own name too, unless it was unlinked
/// while other names remain (then it has no parent and no name, and `nlink` > 0).
public enum NodeRole: String, Sendable, Codable, CaseIterable {
    case root, projects, project, projectGenerations, generation, version
    case dir, file, symlink
    case fifo, socket
    case characterDevice = "chardev"
    case blockDevice = "blockdev"
    case hardLink = "hardlink"

    /// The kind of a node; a `hardLink` row has none of its own (it is its inode's).
    public var kind: FileKind {
        switch self {
        case .file, .hardLink: .file
        case .symlink: .symlink
        case .fifo: .fifo
        case .socket: .socket
        case .characterDevice: .characterDevice
        case .blockDevice: .blockDevice
        default: .directory
        }
    }

    /// The role a catalog row spells in `text` (UTF-8), read without making a String: listings
    /// decode one per entry. The user's kinds come first, being the most frequent.
    init?(utf8 text: UnsafeRawBufferPointer) {
        guard let role = Self.spellings.first(where: { $0.bytes.count == text.count && $0.bytes.elementsEqual(text) })
        else { return nil }
        self = role.role
    }

    private static let spellings: [(bytes: [UInt8], role: NodeRole)] =
        ([.file, .dir, .symlink, .hardLink] + allCases.filter { ![.file, .dir, .symlink, .hardLink].contains($0) })
        .map { (Array($0.rawValue.utf8), $0) }

    public var isUserContent: Bool {
        switch self {
        case .dir, .file, .symlink, .fifo, .socket, .characterDevice, .blockDevice, .hardLink: true
        default: false
        }
    }

    /// The role of a node `mknod` makes for file type bits `type` (`mode & S_IFMT`).
    public static func made(byMknod type: UInt32) -> NodeRole? {
        switch type {
        case 0o100000: .file
        case 0o010000: .fifo
        case 0o140000: .socket
        case 0o020000: .characterDevice
        case 0o060000: .blockDevice
        default: nil
        }
    }
}

public struct Timespec: Sendable, Hashable, Comparable {
    public var seconds: Int64
    public var nanoseconds: Int64

    public init(seconds: Int64, nanoseconds: Int64) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(totalNanoseconds: Int64) {
        seconds = totalNanoseconds / 1_000_000_000
        nanoseconds = totalNanoseconds % 1_000_000_000
    }

    public var totalNanoseconds: Int64 { seconds * 1_000_000_000 + nanoseconds }

    public static func now() -> Timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timespec(seconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec))
    }

    public static func < (lhs: Timespec, rhs: Timespec) -> Bool { lhs.totalNanoseconds < rhs.totalNanoseconds }
}

/// What `stat` shows for a node.
public struct Attributes: Sendable, Equatable {
    public var ino: InodeNumber
    public var kind: FileKind
    /// Permission bits only (07777); the adapter adds the file type bits.
    public var mode: UInt32
    public var nlink: UInt32
    /// The device a character or block device node stands for (Linux dev_t encoding); 0 otherwise.
    public var rdev: UInt64 = 0
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    /// 512-byte blocks allocated, when known; otherwise `stat` shows what the size needs.
    public var blocks: UInt64? = nil
    public var atime: Timespec
    public var mtime: Timespec
    public var ctime: Timespec
}

/// An answer to lookup, mkdir, create, symlink: the attributes plus how long the kernel may cache them.
public struct Entry: Sendable {
    public var attributes: Attributes
    public var timeout: Double

    public init(attributes: Attributes, timeout: Double) {
        self.attributes = attributes
        self.timeout = timeout
    }
}

/// The caller of a request, as the kernel reports it.
public struct Caller: Sendable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// The changes of one setattr request; nil means unchanged.
public struct AttributeChanges: Sendable {
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: UInt64?
    public var atime: Timespec?
    public var mtime: Timespec?

    public init(
        mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
        atime: Timespec? = nil, mtime: Timespec? = nil
    ) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atime = atime
        self.mtime = mtime
    }
}

/// How an opened file is to be served by the kernel.
public struct OpenedFile: Sendable {
    public var handle: UInt64
    /// Content computed on open (virtual files): bypass the page cache so `cat` sees every byte.
    public var directIO: Bool
    /// Sealed content never changes: the kernel may keep its page cache across opens.
    public var keepCache: Bool
}

/// An open directory handle, and whether the kernel may keep its listing across opens: inside a
/// version only the kernel's own requests change a directory (open versions have no other writer
/// than this mount, sealed ones none), and the kernel drops its copy when it makes such a change.
public struct OpenedDirectory: Sendable {
    public var handle: UInt64
    public var cacheListing: Bool
}

public struct DirectoryEntry: Sendable {
    public var name: [UInt8]
    public var attributes: Attributes
    public var timeout: Double
    /// "." and "..": listed, but not looked up (they carry no lookup reference).
    public var isDotEntry: Bool
}

public struct FileSystemStatistics: Sendable {
    public var blockSize: UInt64
    public var blocks: UInt64
    public var blocksFree: UInt64
    public var blocksAvailable: UInt64
    public var files: UInt64
    public var filesFree: UInt64
    public var nameMax: UInt64
}

public enum RenameMode: Sendable {
    case replace, noReplace, exchange
}
