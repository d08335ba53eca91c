// Incremental snapshots on a real catalog without a mount: unchanged gzip members are copied
// from the version's previous archive, and what comes out extracts like a full pack.
import Foundation
import Logging
import SeededRandom
import SeekableArchive
import SystemPackage
import Testing

@testable import GenerationStore

@Suite struct IncrementalSnapshotTests {
    private func harness() throws -> Harness {
        try Harness(directory: NSTemporaryDirectory() + "gs-incr-\(UUID().uuidString)") { directory in
            var config = Configuration(dataDirectory: directory)
            config.useCloudStorage = false
            config.writeBackDelay = 0
            return try GenerationFileSystem(
                dataDirectory: try DataDirectory(FilePath(directory)), configuration: config, logger: Logger(label: "test"))
        }
    }

    private static let archive = "/archives/projects/p1/generations/g1/v1.tar.gz"
    private static let toc = "/archives/projects/p1/generations/g1/v1.toc.json"

    /// Two directories of 300 files of about 600 bytes: several shared members.
    private func makeVersion(_ h: Harness) throws -> (version: InodeNumber, files: [String: InodeNumber]) {
        let v1 = try h.mkdir(try h.generation(), "v1")
        var files: [String: InodeNumber] = [:]
        for directory in ["a", "b"] {
            let parent = try h.mkdir(v1, directory)
            for index in 0..<300 {
                let text = "\(directory)/\(index): " + String(repeating: "line of generated code \(index)\n", count: 20)
                files["\(directory)/f\(index)"] = try h.writeFile(parent, "f\(index)", text)
            }
        }
        return (v1, files)
    }

    /// Writes `text` over the start of the file (the rest stays).
    private func overwrite(_ h: Harness, _ ino: InodeNumber, with text: String) throws {
        let opened = try h.fileSystem.open(ino, flags: O_WRONLY)
        _ = try Array(text.utf8).withUnsafeBytes { try h.fileSystem.write(handle: opened.handle, offset: 0, data: $0) }
        h.fileSystem.release(handle: opened.handle)
    }

    private func snapshot(_ h: Harness, _ version: InodeNumber) throws -> SnapshotPlan.Result {
        #expect(try h.fileSystem.snapshotIfDirty(versionID: Int64(version)))
        return try #require(h.fileSystem.snapshots.lastPack)
    }

