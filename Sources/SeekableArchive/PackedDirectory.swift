// One open directory of a tree being packed: its names, and each child's status, content, link
// target and extended attributes, all reached relative to the directory's descriptor.
import CLinux
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A directory ``ArchivePacker`` holds open while it packs its children. Calls name children
/// relative to ``descriptor`` (`fstatat`, `openat`, `readlinkat`), never by a full path, which
/// past PATH_MAX the kernel would refuse. ``shownPath`` is what errors name.
struct PackedDirectory {
    let descriptor: FileDescriptor
    /// The directory's path as given plus the names walked since, for error messages.
    let shownPath: String

    static func open(_ path: FilePath) throws(ArchiveError) -> PackedDirectory {
        let fd = path.withPlatformString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw .io(operation: "open", path: path.string, errno: .current) }
        return PackedDirectory(descriptor: FileDescriptor(rawValue: fd), shownPath: path.string)
    }

    func close() { try? descriptor.close() }

    func shown(_ name: [UInt8]) -> String { shownPath + "/" + NameBytes.text(name) }

    /// The names other than "." and "..", as the bytes readdir gives, sorted bytewise.
    func names() throws(ArchiveError) -> [[UInt8]] {
        // fdopendir takes over the descriptor it is given: hand it a duplicate.
        let copy = dup(descriptor.rawValue)
        guard copy >= 0, let handle = fdopendir(copy) else {
            if copy >= 0 { Glibc.close(copy) }
            throw .io(operation: "opendir", path: shownPath, errno: .current)
        }
        defer { closedir(handle) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let record = readdir(handle) else {
                if errno != 0 { throw .io(operation: "readdir", path: shownPath, errno: .current) }
                break
            }
            let name = withUnsafeBytes(of: record.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// `lstat` of a child.
    func status(of name: [UInt8]) throws(ArchiveError) -> stat {
        var info = stat()
        let result = Self.withCName(name) { fstatat(descriptor.rawValue, $0, &info, AT_SYMLINK_NOFOLLOW) }
        guard result == 0 else { throw .io(operation: "lstat", path: shown(name), errno: .current) }
        return info
    }

    /// A regular file child opened for reading (not following a symlink put there meanwhile).
    func openFile(_ name: [UInt8]) throws(ArchiveError) -> FileDescriptor {
        let fd = Self.withCName(name) { openat(descriptor.rawValue, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .io(operation: "open", path: shown(name), errno: .current) }
        return FileDescriptor(rawValue: fd)
    }

    func openDirectory(_ name: [UInt8]) throws(ArchiveError) -> PackedDirectory {
        let fd = Self.withCName(name) {
            openat(descriptor.rawValue, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else { throw .io(operation: "opendir", path: shown(name), errno: .current) }
        return PackedDirectory(descriptor: FileDescriptor(rawValue: fd), shownPath: shown(name))
    }

    func linkTarget(_ name: [UInt8], size: Int) throws(ArchiveError) -> [UInt8] {
        let capacity = max(size, 256) + 1
        var buffer = [CChar](repeating: 0, count: capacity)
        let count = Self.withCName(name) { readlinkat(descriptor.rawValue, $0, &buffer, capacity) }
        guard count >= 0 else { throw .io(operation: "readlink", path: shown(name), errno: .current) }
        guard count < capacity else { throw .io(operation: "readlink", path: shown(name), errno: .fileNameTooLong) }
        return buffer[..<count].map { UInt8(bitPattern: $0) }
    }

    /// The `user.*` attributes of an open child, in byte order of their names. A file system
    /// without extended attributes has none.
    func userAttributes(of child: FileDescriptor, _ name: [UInt8]) throws(ArchiveError) -> [ArchiveXattr] {
        let names = try attributeNames(child, name)
        var out: [ArchiveXattr] = []
        for attribute in names where attribute.count > 5 && attribute.starts(with: Array("user.".utf8)) {
            guard let value = try attributeValue(child, attribute, name) else { continue }
            out.append(ArchiveXattr(name: attribute, value: value))
        }
        return out.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    private func attributeNames(_ child: FileDescriptor, _ name: [UInt8]) throws(ArchiveError) -> [[UInt8]] {
        while true {
            let size = flistxattr(child.rawValue, nil, 0)
            if size < 0, errno == ENOTSUP { return [] }
            guard size >= 0 else { throw .io(operation: "listxattr", path: shown(name), errno: .current) }
            if size == 0 { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            let got = flistxattr(child.rawValue, &buffer, size)
            if got < 0, errno == ERANGE { continue }  // a name was added meanwhile
            guard got >= 0 else { throw .io(operation: "listxattr", path: shown(name), errno: .current) }
            return buffer[..<got].split(separator: 0).map { $0.map { UInt8(bitPattern: $0) } }
        }
    }

    /// nil when the attribute was removed meanwhile.
    private func attributeValue(_ child: FileDescriptor, _ attribute: [UInt8], _ name: [UInt8]) throws(ArchiveError) -> [UInt8]? {
        try Self.withCName(attribute) { (cName) throws(ArchiveError) -> [UInt8]? in
            while true {
                let size = fgetxattr(child.rawValue, cName, nil, 0)
                if size < 0, errno == ENODATA { return nil }
                guard size >= 0 else { throw .io(operation: "getxattr", path: shown(name), errno: .current) }
                var buffer = [UInt8](repeating: 0, count: size)
                let got = fgetxattr(child.rawValue, cName, &buffer, size)
                if got < 0, errno == ERANGE { continue }  // the value grew meanwhile
                if got < 0, errno == ENODATA { return nil }
                guard got >= 0 else { throw .io(operation: "getxattr", path: shown(name), errno: .current) }
                return Array(buffer[..<got])
            }
        }
    }

    private static func withCName<T, E: Error>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws(E) -> T) throws(E) -> T {
        let cName = name.map { CChar(bitPattern: $0) } + [0]
        return try cName.withUnsafeBufferPointer { (buffer) throws(E) -> T in try body(buffer.baseAddress!) }
    }
}
