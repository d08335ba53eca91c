// The naming rules of DESIGN §1 and §8: project and generation ids, version directory names,
// the reserved names of virtual files, and the 255-byte limit on every name.
public enum NameRules {
    public static let maxNameBytes = 255

    /// Extended attributes live in the `user.` namespace only (DESIGN §1); the name needs more than the prefix.
    static func isUserAttribute(_ name: [UInt8]) -> Bool {
        name.count > 5 && name.starts(with: Array("user.".utf8))
    }
    public static let maxIdLength = 128

    /// Names answered by virtual files at the root of a version.
    public static let versionReservedNames: Set<[UInt8]> = [Array("status.json".utf8), Array("download_url".utf8)]
    /// Names answered by virtual entries at the root of a generation.
    public static let generationReservedNames: Set<[UInt8]> =
        versionReservedNames.union([Array("latest".utf8)])

    /// Any name handed to the file system: not empty, no "/" or NUL, at most 255 bytes.
    public static func checkName(_ name: [UInt8]) throws(FSError) {
        if name.count > maxNameBytes {
            throw FSError(.fileNameTooLong, "name of \(name.count) bytes is longer than \(maxNameBytes)")
        }
        if name.isEmpty || name.contains(0) || name.contains(UInt8(ascii: "/")) {
            throw FSError.invalid("name is empty or contains '/' or NUL")
        }
    }

    /// A project or generation id: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
    public static func parseID(_ name: [UInt8], what: String) throws(FSError) -> String {
        try checkName(name)
        guard let first = name.first, isAlphanumeric(first), name.count <= maxIdLength,
            name.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else {
            throw FSError.invalid("invalid \(what) id \(printable(name)): use [A-Za-z0-9][A-Za-z0-9._-]{0,127}")
        }
        return String(decoding: name, as: UTF8.self)
    }

    /// The number of a version directory name `v<n>`, n ≥ 1 without leading zeros; nil otherwise.
    public static func versionNumber(_ name: [UInt8]) -> Int? {
        guard name.count >= 2, name.count <= 10, name[0] == UInt8(ascii: "v"), name[1] != UInt8(ascii: "0") else {
            return nil
        }
        var number = 0
        for byte in name.dropFirst() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            number = number * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return number
    }

    public static func versionName(_ number: Int) -> [UInt8] { Array("v\(number)".utf8) }

    /// A name for log lines and messages: bytes that are not printable ASCII are escaped.
    public static func printable(_ name: [UInt8]) -> String {
        var text = "\""
        for byte in name.prefix(300) {
            if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\"") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + String(byte, radix: 16)
            }
        }
        return text + "\""
    }

    /// A path for log lines and status: as it is when it is UTF-8 without control characters,
    /// otherwise with each such byte (and every byte of invalid UTF-8) written `\xNN`.
    public static func readablePath(_ path: [UInt8]) -> String {
        if let text = String(validating: path, as: UTF8.self), !path.contains(where: { $0 < 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "\\") }) {
            return text
        }
        var text = ""
        var rest = path[...]
        while let byte = rest.first {
            // The longest valid UTF-8 sequence starting here (1–4 bytes), or one byte escaped.
            let length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 0
            if length > 0, rest.count >= length, byte >= 0x20, byte != 0x7f, byte != UInt8(ascii: "\\"),
                let scalar = String(validating: rest.prefix(length), as: UTF8.self)
            {
                text += scalar
                rest = rest.dropFirst(length)
            } else {
                text += "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
                rest = rest.dropFirst()
            }
        }
        return text
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}
