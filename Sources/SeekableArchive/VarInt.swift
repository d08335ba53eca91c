// Unsigned LEB128 varints and zigzag signed integers, written to and read from byte arrays.

/// The integer encodings of format-2 TOC records.
enum VarInt {
    /// Appends `value` as unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last.
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Maps signed to unsigned so small magnitudes stay small: 0, -1, 1, -2… become 0, 1, 2, 3…
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }
}

/// Reads a block's bytes front to back; running past the end or a malformed varint is
/// ``ArchiveError/invalidTOC(reason:)``.
struct ByteCursor {
    private let bytes: [UInt8]
    private(set) var position = 0
    /// Names the block in error messages.
    let context: String

    init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes
        self.context = context
    }

    var isAtEnd: Bool { position == bytes.count }
    var remaining: Int { bytes.count - position }

    func failure(_ reason: String) -> ArchiveError {
        .invalidTOC(reason: "\(context), byte \(position): \(reason)")
    }

    mutating func byte() throws(ArchiveError) -> UInt8 {
        guard position < bytes.count else { throw failure("record runs past the end of the block") }
        defer { position += 1 }
        return bytes[position]
    }

    /// An unsigned LEB128 value of at most 10 bytes that fits in 64 bits.
    mutating func varint() throws(ArchiveError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            let low = UInt64(next & 0x7F)
            guard shift < 64, shift < 63 || low <= 1 else { throw failure("varint does not fit in 64 bits") }
            value |= low << shift
            if next & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// A varint used as a count or length of what follows: at most `remaining / minimumSize`.
    mutating func count(minimumSize: Int = 1) throws(ArchiveError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining / max(minimumSize, 1)) else {
            throw failure("length \(value) is more than the block holds")
        }
        return Int(value)
    }

    mutating func bytes(_ count: Int) throws(ArchiveError) -> ArraySlice<UInt8> {
        guard count <= remaining else { throw failure("record runs past the end of the block") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
}
