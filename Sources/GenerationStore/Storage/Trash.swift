// Removed blobs wait in `<data>/trash` until a background thread deletes them. Renaming a blob
// there costs a third of unlinking it (ext4 frees the blocks and evicts the inode on unlink:
// 30 against 72 µs a file here), and an `rm` or `rm -rf` waits only for the rename. The deletes
// wait until removals pause: done while an `rm -rf` runs, they contend with its renames for the
// trash directory's lock. A blob's name is its inode number, never reused, so names in the trash
// cannot collide. Whatever a crash leaves here is deleted by the first `empty()` of the next mount.
import Foundation
import Synchronization
import SystemPackage

final class Trash: Sendable {
    let root: FilePath
    /// How long removals must pause before `empty()` deletes, unless `backlogLimit` files wait.
    static let quiet: Duration = .milliseconds(500)
    static let backlogLimit = 20_000

    private struct Waiting {
        /// Names renamed in and not deleted yet; nil until the first `empty()` has listed the
        /// directory for what an earlier process left.
        var names: [String]? = nil
        var lastPut = ContinuousClock.now
    }
    private let waiting = Mutex(Waiting())

    init(root: FilePath) throws {
        self.root = root
        try DataDirectory.makeDirectory(root)
    }

    /// Moves `file` into the trash as `name`; if it cannot be moved there, deletes it at once.
    /// A missing file is not an error (nothing to remove).
    func put(_ file: FilePath, as name: String) {
        if rename(file.string, root.appending(name).string) == 0 {
            waiting.withLock {
                $0.names?.append(name)
                $0.lastPut = .now
            }
        } else if errno != ENOENT {
            unlink(file.string)
        }
    }

    /// Deletes what the trash holds, once removals have paused for `quiet` (or at once with
    /// `force`, or when the backlog is long); returns how many files it deleted.
    @discardableResult
    func empty(force: Bool = false) -> Int {
        let names = waiting.withLock { waiting -> [String] in
            if let names = waiting.names, !force, names.count < Self.backlogLimit,
                ContinuousClock.now - waiting.lastPut < Self.quiet
            {
                return []
            }
            defer { waiting.names = [] }
            return waiting.names ?? ((try? FileManager.default.contentsOfDirectory(atPath: root.string)) ?? [])
        }
        for name in names { unlink(root.appending(name).string) }
        return names.count
    }
}
