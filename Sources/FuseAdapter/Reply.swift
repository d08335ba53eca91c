// Replies to the kernel: attributes become `stat`, errors become errnos. This is the only file
// that calls fuse_reply_err, and it logs each refused request once with its reason.
internal import CFuse
import Foundation
import GenerationStore
import Logging

/// What a callback reaches through `fuse_req_userdata`.
final class FuseContext: Sendable {
    let fileSystem: GenerationFileSystem
    let logger: Logger

    init(fileSystem: GenerationFileSystem, logger: Logger) {
        self.fileSystem = fileSystem
        self.logger = logger
    }

    static func of(_ request: fuse_req_t?) -> FuseContext {
        // libfuse hands back the pointer retained in FuseMount.init, for every request.
        Unmanaged<FuseContext>.fromOpaque(fuse_req_userdata(request)!).takeUnretainedValue()
    }
}

enum Reply {
    /// Runs one file system call and answers its error, if any; `body` sends the success reply.
    static func perform(_ request: fuse_req_t?, _ operation: StaticString, _ body: (FuseContext) throws -> Void) {
        let context = FuseContext.of(request)
        do {
            try body(context)
        } catch {
            self.error(request, error, operation, context.logger)
        }
    }

    static func error(_ request: fuse_req_t?, _ error: any Error, _ operation: StaticString, _ logger: Logger) {
        let fsError = error as? FSError ?? FSError(.ioError, "unexpected error: \(error)")
        switch fsError.errno {
        case .noSuchFileOrDirectory, .noData, .fileExists, .notSupported:
            logger.trace("\(operation): \(fsError)")
        default:
            logger.notice("\(operation) refused: \(fsError)")
        }
        fuse_reply_err(request, fsError.errno.rawValue)
    }

    static func ok(_ request: fuse_req_t?) { fuse_reply_err(request, 0) }

    /// Answers an entry; if the request was interrupted the kernel never got the lookup reference.
    static func entry(_ request: fuse_req_t?, _ entry: Entry, _ fileSystem: GenerationFileSystem) {
        var parameter = entryParameter(entry)
        if fuse_reply_entry(request, &parameter) != 0 { fileSystem.forget(entry.attributes.ino, count: 1) }
    }

    static func create(
        _ request: fuse_req_t?, _ entry: Entry, _ opened: OpenedFile, _ info: UnsafeMutablePointer<fuse_file_info>,
        _ fileSystem: GenerationFileSystem
    ) {
        var parameter = entryParameter(entry)
        apply(opened, to: info)
        if fuse_reply_create(request, &parameter, info) != 0 {
            fileSystem.release(handle: opened.handle)
            fileSystem.forget(entry.attributes.ino, count: 1)
        }
    }

    static func open(
        _ request: fuse_req_t?, _ opened: OpenedFile, _ info: UnsafeMutablePointer<fuse_file_info>,
        _ fileSystem: GenerationFileSystem
    ) {
        apply(opened, to: info)
        if fuse_reply_open(request, info) != 0 { fileSystem.release(handle: opened.handle) }
    }

    static func attributes(_ request: fuse_req_t?, _ entry: Entry) {
        var status = stat(entry.attributes)
        fuse_reply_attr(request, &status, entry.timeout)
    }

    static func entryParameter(_ entry: Entry) -> fuse_entry_param {
        var parameter = fuse_entry_param()
        parameter.ino = fuse_ino_t(entry.attributes.ino)
        // Inode numbers are never reused (AUTOINCREMENT), so one generation suffices.
        parameter.generation = 1
        parameter.attr = stat(entry.attributes)
        parameter.attr_timeout = entry.timeout
        parameter.entry_timeout = entry.timeout
        return parameter
    }

    static func stat(_ attributes: Attributes) -> Glibc.stat {
        var status = Glibc.stat()
        status.st_ino = ino_t(attributes.ino)
        // S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK.
        let type: UInt32 =
            switch attributes.kind {
            case .directory: 0o040000
            case .file: 0o100000
            case .symlink: 0o120000
            case .fifo: 0o010000
            case .socket: 0o140000
            case .characterDevice: 0o020000
            case .blockDevice: 0o060000
            }
        status.st_mode = mode_t(type | attributes.mode)
        status.st_nlink = nlink_t(attributes.nlink)
        status.st_rdev = dev_t(attributes.rdev)
        status.st_uid = attributes.uid
        status.st_gid = attributes.gid
        status.st_size = off_t(attributes.size)
        status.st_blksize = blksize_t(4096)
        status.st_blocks = blkcnt_t(attributes.blocks ?? (attributes.size + 511) / 512)
        status.st_atim = timespec(tv_sec: Int(attributes.atime.seconds), tv_nsec: Int(attributes.atime.nanoseconds))
        status.st_mtim = timespec(tv_sec: Int(attributes.mtime.seconds), tv_nsec: Int(attributes.mtime.nanoseconds))
        status.st_ctim = timespec(tv_sec: Int(attributes.ctime.seconds), tv_nsec: Int(attributes.ctime.nanoseconds))
        return status
    }

    private static func apply(_ opened: OpenedFile, to info: UnsafeMutablePointer<fuse_file_info>) {
        info.pointee.fh = opened.handle
        info.pointee.direct_io = opened.directIO ? 1 : 0
        info.pointee.keep_cache = opened.keepCache ? 1 : 0
    }
}

/// A name the kernel passed in: valid only during the callback, so copied out as bytes.
func nameBytes(_ name: UnsafePointer<CChar>?) -> [UInt8] {
    guard let name else { return [] }
    let length = strlen(name)
    return name.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
}

func caller(_ request: fuse_req_t?) -> Caller {
    guard let context = fuse_req_ctx(request) else { return Caller(uid: 0, gid: 0) }
    return Caller(uid: context.pointee.uid, gid: context.pointee.gid)
}
