// Directory listings read ahead of tree walkers (`find`, `ls -R`, `du`, `tar`, `cp -r`). A walker
// lists a directory, then its first subdirectory, or else the next subdirectory of its parent.
// While the kernel and the walker work through one directory, a worker thread reads the listing
// the walker will ask for next (names, inode numbers, types, and the whole rows of the entries a
// READDIRPLUS reply takes first) on the other core. A listing read ahead is used only if the
// catalog had no write since it was read, so it is exactly what reading it then would give.
import Dispatch
import Foundation
import Synchronization

final class ListingReadahead: Sendable {
    struct Listing: Sendable {
        let children: [ListedChild]
        let rows: Rows
    }

    /// The whole rows of a listing's first `attributedCount` children, by id.
    struct Rows: Sendable {
        /// The catalog's write count when they were read (Catalog.writeCount).
        let writeCount: UInt64
        let nodes: [Int64: Node]
    }

    private struct State {
        var ready: [Int64: Listing] = [:]
        var reading: Set<Int64> = []
        /// For directories whose parent was listed: the subdirectory after them in that listing.
        var nextSibling: [Int64: Int64] = [:]
        /// Listings taken from here (tests read it).
        var used = 0
    }

    /// Listings kept ready at most (a walker takes them one or two ahead; the rest is stale).
    static let readyLimit = 8
    /// Directories whose next sibling is remembered at most (about 16 bytes each).
    static let siblingLimit = 200_000
    /// Children read whole with a listing: a READDIRPLUS reply of 32 KiB holds about 200.
    static let attributedCount = 256
    /// Larger listings are not kept: held twice for a moment (here and in the open directory),
    /// a directory of millions of names would cost more memory than reading it again saves.
    static let childrenLimit = 100_000

    private let catalog: Catalog
    private let state = Mutex(State())
    private let worker = DispatchQueue(label: "codebegenfs.listing-readahead", qos: .utility)

    init(catalog: Catalog) { self.catalog = catalog }

    /// The listing of `directory` read ahead, if the catalog has not changed since; taken once.
    func take(_ directory: Int64) -> Listing? {
        state.withLock { state in
            guard let listing = state.ready.removeValue(forKey: directory), isCurrent(listing.rows) else { return nil }
            state.used += 1
            return listing
        }
    }

    var usedCount: Int { state.withLock { $0.used } }

    /// Returns once the listings asked for so far are read.
    func finishReading() { worker.sync {} }

    /// Whether the catalog had no write since `rows` were read.
    func isCurrent(_ rows: Rows) -> Bool { rows.writeCount == catalog.writeCount }

    /// `directory` was just listed: reads ahead its first subdirectory and its next sibling.
    func listed(_ directory: Int64, _ children: [ListedChild]) {
        let subdirectories = children.filter { $0.kind == .directory }.map(\.id)
        let wanted: [Int64] = state.withLock { state in
            if state.nextSibling.count + subdirectories.count > Self.siblingLimit { state.nextSibling.removeAll() }
            for (directory, next) in zip(subdirectories, subdirectories.dropFirst()) { state.nextSibling[directory] = next }
            let wanted = [subdirectories.first, state.nextSibling[directory]].compactMap { $0 }
                .filter { state.ready[$0] == nil && !state.reading.contains($0) }
            state.reading.formUnion(wanted)
            return wanted
        }
        for next in wanted { worker.async { self.read(next) } }
    }

    private func read(_ directory: Int64) {
        // A failed read is left to the listing itself, which reports it.
        let listing = try? catalog.readOnWriter { db in
            let writeCount = catalog.writeCount
            let children = try Node.listedChildren(db, parent: directory)
            let first = children.prefix(Self.attributedCount)
            var nodes: [Int64: Node] = [:]
            if let low = first.first?.name, let high = first.last?.name {
                nodes = try Node.childrenByID(db, parent: directory, from: low, through: high)
            }
            return Listing(children: children, rows: Rows(writeCount: writeCount, nodes: nodes))
        }
        state.withLock { state in
            state.reading.remove(directory)
            guard let listing, listing.children.count <= Self.childrenLimit else { return }
            if state.ready.count >= Self.readyLimit { state.ready.removeAll() }
            state.ready[directory] = listing
        }
    }
}
