// The archive's output file: buffered writes, the running offset and the running sha256.
internal import Crypto
import SystemPackage

/// Buffers compressed bytes, writes them to the output descriptor, and hashes them.
final class ArchiveOutput {
    private static let capacity = 1 << 20

    let descriptor: FileDescriptor
    let pathForErrors: String
    /// Bytes handed to `write` so far: the archive offset of the next byte.
    private(set) var offset: UInt64 = 0
    private var hasher = SHA256()
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0

    init(descriptor: FileDescriptor, pathForErrors: String) {
        self.descriptor = descriptor
        self.pathForErrors = pathForErrors
        buffer = .allocate(byteCount: Self.capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        hasher.update(bufferPointer: bytes)
        offset += UInt64(bytes.count)
        if buffered + bytes.count > Self.capacity { try flush() }
        if bytes.count >= Self.capacity {
            try FileIO.writeAll(descriptor, bytes, path: pathForErrors)
            return
        }
        UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + bytes.count)]).copyMemory(from: bytes)
        buffered += bytes.count
    }

    func flush() throws(ArchiveError) {
        guard buffered > 0 else { return }
        try FileIO.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: buffer[..<buffered]), path: pathForErrors)
        buffered = 0
    }

    /// Lowercase hex sha256 of everything written.
    func digest() -> String {
        Hex.string(hasher.finalize())
    }
}
