// Object bytes on disk: written to a temporary file, fsync'd and renamed into objects/<xx>/<id>.
import Crypto
import Foundation

/// Runs blocking file work (fsync, copies) on a thread of its own, never on the cooperative pool that serves
/// requests (a blocked pool thread there stalls every connection).
func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

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

    /// Makes the temporary blob the object `id`: fsync, rename, fsync of the directory (off the request threads).
    /// On failure the temporary file is removed.
    func commit(tmp: TempBlob, as id: String) async throws {
        let (tmpPath, fd) = tmp.detach()
        let target = path(ofObject: id)
        let dir = "\(root)/objects/\(id.prefix(2))"
        try await offloaded {
            defer { close(fd) }
            do {
                guard fsync(fd) == 0 else { throw BlobError.io(tmpPath, errno) }
                if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw BlobError.io(dir, errno) }
                guard rename(tmpPath, target) == 0 else { throw BlobError.io(tmpPath, errno) }
                try Self.syncDirectory(dir)
            } catch {
                unlink(tmpPath)
                throw error
            }
        }
    }

    func remove(id: String) {
        unlink(path(ofObject: id))
    }

    /// Copies object `source` into a new committed object `destination`.
    func copy(id source: String, to destination: String) async throws {
        let files = self
        try await offloaded {
            let tmp = try files.copyToTemporary(id: source)
            let (tmpPath, fd) = tmp.detach()
            defer { close(fd) }
            let dir = "\(files.root)/objects/\(destination.prefix(2))"
            do {
                guard fsync(fd) == 0 else { throw BlobError.io(tmpPath, errno) }
                if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw BlobError.io(dir, errno) }
                guard rename(tmpPath, files.path(ofObject: destination)) == 0 else {
                    throw BlobError.io(tmpPath, errno)
                }
                try Self.syncDirectory(dir)
            } catch {
                unlink(tmpPath)
                throw error
            }
        }
    }

    private func copyToTemporary(id source: String) throws -> TempBlob {
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
    /// The ETag of an adopted file, computed when it was read.
    private var adoptedETag: String?

    init(directory: String) throws {
        path = directory + "/" + UUID().uuidString.lowercased()
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError.io(path, errno) }
    }

    /// Takes over a file written elsewhere (the data of a finished resumable upload) whose size and ETag
    /// ``etag(ofFile:)`` computed; committing it moves that file into place.
    init(adopting path: String, size: Int64, etag: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError.io(path, errno) }
        self.size = size
        adoptedETag = etag
    }

    /// Size and quoted MD5 ETag of the file at `path`, read in 1 MiB blocks (blocking: call it offloaded).
    static func etag(ofFile path: String) throws -> (size: Int64, etag: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError.io(path, errno) }
        defer { close(fd) }
        var md5 = Insecure.MD5()
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BlobError.io(path, errno)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            size += Int64(n)
        }
        return (size, quoted(md5.finalize()))
    }

    private static func quoted(_ digest: Insecure.MD5Digest) -> String {
        "\"" + digest.map { String(format: "%02x", $0) }.joined() + "\""
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        md5.update(bufferPointer: bytes)
        try Self.writeAll(fd, base, count: bytes.count, path: path)
        size += Int64(bytes.count)
    }

    /// write(2) until all of `count` bytes are written (retrying EINTR); shared by the upload data files.
    static func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, count: Int, path: String) throws {
        var done = 0
        while done < count {
            let n = write(fd, base + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw BlobError.io(path, errno)
            }
            done += n
        }
    }

    /// `"<md5 hex>"`, the quoted ETag.
    var etag: String {
        adoptedETag ?? Self.quoted(md5.finalize())
    }

    /// Hands the path and open descriptor to the caller, who now owns both.
    func detach() -> (path: String, fd: Int32) {
        let r = (path, fd)
        fd = -1
        return r
    }

    /// Drops an upload that will not be committed.
    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
    }
}
