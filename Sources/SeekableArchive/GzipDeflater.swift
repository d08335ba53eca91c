// Compresses a sequence of independent gzip members with one reusable zlib deflate stream.
internal import CZlib

/// One zlib deflate stream in gzip mode, reset between members so each member stands alone.
///
/// Not thread-safe: owned by one ``SeekableTarWriter``. The `z_stream` lives on the heap
/// because zlib keeps a pointer back to it and checks it on every call.
final class GzipDeflater {
    /// windowBits 15 plus 16 selects the gzip wrapper (header, CRC-32 and size trailer).
    private static let gzipWindowBits: Int32 = 15 + 16
    private static let memoryLevel: Int32 = 8
    private static let outputCapacity = 128 * 1024

    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutablePointer<UInt8>
    private var memberOpen = false
    private var used = false

    init(level: Int32) throws(ArchiveError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(capacity: Self.outputCapacity)
        let code = czlib_deflate_init2(stream, level, Self.gzipWindowBits, Self.memoryLevel)
        guard code == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            output.deallocate()
            throw .zlib(operation: "deflateInit2", code: code)
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        output.deallocate()
    }

    /// Starts a new gzip member (a fresh header and an empty dictionary).
    func beginMember() throws(ArchiveError) {
        if used {
            let code = deflateReset(stream)
            guard code == Z_OK else { throw .zlib(operation: "deflateReset", code: code) }
        }
        used = true
        memberOpen = true
    }

    /// Compresses `input` into the open member; compressed bytes go to `sink` as they are produced.
    func compress(
        _ input: UnsafeRawBufferPointer,
        sink: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void
    ) throws(ArchiveError) {
        guard input.count > 0, let base = input.baseAddress else { return }
        try run(base, count: input.count, flush: Z_NO_FLUSH, sink: sink)
    }

    func compress(_ bytes: [UInt8], sink: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void) throws(ArchiveError) {
        var failure: ArchiveError?
        bytes.withUnsafeBytes { buffer in
            do throws(ArchiveError) { try compress(buffer, sink: sink) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Ends the open member: the last deflate block and the gzip trailer go to `sink`.
    func finishMember(sink: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void) throws(ArchiveError) {
        var empty: UInt8 = 0
        try run(&empty, count: 0, flush: Z_FINISH, sink: sink)
        memberOpen = false
    }

    private func run(
        _ input: UnsafeRawPointer,
        count: Int,
        flush: Int32,
        sink: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void
    ) throws(ArchiveError) {
        guard memberOpen else { throw .writerUnusable(reason: "no gzip member is open") }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(count)
        while true {
            stream.pointee.next_out = output
            stream.pointee.avail_out = uInt(Self.outputCapacity)
            let code = deflate(stream, flush)
            guard code == Z_OK || code == Z_STREAM_END || code == Z_BUF_ERROR else {
                throw .zlib(operation: "deflate", code: code)
            }
            let produced = Self.outputCapacity - Int(stream.pointee.avail_out)
            if produced > 0 { try sink(UnsafeRawBufferPointer(start: output, count: produced)) }
            if flush == Z_FINISH {
                if code == Z_STREAM_END { break }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                break
            }
        }
        stream.pointee.next_in = nil
    }
}
