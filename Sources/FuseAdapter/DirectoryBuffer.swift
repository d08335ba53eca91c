// readdir and readdirplus replies: entries packed into the kernel's buffer until it is full.
// readdirplus entries carry lookup references, so only the ones that fit are counted
// (GenerationFileSystem.readdir does the counting for the entries accepted here).
internal import CFuse
import Foundation
import GenerationStore

enum DirectoryBuffer {
    static func reply(_ request: fuse_req_t?, handle: UInt64, size: Int, offset: off_t, plus: Bool) {
        Reply.perform(request, plus ? "readdirplus" : "readdir") { context in
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            var used = 0
            // Each name NUL-terminated in one buffer kept for the whole reply.
            var name = [CChar](repeating: 0, count: 256)
            try context.fileSystem.readdir(handle: handle, offset: UInt64(max(0, offset)), plus: plus) { entry, next in
                if entry.name.count >= name.count { name = [CChar](repeating: 0, count: entry.name.count + 1) }
                for (index, byte) in entry.name.enumerated() { name[index] = CChar(bitPattern: byte) }
                name[entry.name.count] = 0
                let needed: Int
                if plus {
                    var parameter = Reply.entryParameter(
                        Entry(attributes: entry.attributes, timeout: entry.timeout))
                    // "." and "..": no inode for the kernel to remember (and no lookup reference).
                    if entry.isDotEntry { parameter.ino = 0 }
                    needed = fuse_add_direntry_plus(request, buffer + used, size - used, name, &parameter, off_t(next))
                } else {
                    var status = Reply.stat(entry.attributes)
                    needed = fuse_add_direntry(request, buffer + used, size - used, name, &status, off_t(next))
                }
                guard needed <= size - used else { return false }
                used += needed
                return true
            }
            fuse_reply_buf(request, buffer, used)
        }
    }
}
