// Extended attributes (`user.*` only) of user entries and version directories, and statfs.
// A version directory's attributes are its metadata in status.json (DESIGN §3).
import Foundation
import GRDB
import SystemPackage

extension Namespace {
    public static let xattrCreate: Int32 = 1
    public static let xattrReplace: Int32 = 2

    public func setxattr(_ ino: InodeNumber, name: [UInt8], value: [UInt8], flags: Int32) throws(FSError) {
        try checkUserNamespace(name)
        try withLock { () throws(FSError) in
            let node = try xattrNodeLocked(ino)
            try checkWritableLocked(node)
            let id = node.id ?? 0
            let changed = changedLocked(node)
            try writeCatalogLocked("setting an extended attribute") { db in
                let existing = try ExtendedAttribute.find(db, node: id, name: name)
                if existing != nil, flags & Self.xattrCreate != 0 { throw FSError.exists("attribute exists") }
                if existing == nil, flags & Self.xattrReplace != 0 { throw FSError(.noData, "no such attribute") }
                try ExtendedAttribute(nodeID: id, name: Data(name), value: Data(value)).save(db)
                try changed.updateRow(db)
            }
            keepChangedLocked(changed)
        }
    }

    public func getxattr(_ ino: InodeNumber, name: [UInt8]) throws(FSError) -> [UInt8] {
        // Other namespaces (security.capability on every write, security.selinux and the POSIX
        // ACLs on every `ls -l`) are answered without the catalog: "not supported", which tells
        // coreutils to stop asking for the rest of the mount, where ENODATA made it ask per file.
        guard NameRules.isUserAttribute(name) else { throw FSError(.notSupported, "only user.* extended attributes are supported") }
        guard ino < VirtualEntry.marker else { throw FSError(.noData, "no such attribute") }
        return try withLock { () throws(FSError) -> [UInt8] in
            let id = Int64(ino)
            guard let attribute = try readCatalogLocked("reading an extended attribute", {
                try ExtendedAttribute.find($0, node: id, name: name)
            }) else { throw FSError(.noData, "no such attribute") }
            return [UInt8](attribute.value)
        }
    }

    /// The attribute names, each followed by a NUL, as listxattr(2) returns them.
    public func listxattr(_ ino: InodeNumber) throws(FSError) -> [UInt8] {
        guard ino < VirtualEntry.marker else { return [] }
        return try withLock { () throws(FSError) -> [UInt8] in
            let id = Int64(ino)
            let attributes = try readCatalogLocked("listing extended attributes") { try ExtendedAttribute.all($0, node: id) }
            return attributes.flatMap { [UInt8]($0.name) + [0] }
        }
    }

    public func removexattr(_ ino: InodeNumber, name: [UInt8]) throws(FSError) {
        try checkUserNamespace(name)
        try withLock { () throws(FSError) in
            let node = try xattrNodeLocked(ino)
            try checkWritableLocked(node)
            let id = node.id ?? 0
            let changed = changedLocked(node)
            try writeCatalogLocked("removing an extended attribute") { db in
                let removed = try ExtendedAttribute.filter(
                    ExtendedAttribute.Columns.nodeID == id && ExtendedAttribute.Columns.name == Data(name)
                ).deleteAll(db)
                if removed == 0 { throw FSError(.noData, "no such attribute") }
                try changed.updateRow(db)
            }
            keepChangedLocked(changed)
        }
    }

    public func statfs() throws(FSError) -> FileSystemStatistics {
        var info = statvfs()
        guard statvfs(blobs.root.string, &info) == 0 else { throw FSError(Errno(rawValue: errno), "statfs of the data directory") }
        return FileSystemStatistics(
            blockSize: UInt64(info.f_bsize), blocks: UInt64(info.f_blocks), blocksFree: UInt64(info.f_bfree),
            blocksAvailable: UInt64(info.f_bavail), files: UInt64(info.f_files), filesFree: UInt64(info.f_ffree),
            nameMax: UInt64(NameRules.maxNameBytes))
    }

    /// `node` with the ctime of a change of its attributes (as ext4 sets it).
    private func changedLocked(_ node: Node) -> Node {
        var changed = node
        changed.ctimeNs = changeClock.now().totalNanoseconds
        return changed
    }

    private func keepChangedLocked(_ node: Node) {
        if let id = node.id, nodes[id] != nil { nodes[id] = node }
        touchVersionLocked(node.versionID, at: Timespec(totalNanoseconds: node.ctimeNs))
    }

    private func checkUserNamespace(_ name: [UInt8]) throws(FSError) {
        guard NameRules.isUserAttribute(name) else {
            throw FSError(.notSupported, "only user.* extended attributes are supported")
        }
        if name.count > 255 { throw FSError(.outOfRange, "attribute name longer than 255 bytes") }
    }

    /// Only user entries and version directories carry attributes.
    private func xattrNodeLocked(_ ino: InodeNumber) throws(FSError) -> Node {
        if VirtualEntry(ino: ino) != nil { throw FSError.notPermitted("virtual entries have no extended attributes") }
        let node = try nodeLocked(ino: ino)
        guard node.role.isUserContent || node.role == .version else {
            throw FSError.notPermitted("extended attributes can be set on versions and their content only")
        }
        return node
    }
}
