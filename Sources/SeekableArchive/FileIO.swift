// Local file I/O for the archive library: full reads and writes, fsync, with errors as ArchiveError.
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum FileIO {
    /// Reads until `buffer` is full or the file ends; returns the bytes read. Retries EINTR.
    static func readFully(
        _ descriptor: FileDescriptor,
        into buffer: UnsafeMutableRawBufferPointer,
        path: String
    ) throws(ArchiveError) -> Int {
        var total = 0
        while total < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[total...])
            let count: Int
            do {
                count = try descriptor.read(into: rest)
            } catch {
                throw .io(operation: "read", path: path, errno: error as? Errno ?? .ioError)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    static func writeAll(
        _ descriptor: FileDescriptor,
        _ bytes: UnsafeRawBufferPointer,
        path: String
    ) throws(ArchiveError) {
        do {
            _ = try descriptor.writeAll(bytes)
        } catch {
            throw .io(operation: "write", path: path, errno: error as? Errno ?? .ioError)
        }
    }

    static func open(
        _ path: FilePath,
        _ mode: FileDescriptor.AccessMode,
        options: FileDescriptor.OpenOptions = []
    ) throws(ArchiveError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(
                path,
                mode,
                options: options.union(.closeOnExec),
                permissions: .init(rawValue: 0o644)
            )
        } catch {
            throw .io(operation: "open", path: path.string, errno: error as? Errno ?? .ioError)
        }
    }

    /// swift-system has no fsync; this is the one place that calls it, retrying EINTR.
    static func fsync(_ descriptor: FileDescriptor, path: String) throws(ArchiveError) {
        while true {
            if systemFsync(descriptor.rawValue) == 0 { return }
            let code = Errno.current
            if code != .interrupted { throw .io(operation: "fsync", path: path, errno: code) }
        }
    }

    /// Closes a descriptor this library opened; a failure is reported, since it can mean lost writes.
    static func close(_ descriptor: FileDescriptor, path: String) throws(ArchiveError) {
        do {
            try descriptor.close()
        } catch {
            throw .io(operation: "close", path: path, errno: error as? Errno ?? .ioError)
        }
    }

    private static func systemFsync(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.fsync(fd)
        #else
        Darwin.fsync(fd)
        #endif
    }
}

extension Errno {
    /// The calling thread's errno, for the few calls swift-system does not wrap.
    static var current: Errno {
        #if canImport(Glibc)
        Errno(rawValue: Glibc.errno)
        #else
        Errno(rawValue: Darwin.errno)
        #endif
    }
}

enum Hex {
    static func string<S: Sequence<UInt8>>(_ bytes: S) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a lowercase hex string; nil for odd lengths and anything but `0-9a-f`.
    static func bytes(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for digit in text.utf8 {
            let nibble: UInt8
            switch digit {
            case 0x30...0x39: nibble = digit - 0x30
            case 0x61...0x66: nibble = digit - 0x61 + 10
            default: return nil
            }
            if let first = high {
                out.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? out : nil
    }
}
