// The sha256 of a whole local file, as the TOC's `archive_sha256` gives it.
internal import Crypto
import SystemPackage

public enum FileDigest {
    /// Lowercase hex sha256 of everything `descriptor` holds, read from offset 0 (the position moves).
    public static func sha256(of descriptor: FileDescriptor, path: String) throws(ArchiveError) -> String {
        do {
            try descriptor.seek(offset: 0, from: .start)
        } catch {
            throw .io(operation: "lseek", path: path, errno: error as? Errno ?? .ioError)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let count = try FileIO.readFully(descriptor, into: buffer, path: path)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            if count < buffer.count { break }
        }
        return Hex.string(hasher.finalize())
    }
}
