// Whether the disk holding the blobs has room for more file data. Writes stop short of the last
// min(64 MiB, 5 %) of the disk, so sizes, unlinks and renames can still be committed. A statvfs
// on every write was one more syscall per request; a reading is reused for up to a second while
// the free space it saw, less what was written since, stays `margin` above that reserve.
import Foundation
import Synchronization
import SystemPackage

final class DiskRoom: Sendable {
    private struct Reading {
        var free: UInt64
        var reserve: UInt64
        var takenAt: ContinuousClock.Instant
        var writtenSince: UInt64
    }

    static let margin: UInt64 = 256 << 20
    static let maxAge = Duration.seconds(1)
    private let path: FilePath
    private let last = Mutex<Reading?>(nil)

    init(path: FilePath) { self.path = path }

    func hasRoom(for bytes: Int) -> Bool {
        let now = ContinuousClock.now
        let wanted = UInt64(bytes)
        let reused = last.withLock { reading -> Bool in
            guard var current = reading, now - current.takenAt < Self.maxAge,
                current.free >= current.writtenSince + wanted + current.reserve + Self.margin
            else { return false }
            current.writtenSince += wanted
            reading = current
            return true
        }
        if reused { return true }
        var info = statvfs()
        guard statvfs(path.string, &info) == 0 else { return true }
        let blockSize = UInt64(info.f_frsize)
        let reading = Reading(
            free: UInt64(info.f_bavail) * blockSize, reserve: min(64 << 20, UInt64(info.f_blocks) * blockSize / 20),
            takenAt: now, writtenSince: wanted)
        last.withLock { $0 = reading }
        return reading.free >= wanted + reading.reserve
    }
}
