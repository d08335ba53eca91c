// Differential test: the same seeded random operations on an open version and on a plain
// directory must give the same errno each time and leave the same tree after every step.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Random operations against a plain directory")
struct RandomOperationsTests {
    static let operationCount = 600

    @Test func randomOperationsMatchPlainDirectory() throws {
        let seed: UInt64 =
            ProcessInfo.processInfo.environment["MOUNTTEST_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1...UInt64.max)
        print("[random ops] seed \(seed) (rerun with MOUNTTEST_SEED=\(seed))")
        let plain = try makeTemporaryDirectory(prefix: "mt-reference")
        defer { removeTree(plain) }
        try withOpenVersion(timeout: 240) { _, version in
            var rng = SplitMix64(seed: seed)
            var history: [String] = []
            let started = Date()
            var options = TreeOptions()
            options.skip = { isVersionRootVirtual($0) }
            for step in 0..<Self.operationCount {
                let op = RandomOperation.make(&rng, existing: Self.paths(in: plain)) {
                    Sys.lstat(plain + "/" + $0)?.isDir == true
                }
                let mine = op.apply(in: version)
                let reference = op.apply(in: plain)
                history.append("#\(step) \(op) → \(reference)")
                guard mine == reference else {
                    Issue.record(
                        Comment(
                            rawValue: "seed \(seed) step \(step): \(op) gave \(mine) on the mount, \(reference) on a plain directory\n"
                                + history.suffix(15).joined(separator: "\n")))
                    return
                }
                var a = try snapshotTree(version, options)
                var b = try snapshotTree(plain, options)
                a[""] = nil  // the roots' own modes differ (mkdir vs mkdtemp)
                b[""] = nil
                let diffs = treeDifferences(a, b, labels: ("mount", "plain"))
                guard diffs.isEmpty else {
                    Issue.record(
                        Comment(
                            rawValue: "seed \(seed) step \(step): trees differ after \(op)\n"
                                + diffs.prefix(10).joined(separator: "\n")
                                + "\nlast operations:\n" + history.suffix(15).joined(separator: "\n")))
                    return
                }
            }
            let seconds = Date().timeIntervalSince(started)
            let failures = history.filter { !$0.hasSuffix("→ ok") }.count
            print(
                "[random ops] \(Self.operationCount) operations (\(failures) refused with the same errno) "
                    + "compared in \(String(format: "%.1f", seconds)) s")
            #expect(failures > 20, "the run exercised error paths too (\(failures) failing operations)")
            // About half succeed; the share varies with the seed (298 of 600 was seen), hence 40 %.
            #expect(history.count - failures > 240, "and many successful ones (\(history.count - failures))")
        }
    }

    /// Relative paths of everything under `root` (not following symlinks).
    static func paths(in root: String) -> [String] {
        var out: [String] = []
        func walk(_ relative: String) {
            let full = relative.isEmpty ? root : root + "/" + relative
            for name in Sys.list(full) ?? [] {
                let child = relative.isEmpty ? name : relative + "/" + name
                out.append(child)
                if Sys.lstat(root + "/" + child)?.isDir == true { walk(child) }
            }
        }
        walk("")
        return out
    }
}

/// One random file system operation on relative paths, applied identically to two roots.
enum RandomOperation: CustomStringConvertible {
    case create(String, exclusive: Bool, truncate: Bool, content: [UInt8])
    case write(String, offset: Int, content: [UInt8])
    case append(String, content: [UInt8])
    case truncate(String, size: Int)
    case rename(String, String)
    case unlink(String)
    case mkdir(String)
    case rmdir(String)
    case chmod(String, mode_t)
    case read(String)

    static let names = ["a", "b", "c", "d", "e"]

