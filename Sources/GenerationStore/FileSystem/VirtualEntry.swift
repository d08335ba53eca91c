// Entries the file system shows but does not store: status files, download URLs, the `latest`
// link and the `generations/` and `active/` views. Their inode numbers are derived from the node
// they describe, so they are stable across remounts and never collide with catalog row ids.
public enum VirtualKind: UInt64, Sendable {
    case rootStatus = 1
    case generationsView, activeView
    case generationsViewLink, activeViewLink
    case generationStatus, generationDownloadURL, latestLink
    case versionStatus, versionDownloadURL

    var fileKind: FileKind {
        switch self {
        case .generationsView, .activeView: .directory
        case .generationsViewLink, .activeViewLink, .latestLink: .symlink
        default: .file
        }
    }
}

struct VirtualEntry: Hashable, Sendable {
    static let marker: UInt64 = 1 << 56

    /// The catalog node this entry belongs to (the root for root-level entries).
    let owner: Int64
    let kind: VirtualKind

    var ino: InodeNumber { Self.marker | UInt64(owner) << 4 | kind.rawValue }

    init(owner: Int64, kind: VirtualKind) {
        self.owner = owner
        self.kind = kind
    }

    init?(ino: InodeNumber) {
        guard ino & Self.marker != 0, let kind = VirtualKind(rawValue: ino & 0xF) else { return nil }
        self.owner = Int64((ino & ~Self.marker) >> 4)
        self.kind = kind
    }

    static let statusJSON: [UInt8] = Array("status.json".utf8)
    static let downloadURL: [UInt8] = Array("download_url".utf8)
    static let latest: [UInt8] = Array("latest".utf8)
    static let generations: [UInt8] = Array("generations".utf8)
    static let active: [UInt8] = Array("active".utf8)

    /// The virtual entry called `name` inside a real directory of the given role, if any.
    static func named(_ name: [UInt8], in parent: Node) -> VirtualEntry? {
        let owner = parent.id ?? 0
        switch parent.role {
        case .root:
            if name == statusJSON { return VirtualEntry(owner: owner, kind: .rootStatus) }
            if name == generations { return VirtualEntry(owner: owner, kind: .generationsView) }
            if name == active { return VirtualEntry(owner: owner, kind: .activeView) }
        case .generation:
            if name == statusJSON { return VirtualEntry(owner: owner, kind: .generationStatus) }
            if name == downloadURL { return VirtualEntry(owner: owner, kind: .generationDownloadURL) }
            if name == latest { return VirtualEntry(owner: owner, kind: .latestLink) }
        case .version:
            if name == statusJSON { return VirtualEntry(owner: owner, kind: .versionStatus) }
            if name == downloadURL { return VirtualEntry(owner: owner, kind: .versionDownloadURL) }
        default:
            break
        }
        return nil
    }

    /// The virtual entries listed in a real directory of the given role, in listing order.
    static func listed(in parent: Node) -> [(name: [UInt8], entry: VirtualEntry)] {
        let names: [[UInt8]]
        switch parent.role {
        case .root: names = [statusJSON, generations, active]
        case .generation: names = [statusJSON, downloadURL, latest]
        case .version: names = [statusJSON, downloadURL]
        default: names = []
        }
        return names.compactMap { name in named(name, in: parent).map { (name, $0) } }
    }
}
