// Thin, errno-returning wrappers over the file system calls the mount tests make, so a test reads
// as `#expect(Sys.mkdir(p) == .EINVAL)` and a failure prints the errno's name.
import Foundation
import SeededRandom

#if canImport(Glibc)
    import Glibc
#endif

/// The outcome of one system call: `.ok` or the errno it set. Prints as `EINVAL(22)`.
struct Outcome: Equatable, Hashable, CustomStringConvertible, Sendable {
    let code: Int32

    static let ok = Outcome(code: 0)
    static let EPERM = Outcome(code: Glibc.EPERM)
    static let ENOENT = Outcome(code: Glibc.ENOENT)
    static let EIO = Outcome(code: Glibc.EIO)
    static let EBADF = Outcome(code: Glibc.EBADF)
    static let EACCES = Outcome(code: Glibc.EACCES)
    static let EEXIST = Outcome(code: Glibc.EEXIST)
    static let EXDEV = Outcome(code: Glibc.EXDEV)
    static let ENOTDIR = Outcome(code: Glibc.ENOTDIR)
    static let EISDIR = Outcome(code: Glibc.EISDIR)
    static let EINVAL = Outcome(code: Glibc.EINVAL)
    static let ENOSPC = Outcome(code: Glibc.ENOSPC)
    static let EROFS = Outcome(code: Glibc.EROFS)
    static let ENAMETOOLONG = Outcome(code: Glibc.ENAMETOOLONG)
    static let ENOTEMPTY = Outcome(code: Glibc.ENOTEMPTY)
    static let ENODATA = Outcome(code: Glibc.ENODATA)
    static let ENOTCONN = Outcome(code: Glibc.ENOTCONN)

    /// The outcome of a call that returned `result`, reading `errno` when it is negative.
    static func of<T: BinaryInteger>(_ result: T) -> Outcome {
        result < 0 ? Outcome(code: errno) : .ok
    }

    var description: String {
        if code == 0 { return "ok" }
        let names: [Int32: String] = [
            Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.EIO: "EIO", Glibc.EBADF: "EBADF",
            Glibc.EACCES: "EACCES", Glibc.EEXIST: "EEXIST", Glibc.EXDEV: "EXDEV", Glibc.ENOTDIR: "ENOTDIR",
            Glibc.EISDIR: "EISDIR", Glibc.EINVAL: "EINVAL", Glibc.ENOSPC: "ENOSPC", Glibc.EROFS: "EROFS",
            Glibc.ENAMETOOLONG: "ENAMETOOLONG", Glibc.ENOTEMPTY: "ENOTEMPTY", Glibc.ENODATA: "ENODATA",
            Glibc.ENOTCONN: "ENOTCONN", Glibc.ENOSYS: "ENOSYS", Glibc.EBUSY: "EBUSY", Glibc.EFBIG: "EFBIG",
            Glibc.EOPNOTSUPP: "EOPNOTSUPP", Glibc.ERANGE: "ERANGE", Glibc.E2BIG: "E2BIG",
        ]
        return "\(names[code] ?? "errno")(\(code))"
    }
}

/// `stat(2)`, callable from inside `Sys` (where `stat` names the wrapper).
private func statFollowingLinks(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }

/// An error thrown by the helpers when a call the test relies on (not the one under test) fails.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Lightweight file information taken with `lstat`.
struct FileInfo: Equatable, Sendable {
    let type: mode_t  // S_IFREG, S_IFDIR, S_IFLNK ...
    let perm: mode_t  // mode & 0o7777
    let size: Int64
    let inode: UInt64
    let mtimeSec: Int
    let mtimeNsec: Int

    var isDir: Bool { type == S_IFDIR }
    var isFile: Bool { type == S_IFREG }
    var isSymlink: Bool { type == S_IFLNK }
}

enum Sys {
    static func mkdir(_ path: String, _ mode: mode_t = 0o755) -> Outcome { .of(Glibc.mkdir(path, mode)) }
    static func rmdir(_ path: String) -> Outcome { .of(Glibc.rmdir(path)) }
    static func unlink(_ path: String) -> Outcome { .of(Glibc.unlink(path)) }
    static func rename(_ from: String, _ to: String) -> Outcome { .of(Glibc.rename(from, to)) }
    static func symlink(_ target: String, _ path: String) -> Outcome { .of(Glibc.symlink(target, path)) }
    static func link(_ from: String, _ to: String) -> Outcome { .of(Glibc.link(from, to)) }
    static func chmod(_ path: String, _ mode: mode_t) -> Outcome { .of(Glibc.chmod(path, mode)) }
    static func truncate(_ path: String, _ size: Int) -> Outcome { .of(Glibc.truncate(path, off_t(size))) }

