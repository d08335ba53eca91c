// The libfuse low-level operations table. Each callback copies its arguments, makes one
// GenerationFileSystem call and sends one reply; the rules live in GenerationStore.
// Built in a nonisolated function: callbacks run on libfuse's worker threads.
internal import CFuse
import Foundation
import GenerationStore

// FUSE_SET_ATTR_* from fuse_lowlevel.h (macros Swift does not import).
private let setMode: Int32 = 1 << 0
private let setUID: Int32 = 1 << 1
private let setGID: Int32 = 1 << 2
private let setSize: Int32 = 1 << 3
private let setAtime: Int32 = 1 << 4
private let setMtime: Int32 = 1 << 5
private let setAtimeNow: Int32 = 1 << 7
private let setMtimeNow: Int32 = 1 << 8
// RENAME_* from linux/fs.h.
private let renameNoReplace: UInt32 = 1 << 0
private let renameExchange: UInt32 = 1 << 1

func makeLowLevelOperations() -> fuse_lowlevel_ops {
    var ops = fuse_lowlevel_ops()
    ops.`init` = { userdata, connection in
        guard let connection else { return }
        // Large writes: one request per MiB instead of per 128 KiB (libfuse raises max_pages to match).
        connection.pointee.max_write = 1 << 20
        // READDIRPLUS in the kernel's "auto" mode (libfuse's default): attributes for a listing's
        // first chunk and for directories whose files are being looked up, plain names otherwise.
        // With every chunk plus, the kernel instantiated an inode per entry: `find` of 200 000 cold
        // files spent 0.52 s of kernel time on it alone, 2.6 × plain ext4's whole `find`.
    }
    ops.lookup = { request, parent, name in
        let name = nameBytes(name)
        Reply.perform(request, "lookup") { context in
            Reply.entry(request, try context.fileSystem.lookup(parent: parent, name: name), context.fileSystem)
        }
    }
    ops.forget = { request, ino, count in
        FuseContext.of(request).fileSystem.forget(ino, count: count)
        fuse_reply_none(request)
    }
    ops.forget_multi = { request, count, forgets in
        let fileSystem = FuseContext.of(request).fileSystem
        for index in 0..<count {
            guard let one = forgets?[index] else { continue }
            fileSystem.forget(one.ino, count: one.nlookup)
        }
        fuse_reply_none(request)
    }
    ops.getattr = { request, ino, _ in
        Reply.perform(request, "getattr") { context in
            Reply.attributes(request, try context.fileSystem.getattr(ino))
        }
    }
    ops.setattr = { request, ino, attributes, toSet, _ in
        guard let attributes else { return Reply.error(request, FSError.invalid("no attributes"), "setattr", FuseContext.of(request).logger) }
        let changes = attributeChanges(attributes.pointee, toSet)
        Reply.perform(request, "setattr") { context in
            Reply.attributes(request, try context.fileSystem.setattr(ino, changes: changes))
        }
    }
    ops.readlink = { request, ino in
        Reply.perform(request, "readlink") { context in
            let target = try context.fileSystem.readlink(ino) + [0]
            target.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { _ = fuse_reply_readlink(request, $0.baseAddress) }
            }
        }
    }
    ops.mkdir = { request, parent, name, mode in
        let name = nameBytes(name)
        let who = caller(request)
        Reply.perform(request, "mkdir") { context in
            let entry = try context.fileSystem.mkdir(parent: parent, name: name, mode: UInt32(mode), caller: who)
            Reply.entry(request, entry, context.fileSystem)
        }
    }
    ops.mknod = { request, parent, name, mode, rdev in
        let name = nameBytes(name)
        let who = caller(request)
        Reply.perform(request, "mknod") { context in
            let entry = try context.fileSystem.mknod(parent: parent, name: name, mode: UInt32(mode), rdev: UInt64(rdev), caller: who)
            Reply.entry(request, entry, context.fileSystem)
        }
    }
    ops.symlink = { request, target, parent, name in
        let target = nameBytes(target)
        let name = nameBytes(name)
        let who = caller(request)
        Reply.perform(request, "symlink") { context in
            let entry = try context.fileSystem.symlink(target: target, parent: parent, name: name, caller: who)
            Reply.entry(request, entry, context.fileSystem)
        }
    }
    ops.link = { request, ino, newParent, newName in
        let newName = nameBytes(newName)
        Reply.perform(request, "link") { context in
            Reply.entry(request, try context.fileSystem.link(ino, newParent: newParent, newName: newName), context.fileSystem)
        }
    }
    ops.unlink = { request, parent, name in
        let name = nameBytes(name)
        Reply.perform(request, "unlink") { context in
            try context.fileSystem.unlink(parent: parent, name: name)
            Reply.ok(request)
        }
    }
    ops.rmdir = { request, parent, name in
        let name = nameBytes(name)
        Reply.perform(request, "rmdir") { context in
            try context.fileSystem.rmdir(parent: parent, name: name)
            Reply.ok(request)
        }
    }
    ops.rename = { request, parent, name, newParent, newName, flags in
        let name = nameBytes(name)
        let newName = nameBytes(newName)
        let mode: RenameMode =
            flags & renameExchange != 0 ? .exchange : flags & renameNoReplace != 0 ? .noReplace : .replace
        Reply.perform(request, "rename") { context in
            try context.fileSystem.rename(parent: parent, name: name, newParent: newParent, newName: newName, mode: mode)
            Reply.ok(request)
        }
    }
    ops.create = { request, parent, name, mode, info in
        let name = nameBytes(name)
        let who = caller(request)
        Reply.perform(request, "create") { context in
            guard let info else { throw FSError.invalid("no file info") }
            let (entry, opened) = try context.fileSystem.create(
                parent: parent, name: name, mode: UInt32(mode), flags: info.pointee.flags, caller: who)
            Reply.create(request, entry, opened, info, context.fileSystem)
        }
    }
    ops.open = { request, ino, info in
        Reply.perform(request, "open") { context in
            guard let info else { throw FSError.invalid("no file info") }
            Reply.open(request, try context.fileSystem.open(ino, flags: info.pointee.flags), info, context.fileSystem)
        }
    }
    ops.read = { request, _, size, offset, info in
        let handle = info?.pointee.fh ?? 0
        Reply.perform(request, "read") { context in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
            defer { buffer.deallocate() }
            let count = try context.fileSystem.read(handle: handle, offset: UInt64(offset), into: buffer)
            fuse_reply_buf(request, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), count)
        }
    }
    ops.write = { request, _, data, size, offset, info in
        let handle = info?.pointee.fh ?? 0
        Reply.perform(request, "write") { context in
            let written = try context.fileSystem.write(
                handle: handle, offset: UInt64(offset), data: UnsafeRawBufferPointer(start: data, count: size))
            fuse_reply_write(request, written)
        }
    }
    // No ops.flush: libfuse answers ENOSYS once and the kernel stops sending FLUSH, so close(2)
    // does not wait for a round trip per file. Sizes are saved on release (sent right after
    // close) and recovered from the blobs after a crash (FileSystem+Recovery.swift).
    ops.release = { request, _, info in
        FuseContext.of(request).fileSystem.release(handle: info?.pointee.fh ?? 0)
        Reply.ok(request)
    }
    ops.fallocate = { request, _, mode, offset, length, info in
        let handle = info?.pointee.fh ?? 0
        Reply.perform(request, "fallocate") { context in
            try context.fileSystem.fallocate(
                handle: handle, mode: FileAllocation(rawValue: mode), offset: Int64(offset), length: Int64(length))
            Reply.ok(request)
        }
    }
    // The kernel sends only SEEK_DATA (3) and SEEK_HOLE (4); it answers the other whences itself.
    ops.lseek = { request, _, offset, whence, info in
        let handle = info?.pointee.fh ?? 0
        Reply.perform(request, "lseek") { context in
            guard whence == 3 || whence == 4 else { throw FSError.invalid("lseek whence \(whence)") }
            let found = try context.fileSystem.seek(handle: handle, from: Int64(offset), to: whence == 3 ? .data : .hole)
            fuse_reply_lseek(request, off_t(found))
        }
    }
    ops.copy_file_range = { request, _, offsetIn, infoIn, _, offsetOut, infoOut, length, _ in
        let (source, target) = (infoIn?.pointee.fh ?? 0, infoOut?.pointee.fh ?? 0)
        Reply.perform(request, "copy_file_range") { context in
            let copied = try context.fileSystem.copyFileRange(
                from: source, at: Int64(offsetIn), to: target, at: Int64(offsetOut), length: length)
            fuse_reply_write(request, copied)
        }
    }
    ops.fsync = { request, _, dataOnly, info in
        let handle = info?.pointee.fh ?? 0
        Reply.perform(request, "fsync") { context in
            try context.fileSystem.fsync(handle: handle, dataOnly: dataOnly != 0)
            Reply.ok(request)
        }
    }
    ops.opendir = { request, ino, info in
        Reply.perform(request, "opendir") { context in
            guard let info else { throw FSError.invalid("no file info") }
            let opened = try context.fileSystem.opendir(ino)
            info.pointee.fh = opened.handle
            info.pointee.cache_readdir = opened.cacheListing ? 1 : 0
            info.pointee.keep_cache = opened.cacheListing ? 1 : 0
            if fuse_reply_open(request, info) != 0 { context.fileSystem.releasedir(handle: info.pointee.fh) }
        }
    }
    ops.readdir = { request, _, size, offset, info in
        DirectoryBuffer.reply(request, handle: info?.pointee.fh ?? 0, size: size, offset: offset, plus: false)
    }
    ops.readdirplus = { request, _, size, offset, info in
        DirectoryBuffer.reply(request, handle: info?.pointee.fh ?? 0, size: size, offset: offset, plus: true)
    }
    ops.releasedir = { request, _, info in
        FuseContext.of(request).fileSystem.releasedir(handle: info?.pointee.fh ?? 0)
        Reply.ok(request)
    }
    ops.fsyncdir = { request, _, _, _ in Reply.ok(request) }
    ops.statfs = { request, _ in
        Reply.perform(request, "statfs") { context in
            let statistics = try context.fileSystem.statfs()
            var info = statvfs()
            info.f_bsize = UInt(statistics.blockSize)
            info.f_frsize = UInt(statistics.blockSize)
            info.f_blocks = fsblkcnt_t(statistics.blocks)
            info.f_bfree = fsblkcnt_t(statistics.blocksFree)
            info.f_bavail = fsblkcnt_t(statistics.blocksAvailable)
            info.f_files = fsfilcnt_t(statistics.files)
            info.f_ffree = fsfilcnt_t(statistics.filesFree)
            info.f_favail = fsfilcnt_t(statistics.filesFree)
            info.f_namemax = UInt(statistics.nameMax)
            fuse_reply_statfs(request, &info)
        }
    }
    ops.setxattr = { request, ino, name, value, size, flags in
        let name = nameBytes(name)
        let bytes = value.map { pointer in
            pointer.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
        } ?? []
        Reply.perform(request, "setxattr") { context in
            try context.fileSystem.setxattr(ino, name: name, value: bytes, flags: flags)
            Reply.ok(request)
        }
    }
    ops.getxattr = { request, ino, name, size in
        let name = nameBytes(name)
        Reply.perform(request, "getxattr") { context in
            replySized(request, try context.fileSystem.getxattr(ino, name: name), size)
        }
    }
    ops.listxattr = { request, ino, size in
        Reply.perform(request, "listxattr") { context in
            replySized(request, try context.fileSystem.listxattr(ino), size)
        }
    }
    ops.removexattr = { request, ino, name in
        let name = nameBytes(name)
        Reply.perform(request, "removexattr") { context in
            try context.fileSystem.removexattr(ino, name: name)
            Reply.ok(request)
        }
    }
    return ops
}

