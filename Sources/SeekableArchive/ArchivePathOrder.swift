// The order of paths in archives and TOCs from format 2 on: bytewise, with '/' below every other byte.

/// The order of entries in archives and TOCs from format 2 on: paths compared component by component,
/// each component as bytes (same as comparing bytes with '/' counted as smaller than any other byte).
/// Puts every directory right before its whole subtree.
///
/// Plain bytewise order would put `a.b` (0x2E) between `a` and `a/x` (0x2F), splitting `a`'s
/// subtree; counting `/` as 0x00 keeps `a`, `a/…` together. Paths never hold a NUL byte, so
/// the mapping loses nothing.
public enum ArchivePathOrder {
    public static func areInIncreasingOrder(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        compare(a, b) < 0
    }

    /// Negative when `a` comes first, 0 when equal, positive when `b` comes first.
    static func compare(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Int {
        var left = a.makeIterator()
        var right = b.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil):
                return 0
            case (nil, _):
                return -1
            case (_, nil):
                return 1
            case (let x?, let y?):
                let kx = x == 0x2F ? 0 : x
                let ky = y == 0x2F ? 0 : y
                if kx != ky { return kx < ky ? -1 : 1 }
            }
        }
    }
}