    /// Sets access and modification time to `seconds` since the epoch.
    static func setMtime(_ path: String, seconds: Int, nanoseconds: Int = 0) -> Outcome {
        var times = [
            timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds),
        ]
        return .of(utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW))
    }

    /// `open(2)`; returns the descriptor or the errno.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) -> Result<Int32, OutcomeError> {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        return fd < 0 ? .failure(OutcomeError(outcome: Outcome(code: errno), context: path)) : .success(fd)
    }

    /// The errno of `open(path, flags)` (closing the descriptor if it opened).
    static func openOutcome(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) -> Outcome {
        switch open(path, flags, mode) {
        case .success(let fd):
            Glibc.close(fd)
            return .ok
        case .failure(let e): return e.outcome
        }
    }

    /// Writes all of `bytes` at the current offset; returns the errno of the first failing write.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Outcome {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                return Outcome(code: errno)
            }
            done += n
        }
        return .ok
    }

    /// Writes all of `bytes` at `offset` with pwrite.
    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Outcome {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return Outcome(code: errno)
            }
            done += n
        }
        return .ok
    }

    /// Reads from `fd` until end of file, starting at `offset`.
    static func readAll(_ fd: Int32, from offset: Int = 0) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress!, $0.count, off_t(position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("pread at \(position) failed: \(Outcome(code: errno))")
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            position += n
        }
    }

    /// Creates or replaces `path` with `content` (O_CREAT|O_TRUNC), closing it; returns the first errno.
    @discardableResult
    static func writeFile(_ path: String, _ content: [UInt8], mode: mode_t = 0o644) -> Outcome {
        switch open(path, O_WRONLY | O_CREAT | O_TRUNC, mode) {
        case .failure(let e): return e.outcome
        case .success(let fd):
            let w = writeAll(fd, content)
            let c = Outcome.of(Glibc.close(fd))
            return w != .ok ? w : c
        }
    }

    @discardableResult
    static func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) -> Outcome {
        writeFile(path, Array(text.utf8), mode: mode)
    }

    /// The whole content of `path`, or throws with the errno.
    static func readFile(_ path: String) throws -> [UInt8] {
        switch open(path, O_RDONLY) {
        case .failure(let e): throw e
        case .success(let fd):
            defer { Glibc.close(fd) }
            return try readAll(fd)
        }
    }

    static func readText(_ path: String) throws -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    static func lstat(_ path: String) -> FileInfo? {
        var st = Glibc.stat()
        guard Glibc.lstat(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }

    static func stat(_ path: String) -> FileInfo? {
        var st = Glibc.stat()
        guard statFollowingLinks(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }

    static func lstatOutcome(_ path: String) -> Outcome {
        var st = Glibc.stat()
        return .of(Glibc.lstat(path, &st))
    }

    static func exists(_ path: String) -> Bool { lstat(path) != nil }

    static func readlink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = Glibc.readlink(path, &buffer, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Directory entries without `.` and `..`, sorted; nil with the errno when it cannot be listed.
    static func list(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func listOutcome(_ path: String) -> Outcome {
        guard let dir = opendir(path) else { return Outcome(code: errno) }
        closedir(dir)
        return .ok
    }

    // MARK: extended attributes (not in the Glibc module: bound with dlsym)

    private typealias SetXattr = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32
    ) -> Int32
    private typealias GetXattr = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int
    ) -> Int
    private typealias ListXattr = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
    private typealias RemoveXattr = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
            fatalError("libc has no \(name)")
        }
        return unsafeBitCast(sym, to: type)
    }

    static func setxattr(_ path: String, _ name: String, _ value: String) -> Outcome {
        let f = symbol("lsetxattr", as: SetXattr.self)
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { .of(f(path, name, $0.baseAddress, bytes.count, 0)) }
    }

    /// The attribute's value, or the errno (ENODATA when it is missing).
    static func getxattr(_ path: String, _ name: String) -> Result<String, OutcomeError> {
        let f = symbol("lgetxattr", as: GetXattr.self)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { f(path, name, $0.baseAddress, $0.count) }
        if n < 0 { return .failure(OutcomeError(outcome: Outcome(code: errno), context: "\(path) \(name)")) }
        return .success(String(decoding: buffer[0..<n], as: UTF8.self))
    }

    static func getxattrOutcome(_ path: String, _ name: String) -> Outcome {
        switch getxattr(path, name) {
        case .success: return .ok
        case .failure(let e): return e.outcome
        }
    }

    /// The attribute names on `path`, sorted.
    static func listxattr(_ path: String) -> Result<[String], OutcomeError> {
        let f = symbol("llistxattr", as: ListXattr.self)
        var buffer = [CChar](repeating: 0, count: 65536)
        let n = f(path, &buffer, buffer.count)
        if n < 0 { return .failure(OutcomeError(outcome: Outcome(code: errno), context: path)) }
        let names = buffer[0..<n].split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return .success(names.sorted())
    }

    static func removexattr(_ path: String, _ name: String) -> Outcome {
        let f = symbol("lremovexattr", as: RemoveXattr.self)
        return .of(f(path, name))
    }
}

/// A failed call, as a thrown error.
struct OutcomeError: Error, CustomStringConvertible {
    let outcome: Outcome
    let context: String
    var description: String { "\(outcome) (\(context))" }
}

extension Result where Failure == OutcomeError {
    /// `.ok` on success, else the errno: for `#expect(Sys.open(...).outcome == .EROFS)`.
    var outcome: Outcome {
        switch self {
        case .success: return .ok
        case .failure(let e): return e.outcome
        }
    }
}

extension FileInfo {
    init(_ st: stat) {
        type = st.st_mode & S_IFMT
        perm = st.st_mode & 0o7777
        size = Int64(st.st_size)
        inode = UInt64(st.st_ino)
        mtimeSec = st.st_mtim.tv_sec
        mtimeNsec = st.st_mtim.tv_nsec
    }
}

/// Deterministic pseudo-random bytes, so file contents differ per path and per test.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = rng.next()
        for _ in 0..<8 where i < count {
            out[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return out
}