/// getxattr/listxattr: size 0 asks for the length; a smaller buffer is ERANGE.
private func replySized(_ request: fuse_req_t?, _ value: [UInt8], _ size: Int) {
    if size == 0 {
        fuse_reply_xattr(request, value.count)
    } else if size < value.count {
        fuse_reply_err(request, ERANGE)
    } else {
        value.withUnsafeBytes { _ = fuse_reply_buf(request, $0.baseAddress?.assumingMemoryBound(to: CChar.self), value.count) }
    }
}

private func attributeChanges(_ attributes: stat, _ toSet: Int32) -> AttributeChanges {
    func time(_ value: timespec) -> Timespec { Timespec(seconds: Int64(value.tv_sec), nanoseconds: Int64(value.tv_nsec)) }
    var changes = AttributeChanges()
    if toSet & setMode != 0 { changes.mode = UInt32(attributes.st_mode) & 0o7777 }
    if toSet & setUID != 0 { changes.uid = attributes.st_uid }
    if toSet & setGID != 0 { changes.gid = attributes.st_gid }
    if toSet & setSize != 0 { changes.size = UInt64(max(0, attributes.st_size)) }
    if toSet & setAtimeNow != 0 { changes.atime = .now() } else if toSet & setAtime != 0 { changes.atime = time(attributes.st_atim) }
    if toSet & setMtimeNow != 0 { changes.mtime = .now() } else if toSet & setMtime != 0 { changes.mtime = time(attributes.st_mtim) }
    return changes
}
