// Remote content kept on this machine (DESIGN §6): files fetched from the bucket into
// `<data>/cache` (one per inode, laid out like blobs), when each was last used, which are pinned
// while being opened or made local, the parsed TOCs of versions read from the bucket, and the last
// failed read of each version. Its own lock, a leaf: nothing is called while holding it.
// Which node is remote-only, and where in which archive, is the namespace's (node.archive_path).
import Foundation
import SeekableArchive
import SystemPackage

/// A fetched file kept in the cache, for clean-up.
struct CachedFile: Sendable {
    var bytes: Int64
    var lastUsedNs: Int64
}

/// The last failed remote read of a version, for status.json.
struct ReadError: Sendable {
    let message: String
    let atNs: Int64
}

final class FetchedFiles: @unchecked Sendable {
    let store: BlobStore
    /// One fetch per file however many readers ask at once.
    let fetches = SingleFlight<Int64>()

    private let lock = NSLock()
    // Guarded by `lock`:
    private var files: [Int64: CachedFile] = [:]
    private var pins: [Int64: Int] = [:]
    private var tocs: [Int64: LocalTOC] = [:]
    private var readErrors: [Int64: ReadError] = [:]

    /// Opens the cache at `root` as the last run left it: complete fetches are kept, interrupted ones removed.
    init(root: FilePath) throws {
        store = try BlobStore(root: root)
        guard let walker = FileManager.default.enumerator(atPath: root.string) else { return }
        for case let relative as String in walker {
            let path = root.string + "/" + relative
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            guard let id = Int64((relative as NSString).lastPathComponent) else {
                Glibc.unlink(path)
                continue
            }
            files[id] = CachedFile(
                bytes: Int64(info.st_size), lastUsedNs: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        }
    }

    // MARK: - Pins: files clean-up leaves alone while they are opened or made local

    func pin(_ id: Int64) { lock.withLock { pins[id, default: 0] += 1 } }

    func unpin(_ id: Int64?) {
        guard let id else { return }
        lock.withLock {
            let count = (pins[id] ?? 1) - 1
            pins[id] = count > 0 ? count : nil
        }
    }

    // MARK: - Content

    /// Whether the cache holds file `id` (the index, built from the directory at start and kept
    /// by every fetch, is the whole truth); records the use if so.
    func holds(_ id: Int64) -> Bool {
        let now = Timespec.now().totalNanoseconds
        return lock.withLock {
            guard files[id] != nil else { return false }
            files[id]?.lastUsedNs = now
            return true
        }
    }

    /// The cached copy of file `id` opened for reading, nil if clean-up removed it meanwhile.
    func open(_ id: Int64, ino: InodeNumber) throws(FSError) -> FileDescriptor? {
        guard let descriptor = try store.openExisting(ino) else { return nil }
        lock.withLock { files[id]?.lastUsedNs = Timespec.now().totalNanoseconds }
        return descriptor
    }

    /// Records a fetch that completed into the cache, and that the version reads again.
    func fetched(_ id: Int64, ino: InodeNumber, versionID: Int64) {
        let size = store.size(ino) ?? 0
        lock.withLock {
            files[id] = CachedFile(bytes: size, lastUsedNs: Timespec.now().totalNanoseconds)
            readErrors[versionID] = nil
        }
    }

    /// Forgets file `id` after its content became a local blob (the cache file was moved away).
    func forget(_ id: Int64) { lock.withLock { files[id] = nil } }

    /// Deletes file `id` from the cache. A file the index does not hold costs no system call:
    /// every unlink in the mount comes here.
    func remove(_ id: Int64, ino: InodeNumber) {
        guard lock.withLock({ files.removeValue(forKey: id) }) != nil else { return }
        store.remove(ino)
    }

    // MARK: - What clean-up and status.json see

    /// Every cached file as a clean copy; pinned ones and those in `open` are not removable.
    func cleanCopies(open: Set<Int64>) -> [CleanCopy] {
        lock.withLock {
            files.map { id, file in
                CleanCopy(
                    kind: .cachedFile(nodeID: id), bytes: file.bytes, lastUsedNs: file.lastUsedNs,
                    removable: !open.contains(id) && pins[id] == nil)
            }
        }
    }

    func recordReadError(_ versionID: Int64, _ message: String) {
        lock.withLock { readErrors[versionID] = ReadError(message: message, atNs: Timespec.now().totalNanoseconds) }
    }

    func lastReadError(_ versionID: Int64) -> ReadError? { lock.withLock { readErrors[versionID] } }

    // MARK: - TOCs

    /// The version's TOC at `path`, opened once and kept (format 2: its block index only; a
    /// partial copy fetches its missing blocks through `fetchMissing`).
    func toc(_ versionID: Int64, at path: FilePath, fetchMissing: LocalTOC.RangeFetch?) throws -> LocalTOC {
        if let toc = lock.withLock({ tocs[versionID] }), toc.path == path { return toc }
        let toc = try LocalTOC(path: path, fetchMissing: fetchMissing)
        lock.withLock { tocs[versionID] = toc }
        return toc
    }

    /// Keeps a TOC just read from the bucket, or forgets one a new snapshot replaced (nil).
    func setTOC(_ versionID: Int64, _ toc: LocalTOC?) { lock.withLock { tocs[versionID] = toc } }
}
