// Open file and directory handles, and the per-inode reference counts that decide when an
// unlinked file's content may be removed.
import SystemPackage

/// What an open file handle reads from.
enum FileHandle: Sendable {
    /// A user file: its blob, opened for reading or for reading and writing.
    case blob(BlobHandle)
    /// A virtual file: its content, computed when it was opened.
    case computed([UInt8])
}

struct BlobHandle: Sendable {
    let nodeID: Int64
    let versionID: Int64
    let descriptor: FileDescriptor
    let writable: Bool
    let append: Bool
}

/// A directory listing, taken when the directory is opened (offsets index into it).
struct DirectoryHandle: Sendable {
    let directoryID: InodeNumber
    /// Taken at the first readdir (nil before): with `cache_readdir` the kernel often answers
    /// from its own copy and never asks.
    var entries: [ListedEntry]? = nil
    /// Whole rows of the first entries, when the listing was read ahead (ListingReadahead).
    var readAheadRows: ListingReadahead.Rows? = nil
}

enum ListedEntry: Sendable {
    /// ".", ".." and virtual entries, whole when listed (a few per directory: boxed, so that
    /// the many catalog children take little room).
    indirect case whole(DirectoryEntry)
    /// A catalog child: its attributes are read when READDIRPLUS hands it out.
    case child(ListedChild)
}

/// The kernel's references to catalog nodes (lookup counts, DESIGN's forget contract) and open handles.
struct References {
    private(set) var lookups = LookupCounts()
    private(set) var openHandles: [Int64: Int] = [:]

    mutating func addLookup(_ id: Int64) { lookups.add(id) }

    /// Releases `count` lookups; returns true when none remain.
    mutating func forget(_ id: Int64, count: UInt64) -> Bool { lookups.remove(id, count: count) }

    mutating func opened(_ id: Int64) { openHandles[id, default: 0] += 1 }

    /// Returns true when the last handle on the node is gone.
    mutating func closed(_ id: Int64) -> Bool {
        let remaining = (openHandles[id] ?? 1) - 1
        openHandles[id] = remaining > 0 ? remaining : nil
        return remaining <= 0
    }

    func isReferenced(_ id: Int64) -> Bool { lookups.count(id) > 0 || openHandles[id] != nil }
    func isOpen(_ id: Int64) -> Bool { openHandles[id] != nil }
}
