// Object bytes on disk: written to a temporary file, fsync'd and renamed into objects/<xx>/<id>.
import Crypto
import Foundation

enum BlobError: Error {
    case io(String, Int32)
}

/// The object files under `<data>/objects`, and `<data>/tmp` for uploads in flight.
struct BlobFiles: Sendable {
    let root: String

    var tmpDirectory: String { root + "/tmp" }

    init(dataDirectory: String) throws {
        root = dataDirectory
        for dir in [root + "/objects", root + "/tmp"] {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw BlobError.io(dir, errno) }
        }
        // Uploads interrupted by a crash were never acknowledged.
        if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: tmpDirectory) {
            for name in leftovers { unlink(tmpDirectory + "/" + name) }
        }
    }

    func path(ofObject id: String) -> String {
        "\(root)/objects/\(id.prefix(2))/\(id)"
    }

    /// Makes the temporary file at `tmp` the object `id`: fsync, rename, fsync of the directory.
    func commit(tmp: TempBlob, as id: String) throws {
        try tmp.sync()
        let dir = "\(root)/objects/\(id.prefix(2))"
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw BlobError.io(dir, errno) }
        guard rename(tmp.path, path(ofObject: id)) == 0 else { throw BlobError.io(tmp.path, errno) }
        try Self.syncDirectory(dir)
    }

    func remove(id: String) {
        unlink(path(ofObject: id))
    }

    /// Copies object `source` into a new temporary blob.
    func copy(id source: String) throws -> TempBlob {
        let tmp = try TempBlob(directory: tmpDirectory)
        let fd = open(path(ofObject: source), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError.io(path(ofObject: source), errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BlobError.io(path(ofObject: source), errno)
            }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try tmp.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return tmp
    }

    static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError.io(dir, errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BlobError.io(dir, errno) }
    }
}

/// An upload being written: a temporary file plus its running size and MD5. Used by one task at a time.
final class TempBlob {
    let path: String
    private var fd: Int32
    private(set) var size: Int64 = 0
    private var md5 = Insecure.MD5()

    init(directory: String) throws {
        path = directory + "/" + UUID().uuidString.lowercased()
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError.io(path, errno) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        md5.update(bufferPointer: bytes)
        var done = 0
        while done < bytes.count {
            let n = write(fd, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw BlobError.io(path, errno)
            }
            done += n
        }
        size += Int64(bytes.count)
    }

    /// `"<md5 hex>"`, the quoted ETag.
    var etag: String {
        "\"" + md5.finalize().map { String(format: "%02x", $0) }.joined() + "\""
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw BlobError.io(path, errno) }
        close(fd)
        fd = -1
    }

    /// Drops an upload that will not be committed.
    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
    }
}