    /// Extracts the version's archive with GNU tar into `name` and returns its `tar -tv` listing.
    private func extract(_ h: Harness, into name: String) throws -> String {
        let out = h.directory + "/" + name
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try run("tar -xzf \(h.directory + Self.archive) -C \(out)").status == 0)
        return try run("tar -tvzf \(h.directory + Self.archive)").output
    }

    private func run(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Forces the next snapshot to compress everything, as after an unclean stop.
    private func forceFullPack(_ h: Harness, _ version: InodeNumber) {
        h.fileSystem.namespace.withLockNonThrowing {
            h.fileSystem.namespace.fullPackNeeded.insert(Int64(version))
            h.fileSystem.namespace.versions[Int64(version)]?.dirty = true
        }
    }

    @Test func aOneFileChangeCopiesTheOtherMembersAndExtractsLikeAFullPack() throws {
        let h = try harness()
        let (v1, files) = try makeVersion(h)
        let first = try snapshot(h, v1)
        #expect(first.bytesReused == 0, "nothing to copy from yet")

        try overwrite(h, try #require(files["b/f150"]), with: "b/150 changed")
        let second = try snapshot(h, v1)
        #expect(second.bytesReused > first.summary.archiveSize / 2, "most members copied: \(second)")
        #expect(second.bytesCompressed < first.bytesCompressed / 4, "one shared member compressed again: \(second)")
        let incremental = try extract(h, into: "incremental")
        let changed = try String(contentsOfFile: h.directory + "/incremental/b/f150", encoding: .utf8)
        #expect(changed.hasPrefix("b/150 changed"), "the change is in the archive")

        forceFullPack(h, v1)
        let full = try snapshot(h, v1)
        #expect(full.bytesReused == 0)
        #expect(try extract(h, into: "full") == incremental, "same names, modes, sizes and times, in the same order")
        #expect(try run("diff -r \(h.directory)/full \(h.directory)/incremental").status == 0, "same content")
    }

    /// A write that keeps size and mtime (the mtime set back afterwards) still counts: the ctime moved.
    @Test func aChangeHiddenBehindTheOldMtimeIsCompressedAgain() throws {
        let h = try harness()
        let (v1, files) = try makeVersion(h)
        _ = try snapshot(h, v1)
        let ino = try #require(files["a/f10"])
        let before = try h.fileSystem.getattr(ino).attributes
        let original = try h.readFile(ino)
        let same = String(original.reversed())
        try overwrite(h, ino, with: same)
        _ = try h.fileSystem.setattr(ino, changes: AttributeChanges(mtime: before.mtime))
        #expect(try h.fileSystem.getattr(ino).attributes.size == before.size)
        #expect(try h.fileSystem.getattr(ino).attributes.mtime == before.mtime)

        let second = try snapshot(h, v1)
        #expect(second.bytesReused > 0)
        _ = try extract(h, into: "x")
        #expect(try String(contentsOfFile: h.directory + "/x/a/f10", encoding: .utf8) == same)
    }

    @Test func afterAnUncleanStopTheNextSnapshotPacksEverything() throws {
        let h = try harness()
        let (v1, files) = try makeVersion(h)
        _ = try snapshot(h, v1)
        try h.reopen()  // no saveBeforeUnmount: the clean-stop mark is missing
        try overwrite(h, try #require(files["a/f1"]), with: "after the restart")
        let next = try snapshot(h, v1)
        #expect(next.bytesReused == 0, "everything compressed: \(next)")
        _ = try extract(h, into: "x")
        #expect(try String(contentsOfFile: h.directory + "/x/a/f1", encoding: .utf8).hasPrefix("after the restart"))

        try overwrite(h, try #require(files["a/f2"]), with: "second change")
        #expect(try snapshot(h, v1).bytesReused > 0, "copies again once a full pack is recorded")
    }

    /// A previous archive that its TOC does not describe (e.g. a crash between the two renames)
    /// is not copied from: the snapshot packs everything and the archive is right.
    @Test func aPreviousArchiveThatDoesNotMatchItsTOCIsNotCopiedFrom() throws {
        let h = try harness()
        let (v1, files) = try makeVersion(h)
        _ = try snapshot(h, v1)
        let handle = try #require(FileHandle(forUpdatingAtPath: h.directory + Self.archive))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([0xFF, 0xFF, 0xFF, 0xFF]))
        try handle.close()
        try overwrite(h, try #require(files["b/f0"]), with: "changed")
        let next = try snapshot(h, v1)
        #expect(next.bytesReused == 0)
        _ = try extract(h, into: "x")
        #expect(try String(contentsOfFile: h.directory + "/x/b/f0", encoding: .utf8).hasPrefix("changed"))
    }

    /// Random changes between snapshots: appends, new and removed files, sibling directories
    /// swapping names, removed subtrees, chmod of directories, attributes. Small files share gzip
    /// members across directory boundaries; 3700 entries make several TOC blocks. Every second snapshot is compared with a full pack of
    /// the same tree: TOC entries (all but member offsets) and extracted content.
    @Test(arguments: [1, 2] as [UInt64]) func randomChangesPackLikeAFullPack(seed: UInt64) throws {
        let h = try harness()
        let fs = h.fileSystem
        var random = SplitMix64(seed: seed)
        let v1 = try h.mkdir(try h.generation(), "v1")
        var tree = ModelTree()
        for d in 0..<6 {
            let dir = try h.mkdir(v1, "d\(d)")
            tree.dirs.insert("d\(d)")
            for f in 0..<2 { _ = try h.writeFile(dir, "f\(f)", "top \(d) \(f)\n"); tree.files.insert("d\(d)/f\(f)") }
            for sub in 0..<3 {
                let subdir = try h.mkdir(dir, "s\(sub)")
                tree.dirs.insert("d\(d)/s\(sub)")
                // s0 is large enough for the TOC to have several blocks: runs of them are copied.
                for f in 0..<(sub == 0 ? 600 : 6) {
                    _ = try h.writeFile(subdir, "f\(f)", String(repeating: "\(d)\(sub)\(f) ", count: 1 + f % 6 * 5))
                    tree.files.insert("d\(d)/s\(sub)/f\(f)")
                }
            }
        }
        _ = try snapshot(h, v1)
        func ino(_ path: String) throws -> InodeNumber {
            try path.split(separator: "/").reduce(v1) { try h.lookup($0, String($1)).attributes.ino }
        }
        func parentAndName(_ path: String) throws -> (InodeNumber, [UInt8]) {
            let parts = path.split(separator: "/")
            return (try ino(parts.dropLast().joined(separator: "/")), Array(parts.last!.utf8))
        }
        var made = 0
        for round in 0..<8 {
            let operations = round == 0 ? [0] : (0..<(1 + Int(random.next() % 3))).map { _ in Int(random.next() % 8) }
            for operation in operations {
                let files = tree.files.sorted()
                let dirs = tree.dirs.sorted()
                switch operation {
                case 0 where !files.isEmpty:
                    // Round 0 changes the first file: what follows is one run of unchanged names.
                    try overwrite(h, try ino(round == 0 ? "d0/f0" : random.pick(files)), with: "round \(round)")
                case 1 where !dirs.isEmpty:
                    let dir = random.pick(dirs)
                    made += 1
                    _ = try h.writeFile(try ino(dir), "n\(made)", "new \(made)")
                    tree.files.insert("\(dir)/n\(made)")
                case 2 where !files.isEmpty:
                    let file = random.pick(files)
                    let (parent, name) = try parentAndName(file)
                    try fs.unlink(parent: parent, name: name)
                    tree.files.remove(file)
                case 3:
                    // Two sibling directories swap names through a third.
                    let top = dirs.filter { !$0.contains("/") }
                    guard top.count >= 2 else { continue }
                    let a = random.pick(top)
                    let b = random.pick(top.filter { $0 != a })
                    try fs.rename(parent: v1, name: Array(a.utf8), newParent: v1, newName: Array("swap".utf8), mode: .noReplace)
                    try fs.rename(parent: v1, name: Array(b.utf8), newParent: v1, newName: Array(a.utf8), mode: .noReplace)
                    try fs.rename(parent: v1, name: Array("swap".utf8), newParent: v1, newName: Array(b.utf8), mode: .noReplace)
                    tree.swap(a, b)
                case 4 where !dirs.isEmpty:
                    let mode: UInt32 = random.next() % 2 == 0 ? 0o700 : 0o755
                    _ = try fs.setattr(try ino(random.pick(dirs)), changes: AttributeChanges(mode: mode))
                case 5 where !files.isEmpty:
                    let value = (0..<8).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                    try fs.setxattr(try ino(random.pick(files)), name: Array("user.k".utf8), value: value, flags: 0)
                case 6:
                    // A whole subdirectory removed, files first.
                    let leaves = dirs.filter { dir in !dirs.contains { $0.hasPrefix(dir + "/") } && dir.contains("/") }
                    guard !leaves.isEmpty else { continue }
                    let dir = random.pick(leaves)
                    for file in files where file.hasPrefix(dir + "/") {
                        let (parent, name) = try parentAndName(file)
                        try fs.unlink(parent: parent, name: name)
                        tree.files.remove(file)
                    }
                    let (parent, name) = try parentAndName(dir)
                    try fs.rmdir(parent: parent, name: name)
                    tree.dirs.remove(dir)
                default:
                    let dir = dirs.isEmpty ? "" : random.pick(dirs)
                    made += 1
                    let path = dir.isEmpty ? "m\(made)" : "\(dir)/m\(made)"
                    let (parent, name) = try parentAndName(path)
                    let created = try fs.mkdir(parent: parent, name: name, mode: 0o755, caller: h.caller).attributes.ino
                    _ = try h.writeFile(created, "f", "in \(path)")
                    tree.dirs.insert(path)
                    tree.files.insert(path + "/f")
                }
            }
            let packed = try snapshot(h, v1)
            if round == 0 {
                #expect(packed.entriesNotRead > packed.entries / 2, "one file changed: most directories not read (\(packed))")
                #expect(packed.tocBlocksCopied > 0, "runs of TOC blocks copied (\(packed))")
            }
            guard round % 2 == 1 || round == 0 else { continue }
            let incrementalTOC = try tocFacts(h)
            let incremental = try extract(h, into: "incremental\(round)")
            #expect(try filesReadThroughTheTOC(h, differingFrom: "incremental\(round)") == [], "seed \(seed), round \(round)")
            forceFullPack(h, v1)
            let full = try snapshot(h, v1)
            #expect(full.entriesNotRead == 0 && full.bytesReused == 0)
            #expect(try tocFacts(h) == incrementalTOC, "seed \(seed), round \(round): the TOC of a full pack")
            #expect(try extract(h, into: "full\(round)") == incremental, "seed \(seed), round \(round)")
            #expect(
                try run("diff -r \(h.directory)/full\(round) \(h.directory)/incremental\(round)").status == 0,
                "seed \(seed), round \(round): same content")
        }
    }

    /// Files whose content read through the TOC's member offsets (a random-access read, the sha256
    /// checked) differs from what `tar -x` put in `extracted` (every third file).
    private func filesReadThroughTheTOC(_ h: Harness, differingFrom extracted: String) throws -> [String] {
        let tocBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: h.directory + Self.toc)))
        let toc = try ArchiveTOC.decode(from: tocBytes)
        let archive = try FileDescriptor.open(h.directory + Self.archive, .readOnly)
        defer { try? archive.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: archive))
        var differing: [String] = []
        // Every third file: each shared member and each copied block is still read several times.
        for (number, entry) in toc.entries.enumerated() where entry.type == .file && number % 3 == 0 {
            let expected = try [UInt8](Data(contentsOf: URL(fileURLWithPath: h.directory + "/" + extracted + "/" + entry.path)))
            if try reader.readFile(at: entry.pathBytes) != expected { differing.append(entry.path) }
        }
        return differing
    }

    /// Every TOC entry of the version's archive but its member offsets, one line each.
    private func tocFacts(_ h: Harness) throws -> [String] {
        let reader = try TOCFileReader(path: FilePath(h.directory + Self.toc))
        var facts: [String] = []
        while let entry = try reader.next() {
            facts.append(
                "\(entry.path) \(entry.type) \(String(entry.mode, radix: 8)) \(entry.size) \(entry.mtime) "
                    + "\(entry.linkTarget ?? "") \(entry.sha256 ?? "") \(entry.links ?? 1) \(entry.xattrs)")
        }
        return facts
    }

    @Test func theChangeClockRunsForwardsFromItsFloor() {
        var clock = ChangeClock(floor: Timespec.now().totalNanoseconds + 3_600_000_000_000)
        let first = clock.now().totalNanoseconds
        #expect(first > Timespec.now().totalNanoseconds + 3_500_000_000_000, "never below the floor")
        #expect(clock.now().totalNanoseconds == first + 1)
        #expect(clock.stamp(atLeast: 5) == first + 2, "a write's older time is moved after the last stamp")
        let later = first + 1_000_000
        #expect(clock.stamp(atLeast: later) == later)
    }
}

