// Streams a PATCH (or creation-with-upload POST) body into an upload's data file as it arrives, so that a
// dropped connection keeps what was received, as tus servers do.
import Hummingbird

/// How a body was taken in.
enum BodyReceipt {
    /// The whole body was stored.
    case complete
    /// The body went on past the room left in the upload; what fitted was stored.
    case overLimit
    /// Another request asked for the upload for the lock's drain timeout: stopped taking bytes.
    case yielded
    /// Stopped on purpose partway (injected fault): the connection is to be dropped.
    case cut
    /// The body stream failed (the client went away).
    case interrupted(any Error)
}

enum ResumableBodyReceiver {
    /// Appends the body of `request` to `file`, at most `room` bytes and at most `cutAfter` when set.
    /// Never throws for the body stream: a failure is reported, so that the caller can record what was stored.
    static func receive(
        _ request: Request,
        into file: UploadDataFile,
        room: Int64,
        cutAfter: Int64?,
        lease: UploadLease
    ) async throws -> BodyReceipt {
        var stored: Int64 = 0
        let stop = min(room, cutAfter ?? Int64.max)
        if stop == 0, cutAfter == 0 { return .cut }
        do {
            for try await buffer in request.body {
                let take = Int(min(Int64(buffer.readableBytes), stop - stored))
                try buffer.withUnsafeReadableBytes { try file.append(UnsafeRawBufferPointer(rebasing: $0[0..<take])) }
                stored += Int64(take)
                if take < buffer.readableBytes || stored == stop {
                    if let cutAfter, stored >= cutAfter, cutAfter < room { return .cut }
                    if take < buffer.readableBytes { return .overLimit }
                }
                if lease.mustYield { return .yielded }
            }
        } catch let error as BlobError {
            throw error
        } catch {
            return .interrupted(error)
        }
        return .complete
    }
}