    /// A random operation, mostly on existing entries (so most succeed) and sometimes on any
    /// path of up to three components (so every error path comes up too).
    static func make(_ rng: inout SplitMix64, existing: [String], isDirectory: (String) -> Bool) -> RandomOperation {
        let dirs = existing.filter(isDirectory)
        let files = existing.filter { !isDirectory($0) }
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
        func anyPath() -> String {
            let depth = Int.random(in: 1...3, using: &rng)
            return (0..<depth).map { _ in names.randomElement(using: &rng)! }.joined(separator: "/")
        }
        func newPath() -> String {
            let parent = chance(30) ? "" : (dirs.randomElement(using: &rng).map { $0 + "/" } ?? "")
            return parent + names.randomElement(using: &rng)!
        }
        func pick(_ list: [String], _ percent: Int) -> String {
            chance(percent) ? (list.randomElement(using: &rng) ?? anyPath()) : anyPath()
        }
        func bytes(max: Int) -> [UInt8] {
            let count = Int.random(in: 0...max, using: &rng)
            return patternBytes(count: count, seed: rng.next())
        }
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<15:
            return .create(
                chance(75) ? newPath() : pick(existing, 60), exclusive: chance(40), truncate: chance(50),
                content: bytes(max: 5000))
        case 15..<33:
            return .write(pick(files, 85), offset: Int.random(in: 0...40_000, using: &rng), content: bytes(max: 9000))
        case 33..<38: return .append(pick(files, 85), content: bytes(max: 3000))
        case 38..<47: return .truncate(pick(files, 85), size: Int.random(in: 0...30_000, using: &rng))
        case 47..<62:
            let from = pick(existing, 85)
            let to = chance(45) ? newPath() : pick(existing, 70)
            return .rename(from, to)
        case 62..<70: return .unlink(pick(files, 70))
        case 70..<82: return .mkdir(chance(80) ? newPath() : anyPath())
        case 82..<90: return .rmdir(pick(dirs, 75))
        case 90..<95: return .chmod(pick(existing, 85), [0o644, 0o600, 0o755, 0o700].randomElement(using: &rng)!)
        default: return .read(pick(files, 80))
        }
    }

    /// Applies the operation under `root`; returns the first errno (or .ok).
    func apply(in root: String) -> Outcome {
        func p(_ relative: String) -> String { root + "/" + relative }
        switch self {
        case .create(let path, let exclusive, let truncate, let content):
            let flags = O_WRONLY | O_CREAT | (exclusive ? O_EXCL : 0) | (truncate ? O_TRUNC : 0)
            return withOpen(p(path), flags) { Sys.writeAll($0, content) }
        case .write(let path, let offset, let content):
            return withOpen(p(path), O_WRONLY) { Sys.pwriteAll($0, content, at: offset) }
        case .append(let path, let content):
            return withOpen(p(path), O_WRONLY | O_APPEND) { Sys.writeAll($0, content) }
        case .truncate(let path, let size): return Sys.truncate(p(path), size)
        case .rename(let from, let to): return Sys.rename(p(from), p(to))
        case .unlink(let path): return Sys.unlink(p(path))
        case .mkdir(let path): return Sys.mkdir(p(path), 0o755)
        case .rmdir(let path): return Sys.rmdir(p(path))
        case .chmod(let path, let mode): return Sys.chmod(p(path), mode)
        case .read(let path):
            return withOpen(p(path), O_RDONLY) { fd in
                (try? Sys.readAll(fd)) == nil ? Outcome(code: errno) : .ok
            }
        }
    }

    private func withOpen(_ path: String, _ flags: Int32, _ body: (Int32) -> Outcome) -> Outcome {
        switch Sys.open(path, flags, 0o644) {
        case .failure(let e): return e.outcome
        case .success(let fd):
            let result = body(fd)
            let closed = Outcome.of(close(fd))
            return result != .ok ? result : closed
        }
    }

    var description: String {
        switch self {
        case .create(let path, let exclusive, let truncate, let content):
            return "create \(path)\(exclusive ? " O_EXCL" : "")\(truncate ? " O_TRUNC" : "") \(content.count) bytes"
        case .write(let path, let offset, let content): return "pwrite \(path) @\(offset) \(content.count) bytes"
        case .append(let path, let content): return "append \(path) \(content.count) bytes"
        case .truncate(let path, let size): return "truncate \(path) \(size)"
        case .rename(let from, let to): return "rename \(from) → \(to)"
        case .unlink(let path): return "unlink \(path)"
        case .mkdir(let path): return "mkdir \(path)"
        case .rmdir(let path): return "rmdir \(path)"
        case .chmod(let path, let mode): return "chmod \(String(mode, radix: 8)) \(path)"
        case .read(let path): return "read \(path)"
        }
    }
}
