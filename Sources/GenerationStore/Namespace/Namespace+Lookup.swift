// Looking things up: lookup and forget, getattr, readlink, opening a directory.
import Foundation

extension Namespace {
    /// The entry called `name` in directory `parent`. A real entry carries one lookup
    /// reference, which the kernel gives back with `forget`.
    public func lookup(parent: InodeNumber, name: [UInt8]) throws(FSError) -> Entry {
        try NameRules.checkName(name)
        do throws(FSError) {
            if let entry = try lookupHere(parent: parent, name: name) { return entry }
            // A version from the bucket is catalogued as it is used: the name may be in its TOC.
            if try catalogueRemoteChild(parent: parent, name: name), let entry = try lookupHere(parent: parent, name: name) {
                return entry
            }
            throw FSError.notFound()
        } catch let error where error.errno == .noSuchFileOrDirectory {
            // It may be another mount's, not listed yet.
            guard remote != nil, listBucketIfDue(for: parent), let entry = try lookupHere(parent: parent, name: name) else {
                throw error
            }
            return entry
        }
    }

    /// The entry, ENOENT when it does not exist, or nil when it is not in the catalog but a
    /// version from the bucket may still have it in its TOC (the only case that costs more).
    private func lookupHere(parent: InodeNumber, name: [UInt8]) throws(FSError) -> Entry? {
        try withLock { () throws(FSError) -> Entry? in
            if let view = VirtualEntry(ino: parent) {
                return try lookupInViewLocked(view, name)
            }
            let directory = try nodeLocked(ino: parent)
            guard directory.kind == .directory else { throw FSError(.notDirectory, "not a directory") }
            if let virtual = VirtualEntry.named(name, in: directory) {
                return try virtualEntryLocked(virtual, sized: false)
            }
            guard let name = try childLocked(directory, name) else {
                if versionLocked(of: directory)?.origin == .remote { return nil }
                throw FSError.notFound()
            }
            let child = try inodeLocked(of: name)
            guard let id = child.id else { throw FSError.notFound() }
            cacheLocked(child)
            references.addLookup(id)
            return entryLocked(child)
        }
    }

    /// Gives back `count` lookup references to `ino`.
    public func forget(_ ino: InodeNumber, count: UInt64) {
        guard ino < VirtualEntry.marker, ino > 1 else { return }
        lock.lock()
        defer { lock.unlock() }
        let id = Int64(ino)
        if references.forget(id, count: count) { releaseIfUnreferencedLocked(id) }
    }

    public func getattr(_ ino: InodeNumber) throws(FSError) -> Entry {
        try withLock { () throws(FSError) -> Entry in
            if let virtual = VirtualEntry(ino: ino) { return try virtualEntryLocked(virtual) }
            return entryLocked(try nodeLocked(ino: ino))
        }
    }

    public func readlink(_ ino: InodeNumber) throws(FSError) -> [UInt8] {
        try withLock { () throws(FSError) -> [UInt8] in
            if let virtual = VirtualEntry(ino: ino) {
                guard let target = try linkTargetLocked(virtual) else { throw FSError.invalid("not a symbolic link") }
                return target
            }
            let node = try nodeLocked(ino: ino)
            guard let target = node.linkTarget else { throw FSError.invalid("not a symbolic link") }
            return [UInt8](target)
        }
    }

    // MARK: - Directories

    /// Opens a directory; its listing is taken by the first readdir, which pages through it by offset.
    public func opendir(_ ino: InodeNumber) throws(FSError) -> OpenedDirectory {
        listBucketIfDue(for: ino)
        let (opened, fromBucket) = try withLock { () throws(FSError) -> (OpenedDirectory, Bool) in
            var insideVersion = false
            var fromBucket = false
            if let view = VirtualEntry(ino: ino) {
                guard try virtualEntryLocked(view).attributes.kind == .directory else {
                    throw FSError(.notDirectory, "not a directory")
                }
            } else {
                let directory = try nodeLocked(ino: ino)
                guard directory.kind == .directory else { throw FSError(.notDirectory, "not a directory") }
                insideVersion = directory.versionID != nil
                fromBucket = versionLocked(of: directory)?.origin == .remote
            }
            let opened = OpenedDirectory(handle: openFiles.addDirectory(DirectoryHandle(directoryID: ino)), cacheListing: insideVersion)
            return (opened, fromBucket)
        }
        // A directory of a version from the bucket may not be catalogued yet: its children come
        // from the TOC before the first readdir lists them.
        if fromBucket {
            do {
                try catalogueRemoteDirectory(ino)
            } catch {
                openFiles.removeDirectory(opened.handle)
                throw error
            }
        }
        return opened
    }
}
