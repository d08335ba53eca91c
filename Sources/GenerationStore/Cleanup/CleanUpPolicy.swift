// Which clean copies clean-up removes (DESIGN §6): those unused for longer than the TTL, then,
// least recently used first, as many as it takes to get under the size limit. Pure logic.

/// A copy that clean-up could remove: a version's local files, or one fetched file in the cache.
struct CleanCopy: Sendable, Equatable {
    enum Kind: Sendable, Hashable {
        case versionFiles(versionID: Int64)
        case cachedFile(nodeID: Int64)
    }

    let kind: Kind
    let bytes: Int64
    let lastUsedNs: Int64
    /// False while a file of it is open: it counts towards the limit but stays.
    let removable: Bool
}

enum CleanUpPolicy {
    /// The copies to remove, oldest first.
    static func choose(_ copies: [CleanCopy], nowNs: Int64, ttlNs: Int64, maxBytes: Int64) -> [CleanCopy.Kind] {
        var total = copies.reduce(Int64(0)) { $0 + $1.bytes }
        var chosen: [CleanCopy.Kind] = []
        for copy in copies.filter(\.removable).sorted(by: { $0.lastUsedNs < $1.lastUsedNs }) {
            guard nowNs - copy.lastUsedNs > ttlNs || total > maxBytes else { break }
            chosen.append(copy.kind)
            total -= copy.bytes
        }
        return chosen
    }
}
