// Incremental multipart/form-data parser: text fields are collected, file parts are passed on chunk by chunk.
import Foundation

enum MultipartError: Error {
    case malformed(String)
}

/// What the parser found, in order.
enum MultipartEvent {
    case field(name: String, value: String)
    case fileStart(fieldName: String, filename: String, contentType: String?)
    case fileData([UInt8])
    case fileEnd
}

/// Feed it the body in any chunking; it keeps at most one delimiter's length of file data buffered.
struct MultipartParser {
    private enum State {
        case preamble
        case afterDelimiter
        case headers
        case field(name: String)
        case file
        case done
    }

    private let dashBoundary: [UInt8]  // "--" + boundary
    private let delimiter: [UInt8]  // "\r\n--" + boundary
    private var state = State.preamble
    private var pending: [UInt8] = []
    private var fieldValue: [UInt8] = []
    static let maxHeaderBytes = 16 * 1024
    static let maxFieldBytes = 1 << 20

    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    init(boundary: String) {
        dashBoundary = Array("--\(boundary)".utf8)
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// Extracts the boundary parameter of a multipart Content-Type.
    static func boundary(fromContentType contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = kv[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (MultipartEvent) throws -> Void) throws {
        pending.append(contentsOf: bytes)
        var progress = true
        while progress {
            progress = try step(emit)
        }
    }

    /// Runs one state transition if enough bytes are buffered; returns whether it did.
    private mutating func step(_ emit: (MultipartEvent) throws -> Void) throws -> Bool {
        switch state {
        case .done:
            pending.removeAll()
            return false
        case .preamble:
            guard let i = find(dashBoundary) else {
                if pending.count > dashBoundary.count { pending.removeFirst(pending.count - dashBoundary.count) }
                return false
            }
            pending.removeFirst(i + dashBoundary.count)
            state = .afterDelimiter
            return true
        case .afterDelimiter:
            guard pending.count >= 2 else { return false }
            if pending[0] == UInt8(ascii: "-") && pending[1] == UInt8(ascii: "-") {
                state = .done
                pending.removeAll()
                return false
            }
            guard pending[0] == 13 && pending[1] == 10 else { throw MultipartError.malformed("bad delimiter line") }
            pending.removeFirst(2)
            state = .headers
            return true
        case .headers:
            let end: Int
            let skip: Int
            if pending.count >= 2 && pending[0] == 13 && pending[1] == 10 {
                end = 0
                skip = 2
            } else if let i = find(Array("\r\n\r\n".utf8)) {
                end = i
                skip = 4
            } else {
                if pending.count > Self.maxHeaderBytes { throw MultipartError.malformed("part headers too long") }
                return false
            }
            let text = String(decoding: pending[0..<end], as: UTF8.self)
            pending.removeFirst(end + skip)
            try startPart(headers: text, emit)
            return true
        case .field(let name):
            if let i = find(delimiter) {
                fieldValue += pending[0..<i]
                pending.removeFirst(i + delimiter.count)
                try emit(.field(name: name, value: String(decoding: fieldValue, as: UTF8.self)))
                fieldValue = []
                state = .afterDelimiter
                return true
            }
            let keep = delimiter.count - 1
            if pending.count > keep {
                fieldValue += pending[0..<(pending.count - keep)]
                pending.removeFirst(pending.count - keep)
            }
            if fieldValue.count > Self.maxFieldBytes { throw MultipartError.malformed("field too long") }
            return false
        case .file:
            if let i = find(delimiter) {
                if i > 0 { try emit(.fileData(Array(pending[0..<i]))) }
                pending.removeFirst(i + delimiter.count)
                try emit(.fileEnd)
                state = .afterDelimiter
                return true
            }
            let keep = delimiter.count - 1
            if pending.count > keep {
                try emit(.fileData(Array(pending[0..<(pending.count - keep)])))
                pending.removeFirst(pending.count - keep)
            }
            return false
        }
    }

    private mutating func startPart(headers: String, _ emit: (MultipartEvent) throws -> Void) throws {
        var name = ""
        var filename: String?
        var contentType: String?
        for line in headers.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "content-type" {
                contentType = value
            } else if key == "content-disposition" {
                for param in value.split(separator: ";").dropFirst() {
                    let kv = param.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { continue }
                    var v = kv[1].trimmingCharacters(in: .whitespaces)
                    if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
                    switch kv[0].trimmingCharacters(in: .whitespaces).lowercased() {
                    case "name": name = v
                    case "filename": filename = v
                    default: break
                    }
                }
            }
        }
        // As in busboy: a part with a filename is a file, anything else a text field.
        if let filename {
            try emit(.fileStart(fieldName: name, filename: filename, contentType: contentType))
            state = .file
        } else {
            state = .field(name: name)
        }
    }

    /// First offset of `needle` in `pending`: memchr for the first byte, memcmp for the rest.
    private func find(_ needle: [UInt8]) -> Int? {
        guard let first = needle.first, pending.count >= needle.count else { return nil }
        return pending.withUnsafeBytes { hay -> Int? in
            needle.withUnsafeBytes { n -> Int? in
                guard let base = hay.baseAddress, let nBase = n.baseAddress else { return nil }
                var offset = 0
                let last = hay.count - n.count
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, nBase, n.count) == 0 { return at }
                    offset = at + 1
                }
                return nil
            }
        }
    }
}
