// Where a reader gets archive bytes: a protocol, a closure adapter, and a local-file implementation.
import SystemPackage

/// Fetches a byte range of the archive (an HTTP Range request, a cache file, a local archive).
///
/// Must return exactly `range.count` bytes or throw; errors pass through the reader unchanged.
public protocol ArchiveByteSource: Sendable {
    func bytes(in range: Range<UInt64>) throws -> [UInt8]
}

/// An ``ArchiveByteSource`` made from a closure.
public struct ClosureByteSource: ArchiveByteSource {
    private let fetch: @Sendable (Range<UInt64>) throws -> [UInt8]

    public init(_ fetch: @escaping @Sendable (Range<UInt64>) throws -> [UInt8]) {
        self.fetch = fetch
    }

    public func bytes(in range: Range<UInt64>) throws -> [UInt8] {
        try fetch(range)
    }
}

/// Reads ranges of a local archive file with `pread`; the caller owns (and closes) the descriptor.
public struct FileByteSource: ArchiveByteSource {
    public let descriptor: FileDescriptor

    public init(descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    public func bytes(in range: Range<UInt64>) throws -> [UInt8] {
        guard range.count <= Int.max, range.upperBound <= UInt64(Int64.max) else {
            throw ArchiveError.shortFetch(range: range, received: 0)
        }
        let count = Int(range.count)
        var received = 0
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while received < count {
                let rest = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[received...])
                do {
                    let got = try descriptor.read(
                        fromAbsoluteOffset: Int64(range.lowerBound) + Int64(received),
                        into: rest
                    )
                    if got == 0 { break }
                    received += got
                } catch {
                    failure = error as? Errno ?? .ioError
                    break
                }
            }
            initialized = received
        }
        if let failure {
            throw ArchiveError.io(operation: "pread", path: "<fd \(descriptor.rawValue)>", errno: failure)
        }
        guard received == count else { throw ArchiveError.shortFetch(range: range, received: received) }
        return bytes
    }
}

extension FileByteSource {
    /// `bytes(in:)` with its error typed: everything it throws is an ArchiveError already.
    func archiveBytes(in range: Range<UInt64>) throws(ArchiveError) -> [UInt8] {
        do {
            return try bytes(in: range)
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw .io(operation: "pread", path: "<fd \(descriptor.rawValue)>", errno: error as? Errno ?? .ioError)
        }
    }
}
