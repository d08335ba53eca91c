// Builds the tar header bytes of one entry: a pax extended header when ustar cannot say it, then the ustar block.

/// pax records and the decision of when an entry needs them.
///
/// A pax header is added only when needed: a path that is non-ASCII or does not fit the
/// ustar name/prefix split, a link target that is non-ASCII or longer than 100 bytes, a size
/// of 8 GiB or more, or an mtime that is negative, too large, or (with `subSecondMtimes`) has
/// nanoseconds.
enum EntryHeaders {
    /// The name of the pax header pseudo-entry (what Python's tarfile writes; readers ignore it).
    static let paxHeaderName = Array("././@PaxHeader".utf8)

    /// All header bytes (a multiple of 512) that precede the entry's data.
    /// `subSecondMtimes` false: the headers carry whole seconds (as GNU tar's own format does)
    /// and the nanoseconds stay in the TOC only.
    static func encode(_ entry: ArchiveEntry, subSecondMtimes: Bool = true) -> [UInt8] {
        var records: [(String, String)] = []
        var path = Array(entry.path.utf8)
        if entry.kind == .directory { path.append(0x2F) }  // tar marks directories with a trailing "/"
        let split = isASCII(path) ? TarHeader.splitPath(path) : nil
        if split == nil { records.append(("path", entry.path + (entry.kind == .directory ? "/" : ""))) }

        var linkName: [UInt8] = []
        if entry.kind == .symlink, let target = entry.linkTarget {
            linkName = Array(target.utf8)
            if !isASCII(linkName) || linkName.count > TarHeader.Field.linkname.width {
                records.append(("linkpath", target))
            }
        }

        let size = entry.kind == .file ? entry.size : 0
        if size > TarHeader.maxOctal(width: TarHeader.Field.size.width) {
            records.append(("size", String(size)))
        }

        var mtime = entry.mtime
        if !subSecondMtimes { mtime.nanoseconds = 0 }
        let mtimeFits =
            mtime.seconds >= 0 && UInt64(mtime.seconds) <= TarHeader.maxOctal(width: TarHeader.Field.mtime.width)
        if mtime.nanoseconds != 0 || !mtimeFits {
            records.append(("mtime", paxTime(mtime)))
        }

        let type: TarHeader.TypeFlag
        switch entry.kind {
        case .file: type = .regular
        case .directory: type = .directory
        case .symlink: type = .symlink
        }
        let ustar = TarHeader.block(
            name: split?.name ?? path,
            prefix: split?.prefix ?? [],
            mode: entry.mode,
            size: size,
            mtime: mtimeFits ? mtime.seconds : 0,
            type: type,
            linkName: linkName
        )
        guard !records.isEmpty else { return ustar }
        let body = records.flatMap { paxRecord(key: $0.0, value: $0.1) }
        let paxHeader = TarHeader.block(
            name: paxHeaderName,
            mode: 0o644,
            size: UInt64(body.count),
            mtime: mtimeFits ? mtime.seconds : 0,
            type: .paxExtended
        )
        let padding = [UInt8](repeating: 0, count: TarHeader.padding(for: UInt64(body.count)))
        return paxHeader + body + padding + ustar
    }

    /// One pax record, `"<length> <key>=<value>\n"`, where length counts the whole record.
    static func paxRecord(key: String, value: String) -> [UInt8] {
        let payload = Array(" \(key)=\(value)\n".utf8)
        var length = payload.count + 1
        while String(length).utf8.count + payload.count != length {
            length = String(length).utf8.count + payload.count
        }
        return Array(String(length).utf8) + payload
    }

    /// A timestamp as a pax decimal: seconds, then up to nine fraction digits without trailing zeros.
    static func paxTime(_ time: ArchiveTimestamp) -> String {
        let nanos = Int64(time.nanoseconds)
        guard nanos != 0 else { return String(time.seconds) }
        // -1.25 s is stored as seconds = -2, nanoseconds = 750_000_000.
        let negative = time.seconds < 0
        let whole = negative ? -(time.seconds + 1) : time.seconds
        let fraction = negative ? 1_000_000_000 - nanos : nanos
        var digits = String(fraction)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return (negative ? "-" : "") + String(whole) + "." + digits
    }

    static func isASCII(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 < 0x80 }
    }
}
