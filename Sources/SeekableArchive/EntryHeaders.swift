// Builds the tar header bytes of one entry: a pax extended header when ustar cannot say it, then the ustar block.

/// pax records and the decision of when an entry needs them.
///
/// A pax header is added only when needed: a path that is non-ASCII or does not fit the
/// ustar name/prefix split, a link target that is non-ASCII or longer than 100 bytes, a size
/// of 8 GiB or more, an mtime that is negative, too large, or (with `subSecondMtimes`) has
/// nanoseconds, or extended attributes (one `SCHILY.xattr.<name>` record each). (A device number above 7 octal digits goes into its ustar field in base-256:
/// there is no pax key for it that GNU tar reads.)
///
/// Names are bytes. A path or link target that is not valid UTF-8 goes into its pax record
/// as the raw bytes, and a `hdrcharset=BINARY` record (first, as Python's tarfile writes it)
/// says so: POSIX lets pax values be any bytes under that charset, and GNU tar, bsdtar and
/// tarfile then restore the bytes as they are. UTF-8 names get exactly the headers they had.
enum EntryHeaders {
    /// The name of the pax header pseudo-entry (what Python's tarfile writes; readers ignore it).
    static let paxHeaderName = Array("././@PaxHeader".utf8)
    /// The record that marks the header's values as bytes rather than UTF-8.
    static let binaryCharsetRecord = paxRecord(key: "hdrcharset", value: Array("BINARY".utf8))

    /// All header bytes (a multiple of 512) that precede the entry's data.
    /// `subSecondMtimes` false: the headers carry whole seconds (as GNU tar's own format does)
    /// and the nanoseconds stay in the TOC only.
    static func encode(_ entry: ArchiveEntry, subSecondMtimes: Bool = true) -> [UInt8] {
        var records: [(key: [UInt8], value: [UInt8])] = []
        var binary = false
        var path = entry.pathBytes
        if entry.kind == .directory { path.append(0x2F) }  // tar marks directories with a trailing "/"
        let split = isASCII(path) ? TarHeader.splitPath(path) : nil
        if split == nil {
            records.append((Array("path".utf8), path))
            binary = binary || !NameBytes.isUTF8(path)
        }

        var linkName: [UInt8] = []
        if entry.kind == .symlink || entry.kind == .hardLink, let target = entry.linkTargetBytes {
            linkName = target
            if !isASCII(linkName) || linkName.count > TarHeader.Field.linkname.width {
                records.append((Array("linkpath".utf8), target))
                binary = binary || !NameBytes.isUTF8(target)
            }
        }

        let size = entry.kind == .file ? entry.size : 0
        if size > TarHeader.maxOctal(width: TarHeader.Field.size.width) {
            records.append((Array("size".utf8), Array(String(size).utf8)))
        }

        var mtime = entry.mtime
        if !subSecondMtimes { mtime.nanoseconds = 0 }
        let mtimeFits =
            mtime.seconds >= 0 && UInt64(mtime.seconds) <= TarHeader.maxOctal(width: TarHeader.Field.mtime.width)
        if mtime.nanoseconds != 0 || !mtimeFits {
            records.append((Array("mtime".utf8), Array(paxTime(mtime).utf8)))
        }
        for xattr in entry.xattrs {
            records.append((xattrKeyPrefix + xattr.name, xattr.value))
            binary = binary || !NameBytes.isUTF8(xattr.name) || !NameBytes.isUTF8(xattr.value)
        }

        let device = entry.kind.isDevice ? entry.device : nil
        let type: TarHeader.TypeFlag
        switch entry.kind {
        case .file: type = .regular
        case .directory: type = .directory
        case .symlink: type = .symlink
        case .hardLink: type = .hardLink
        case .fifo: type = .fifo
        case .characterDevice: type = .characterDevice
        case .blockDevice: type = .blockDevice
        }
        let ustar = TarHeader.block(
            name: split?.name ?? path,
            prefix: split?.prefix ?? [],
            mode: entry.mode,
            size: size,
            mtime: mtimeFits ? mtime.seconds : 0,
            type: type,
            linkName: linkName,
            device: device
        )
        guard !records.isEmpty else { return ustar }
        let body = (binary ? binaryCharsetRecord : []) + records.flatMap { paxRecord(key: $0.key, value: $0.value) }
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
    /// The value is bytes: any, newlines and NULs included (the length, not a delimiter, ends it).
    static func paxRecord(key: [UInt8], value: [UInt8]) -> [UInt8] {
        let payload = [0x20] + key + [UInt8(ascii: "=")] + value + [0x0A]
        var length = payload.count + 1
        while String(length).utf8.count + payload.count != length {
            length = String(length).utf8.count + payload.count
        }
        return Array(String(length).utf8) + payload
    }

    static func paxRecord(key: String, value: [UInt8]) -> [UInt8] { paxRecord(key: Array(key.utf8), value: value) }

    static func paxRecord(key: String, value: String) -> [UInt8] {
        paxRecord(key: key, value: Array(value.utf8))
    }

    /// The key of an extended attribute's record is this prefix and the attribute's name:
    /// the form GNU tar (`--xattrs`), bsdtar and Python's tarfile read.
    static let xattrKeyPrefix = Array("SCHILY.xattr.".utf8)

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
