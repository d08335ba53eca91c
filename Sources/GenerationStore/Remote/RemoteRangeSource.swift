// Archive bytes fetched by HTTP Range request, for SeekableTarReader, counting what they moved.
import Foundation
import SeekableArchive
import SupabaseStorage

/// Archive bytes by HTTP Range request, each retried while the failure is transient.
struct RemoteRangeSource: ArchiveByteSource {
    let store: any ObjectStore
    let key: String
    let transferred = TransferCount()

    func bytes(in range: Range<UInt64>) throws -> [UInt8] {
        guard !range.isEmpty else { return [] }
        let (store, key) = (self.store, self.key)
        let byteRange = ByteRange.closed(Int64(range.lowerBound), Int64(range.upperBound) - 1)
        let bytes = try Namespace.remoteCall { try await store.get(key: key, range: byteRange) }
        transferred.add(bytes.count)
        return bytes
    }
}

/// Requests and bytes one fetch moved, for its log line.
final class TransferCount: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = 0  // guarded by `lock`
    private var bytes = 0  // guarded by `lock`

    func add(_ count: Int) { lock.withLock { requests += 1; bytes += count } }
    var totals: (requests: Int, bytes: Int) { lock.withLock { (requests, bytes) } }
}
