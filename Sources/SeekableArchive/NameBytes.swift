// Paths and link targets are bytes: a Linux file name is any bytes but '/' and NUL, not always UTF-8.

/// Helpers for names carried as bytes (``ArchiveEntry/pathBytes``, ``ArchiveTOC/Entry/pathBytes``).
enum NameBytes {
    static let slash = UInt8(ascii: "/")

    /// True when `bytes` are valid UTF-8, so a `String` holds them exactly.
    static func isUTF8(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
    }

    /// `bytes` as text for the String API and messages: invalid UTF-8 becomes U+FFFD, so the
    /// result names the same file only when ``isUTF8(_:)`` is true.
    static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Why `path` is not a relative archive path (no NUL, no empty, `.` or `..` component, so
    /// no leading or trailing `/`), or nil when it is one.
    static func pathProblem(_ path: [UInt8]) -> String? {
        guard !path.isEmpty else { return "the path is empty" }
        guard !path.contains(0) else { return "the path contains a NUL byte" }
        guard path.first != slash else { return "the path must be relative (no leading '/')" }
        for component in path.split(separator: slash, omittingEmptySubsequences: false) {
            guard !component.isEmpty else { return "the path has an empty component or a trailing '/'" }
            guard !component.elementsEqual([0x2E]) && !component.elementsEqual([0x2E, 0x2E]) else {
                return "the path has a '.' or '..' component"
            }
        }
        return nil
    }
}

/// An archive entry or TOC entry: its path and link target are stored as bytes, with text views
/// for the callers that speak `String` (exact for UTF-8 names only).
public protocol BytePathed {
    var pathBytes: [UInt8] { get set }
    var linkTargetBytes: [UInt8]? { get set }
}

extension BytePathed {
    /// ``pathBytes`` as UTF-8 text (lossy for a name that is not UTF-8).
    public var path: String {
        get { NameBytes.text(pathBytes) }
        set { pathBytes = Array(newValue.utf8) }
    }

    /// ``linkTargetBytes`` as UTF-8 text (lossy for a target that is not UTF-8).
    public var linkTarget: String? {
        get { linkTargetBytes.map { NameBytes.text($0) } }
        set { linkTargetBytes = newValue.map { Array($0.utf8) } }
    }
}
