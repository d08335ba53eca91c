// Empty blobs made ahead of the creates that take them. Making a file's blob in ext4 was over a
// third of a CREATE's time at a million files (35 of 93 µs); made ahead by a background thread
// on the other core, a create only opens it. The pool hands out inode numbers the catalog reserved
// for it (Catalog.reserveIDs), which no other insert can take, so a made blob never sits under the
// number of a directory or of a remote entry. The reserved numbers not handed out yet are written
// to `<data>/blobs-ahead` before their blobs are made: a clean stop removes those blobs, the next
// mount removes what a crash left (`removeLeftovers`).
import Foundation
import Synchronization
import SystemPackage

final class BlobPool: Sendable {
    /// Numbers reserved at a time, and how few ready ones make the pool ask for more.
    static let batchSize = 512
    static let lowWater = 256

    private struct State {
        /// Whether a maker runs (the daemon's loop); without one, creates make their own blobs.
        var running = false
        /// Numbers whose empty blob exists, in descending order: the lowest last, taken first.
        var ready: [Int64] = []
        /// The maker was asked for more and has not made them yet.
        var refilling = false
    }
    private let state = Mutex(State())
    private let store: BlobStore
    /// The range of numbers that may have a made, unused blob (the leftovers of a crash).
    private let rangeFile: FilePath
    /// Reserves that many numbers in the catalog (Catalog.reserveIDs).
    private let reserve: @Sendable (Int) throws -> ClosedRange<Int64>

    init(store: BlobStore, rangeFile: FilePath, reserve: @escaping @Sendable (Int) throws -> ClosedRange<Int64>) {
        self.store = store
        self.rangeFile = rangeFile
        self.reserve = reserve
    }

    /// A number whose empty blob exists, for a new regular file (nil when none is ready), and
    /// whether the pool just ran low: true once per refill, for the caller to wake the maker.
    func take() -> (id: Int64?, runningLow: Bool) {
        state.withLock { state in
            let id = state.ready.popLast()
            let runningLow = state.running && !state.refilling && state.ready.count < Self.lowWater
            if runningLow { state.refilling = true }
            return (id, runningLow)
        }
    }

    /// Takes back a number from `take` that no row got (the create failed). It was the lowest.
    func giveBack(_ id: Int64) { state.withLock { $0.ready.append(id) } }

    /// The maker's job (its first run starts the pool): when the pool runs low, reserves numbers,
    /// records their range, then makes an empty blob for each. An error is reported to `log` and
    /// stops the pool; creates make their own blobs from then on.
    func refill(log: (String) -> Void) {
        let (asked, lowest) = state.withLock { state in
            state.running = true
            return (state.refilling, state.ready.last)
        }
        guard asked else { return }
        do {
            let range = try reserve(Self.batchSize)
            try recordRange(min(lowest ?? range.lowerBound, range.lowerBound)...range.upperBound)
            for id in range {
                try store.truncate(InodeNumber(id), size: 0)  // empty even if a crash left one there
            }
            state.withLock { state in
                state.ready.insert(contentsOf: range.reversed(), at: 0)
                state.refilling = false
            }
        } catch {
            state.withLock { $0.running = false }
            log("stopped making blobs ahead of creates: \(error)")
        }
    }

    /// Stops handing out numbers and removes the blobs nobody took (at unmount, after the maker stopped).
    func stop() {
        let unused = state.withLock { state -> [Int64] in
            state.running = false
            defer { state.ready = [] }
            return state.ready
        }
        for id in unused { unlink(store.path(InodeNumber(id)).string) }
        unlink(rangeFile.string)
    }

    /// At mount, before any insert: removes the blobs made ahead by a run that did not stop, those
    /// in the recorded range whose number no row has (`rowsIn` lists the catalog's). Returns how many.
    static func removeLeftovers(
        rangeFile: FilePath, store: BlobStore, rowsIn: (ClosedRange<Int64>) throws -> Set<Int64>
    ) throws -> Int {
        guard let text = try? String(contentsOfFile: rangeFile.string, encoding: .utf8) else { return 0 }
        let bounds = text.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        var removed = 0
        if bounds.count == 2, bounds[0] > 0, bounds[0] <= bounds[1] {
            let range = bounds[0]...bounds[1]
            let taken = try rowsIn(range)
            for id in range where !taken.contains(id) {
                if unlink(store.path(InodeNumber(id)).string) == 0 { removed += 1 }
            }
        }
        unlink(rangeFile.string)
        return removed
    }

    /// Written beside and renamed over, so a crash leaves the old range or the new one.
    private func recordRange(_ range: ClosedRange<Int64>) throws {
        let next = FilePath(rangeFile.string + ".new")
        let fd = try FileDescriptor.open(
            next, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        _ = try fd.closeAfter { try fd.writeAll(Array("\(range.lowerBound) \(range.upperBound)\n".utf8)) }
        guard rename(next.string, rangeFile.string) == 0 else { throw Errno(rawValue: errno) }
    }
}
