// Inflates one gzip member held in memory, handing out the uncompressed bytes chunk by chunk.
internal import CZlib

/// A zlib inflate stream in gzip-only mode, for reading one member at a time.
///
/// Not thread-safe; a reader creates one per call. The `z_stream` lives on the heap because
/// zlib keeps a pointer back to it.
final class GzipInflater {
    private static let gzipWindowBits: Int32 = 15 + 16
    static let outputCapacity = 256 * 1024

    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutablePointer<UInt8>
    private var used = false

    init() throws(ArchiveError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(capacity: Self.outputCapacity)
        let code = czlib_inflate_init2(stream, Self.gzipWindowBits)
        guard code == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            output.deallocate()
            throw .zlib(operation: "inflateInit2", code: code)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        output.deallocate()
    }

    enum Outcome {
        /// The member ended (its CRC-32 and length were checked by zlib).
        case complete
        /// `body` asked to stop before the end of the member.
        case stopped
    }

    /// Inflates the gzip member `member`. `body` gets each output chunk and returns false to stop.
    ///
    /// A member that is damaged, truncated, or followed by extra bytes throws a
    /// `reason` string, which the caller turns into ``ArchiveError/corruptMember(path:offset:reason:)``.
    func inflateMember(
        _ member: [UInt8],
        body: (UnsafeRawBufferPointer) throws(ArchiveError) -> Bool
    ) throws(InflateFailure) -> Outcome {
        if used {
            let code = inflateReset(stream)
            guard code == Z_OK else { throw InflateFailure(reason: "inflateReset returned \(code)") }
        }
        used = true
        var result: Result<Outcome, InflateFailure> = .failure(InflateFailure(reason: "empty member"))
        member.withUnsafeBytes { input in
            result = run(input, body: body)
        }
        return try result.get()
    }

    private func run(
        _ input: UnsafeRawBufferPointer,
        body: (UnsafeRawBufferPointer) throws(ArchiveError) -> Bool
    ) -> Result<Outcome, InflateFailure> {
        guard let base = input.baseAddress, input.count > 0 else {
            return .failure(InflateFailure(reason: "member is empty"))
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer { stream.pointee.next_in = nil }
        while true {
            stream.pointee.next_out = output
            stream.pointee.avail_out = uInt(Self.outputCapacity)
            let code = inflate(stream, Z_NO_FLUSH)
            let produced = Self.outputCapacity - Int(stream.pointee.avail_out)
            switch code {
            case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
                break
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib code \(code)"
                return .failure(InflateFailure(reason: message))
            }
            if produced > 0 {
                do {
                    if try !body(UnsafeRawBufferPointer(start: output, count: produced)) { return .success(.stopped) }
                } catch {
                    return .failure(InflateFailure(reason: error.description, underlying: error))
                }
            }
            if code == Z_STREAM_END {
                if stream.pointee.avail_in != 0 {
                    return .failure(
                        InflateFailure(reason: "\(stream.pointee.avail_in) bytes after the end of the member")
                    )
                }
                return .success(.complete)
            }
            if code == Z_BUF_ERROR || (stream.pointee.avail_in == 0 && produced == 0) {
                return .failure(InflateFailure(reason: "member is truncated"))
            }
        }
    }
}

/// Why a member could not be inflated; `underlying` is set when the consumer itself threw.
struct InflateFailure: Error {
    var reason: String
    var underlying: ArchiveError?
}