/// A new version made from the previous one (files copied with their mtimes, a few changed)
/// copies the previous version's members for the files whose content is the same.
@Suite struct PreviousVersionReuseTests {
    @Test func aCopiedVersionReusesThePreviousVersionsMembersForIdenticalFiles() throws {
        let h = try Harness(directory: NSTemporaryDirectory() + "gs-prev-\(UUID().uuidString)") { directory in
            var config = Configuration(dataDirectory: directory)
            config.useCloudStorage = false
            config.writeBackDelay = 0
            return try GenerationFileSystem(
                dataDirectory: try DataDirectory(FilePath(directory)), configuration: config, logger: Logger(label: "test"))
        }
        let fs = h.fileSystem
        let generation = try h.generation()
        let v1 = try h.mkdir(generation, "v1")
        var texts: [String: String] = [:]
        let d1 = try h.mkdir(v1, "src")
        for index in 0..<400 {
            let text = "file \(index)\n" + String(repeating: "generated line \(index)\n", count: 30)
            texts["f\(index)"] = text
            _ = try h.writeFile(d1, "f\(index)", text)
        }
        #expect(try fs.snapshotIfDirty(versionID: Int64(v1)))
        let v1Full = try #require(fs.snapshots.lastPack)

        // v2: the same files with the same mtimes and modes; f150 has other content of the same size
        // (so only its sha256 tells), f9 is new content (they sit in different shared members).
        let v2 = try h.mkdir(generation, "v2")
        #expect(try fs.snapshotIfDirty(versionID: Int64(v2)), "packed empty first, as the snapshotter often does")
        let d2 = try h.mkdir(v2, "src")
        for index in 0..<400 {
            var text = try #require(texts["f\(index)"])
            if index == 150 { text = String(text.reversed()) }
            if index == 9 { text = "new content\n" }
            let ino = try h.writeFile(d2, "f\(index)", text)
            let original = try h.lookup(d1, "f\(index)").attributes.mtime
            _ = try fs.setattr(ino, changes: AttributeChanges(mtime: original))
        }
        _ = try fs.setattr(d2, changes: AttributeChanges(mtime: try fs.getattr(d1).attributes.mtime))
        #expect(try fs.snapshotIfDirty(versionID: Int64(v2)))
        let v2Pack = try #require(fs.snapshots.lastPack)
        #expect(v2Pack.bytesReused > 0, "\(v2Pack)")
        #expect(v2Pack.bytesCompressed < v1Full.bytesCompressed / 2, "only the changed files' members: \(v2Pack)")

        let out = h.directory + "/x"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["-xzf", h.directory + "/archives/projects/p1/generations/g1/v2.tar.gz", "-C", out]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        for index in [0, 150, 8, 9, 399] {
            var expected = try #require(texts["f\(index)"])
            if index == 150 { expected = String(expected.reversed()) }
            if index == 9 { expected = "new content\n" }
            #expect(try String(contentsOfFile: out + "/src/f\(index)", encoding: .utf8) == expected, "f\(index)")
        }
    }
}

/// The paths of a test's version tree, as the test changed it.
private struct ModelTree {
    var files: Set<String> = []
    var dirs: Set<String> = []

    /// Top-level directories `a` and `b` swapped names, with everything below them.
    mutating func swap(_ a: String, _ b: String) {
        func renamed(_ path: String) -> String {
            for (from, to) in [(a, b), (b, a)] where path == from || path.hasPrefix(from + "/") {
                return to + path.dropFirst(from.count)
            }
            return path
        }
        files = Set(files.map(renamed))
        dirs = Set(dirs.map(renamed))
    }
}
