// Encodes one 512-byte ustar header block: octal numeric fields, the name/prefix split, the checksum.

/// The ustar header block (POSIX.1-1988 "ustar" as extended by POSIX.1-2001), encoding only.
enum TarHeader {
    static let blockSize = 512

    enum TypeFlag: UInt8 {
        case regular = 0x30  // "0"
        case hardLink = 0x31  // "1"
        case symlink = 0x32  // "2"
        case characterDevice = 0x33  // "3"
        case blockDevice = 0x34  // "4"
        case directory = 0x35  // "5"
        case fifo = 0x36  // "6"
        case paxExtended = 0x78  // "x": pax extended header for the next entry
    }

    /// Field offsets and widths, from the ustar layout.
    enum Field {
        static let name = (offset: 0, width: 100)
        static let mode = (offset: 100, width: 8)
        static let uid = (offset: 108, width: 8)
        static let gid = (offset: 116, width: 8)
        static let size = (offset: 124, width: 12)
        static let mtime = (offset: 136, width: 12)
        static let checksum = (offset: 148, width: 8)
        static let typeflag = 156
        static let linkname = (offset: 157, width: 100)
        static let magic = (offset: 257, width: 8)  // "ustar\0" then version "00"
        static let devmajor = (offset: 329, width: 8)
        static let devminor = (offset: 337, width: 8)
        static let prefix = (offset: 345, width: 155)
    }

    /// The largest value an octal field of `width` bytes holds (`width - 1` digits and a NUL).
    static func maxOctal(width: Int) -> UInt64 {
        (UInt64(1) << (3 * UInt64(width - 1))) - 1
    }

    /// `value` as `width - 1` zero-padded octal digits followed by NUL, or nil if it does not fit.
    static func octal(_ value: UInt64, width: Int) -> [UInt8]? {
        guard value <= maxOctal(width: width) else { return nil }
        var digits = [UInt8](repeating: 0x30, count: width - 1)
        var rest = value
        var index = width - 2
        while rest > 0 && index >= 0 {
            digits[index] = 0x30 + UInt8(rest & 7)
            rest >>= 3
            index -= 1
        }
        return digits + [0]
    }

    /// Splits a path that is too long for `name` into ustar `prefix` and `name` at a `/`.
    ///
    /// Returns nil when no split fits (prefix ≤ 155 bytes, name 1…100 bytes).
    static func splitPath(_ path: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        if path.count <= Field.name.width { return ([], path) }
        guard path.count <= Field.prefix.width + 1 + Field.name.width else { return nil }
        // The name must keep at least one byte; the last usable slash leaves the shortest name.
        let lowest = max(1, path.count - 1 - Field.name.width)
        let highest = min(Field.prefix.width, path.count - 2)
        guard lowest <= highest else { return nil }
        for slash in stride(from: highest, through: lowest, by: -1) where path[slash] == 0x2F {
            return (Array(path[..<slash]), Array(path[(slash + 1)...]))
        }
        return nil
    }

    /// The sum of the header bytes, with the checksum field counted as eight spaces.
    static func checksum(of block: [UInt8]) -> UInt32 {
        var sum: UInt32 = 0
        for (index, byte) in block.enumerated() {
            let inChecksumField =
                index >= Field.checksum.offset && index < Field.checksum.offset + Field.checksum.width
            sum += UInt32(inChecksumField ? 0x20 : byte)
        }
        return sum
    }

    /// One header block. Numeric values that do not fit are written as 0: the caller puts the
    /// real value in a pax record. Byte strings longer than their field are truncated.
    /// `device`: devmajor/devminor, for device nodes only (other headers leave them NUL).
    static func block(
        name: [UInt8],
        prefix: [UInt8] = [],
        mode: UInt32,
        size: UInt64,
        mtime: Int64,
        type: TypeFlag,
        linkName: [UInt8] = [],
        device: ArchiveDevice? = nil
    ) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], _ field: (offset: Int, width: Int)) {
            for (index, byte) in bytes.prefix(field.width).enumerated() {
                block[field.offset + index] = byte
            }
        }
        func putOctal(_ value: UInt64, _ field: (offset: Int, width: Int)) {
            put(octal(value, width: field.width) ?? octal(0, width: field.width) ?? [], field)
        }
        put(name, Field.name)
        putOctal(UInt64(mode & 0o7777), Field.mode)
        putOctal(0, Field.uid)
        putOctal(0, Field.gid)
        putOctal(size, Field.size)
        putOctal(mtime < 0 ? 0 : UInt64(mtime), Field.mtime)
        block[Field.typeflag] = type.rawValue
        put(linkName, Field.linkname)
        put(Array("ustar\u{0}00".utf8), Field.magic)
        put(prefix, Field.prefix)
        if let device {
            put(deviceNumber(device.major, width: Field.devmajor.width), Field.devmajor)
            put(deviceNumber(device.minor, width: Field.devminor.width), Field.devminor)
        }
        // Six octal digits, NUL, space: the form every tar writes.
        let sum = checksum(of: block)
        put((octal(UInt64(sum), width: 7) ?? []) + [0x20], Field.checksum)
        return block
    }

    /// Octal when it fits 7 digits (every Linux device number does), else base-256: 0x80, then the
    /// value big-endian. POSIX has no pax key for device numbers; GNU tar, bsdtar and Python's
    /// tarfile all read base-256 fields.
    static func deviceNumber(_ value: UInt32, width: Int) -> [UInt8] {
        if let digits = octal(UInt64(value), width: width) { return digits }
        var bytes = [UInt8](repeating: 0, count: width)
        bytes[0] = 0x80
        for index in 0..<4 { bytes[width - 1 - index] = UInt8(truncatingIfNeeded: value >> UInt32(8 * index)) }
        return bytes
    }

    /// Zero bytes that pad `size` bytes of data to a whole number of blocks.
    static func padding(for size: UInt64) -> Int {
        let remainder = Int(size % UInt64(blockSize))
        return remainder == 0 ? 0 : blockSize - remainder
    }
}
