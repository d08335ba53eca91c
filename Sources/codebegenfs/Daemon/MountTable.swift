// The kernel's mount table as this process sees it (/proc/self/mountinfo).
import Foundation

enum MountTable {
    static let fsType = "fuse.codebegenfs"

    /// Every mount, bottom first: its mountpoint and file system type.
    static func entries() -> [(mountpoint: String, type: String)] {
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4 else { return nil }
            return (unescape(fields[4]), String(fields[dash + 1]))
        }
    }

    /// The mountpoints of every codebegenfs mount.
    static func codebegenfsMounts() -> [String] {
        entries().filter { $0.type == fsType }.map(\.mountpoint)
    }

    /// Whether the topmost mount at `path` is codebegenfs.
    static func isCodebegenfsMount(_ path: String) -> Bool {
        entries().last { $0.mountpoint == path }?.type == fsType
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    private static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var rest = Array(field.utf8)[...]
        while let byte = rest.popFirst() {
            if byte == UInt8(ascii: "\\"), rest.count >= 3, let value = UInt8(String(decoding: rest.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                rest = rest.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
