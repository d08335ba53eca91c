// Builds the trees the tests archive: an exported real source tree and a generated tree of edge cases.
import Foundation
import SeededRandom
import SystemPackage

enum Fixtures {
    /// `git archive` of a tag from the local package mirrors, extracted into `directory`.
    static func exportGitTree(repository: String, tag: String, into directory: FilePath) throws {
        try Shell.run("mkdir -p \(Shell.quote(directory.string))")
        try Shell.run(
            "git -C \(Shell.quote(repository)) archive \(tag) | tar -x -C \(Shell.quote(directory.string))"
        )
    }

    static func exportSwiftLog(into directory: FilePath) throws {
        try exportGitTree(repository: "/opt/swift-packages/apple/swift-log.git", tag: "1.16.2", into: directory)
    }

    /// Source-like text that compresses about as well as code does.
    static func semiCompressible(count: Int, seed: UInt64) -> [UInt8] {
        let words = [
            "let", "var", "func", "return", "struct", "archive", "member", "offset", "length", "(", ")",
            "{", "}", "=", "+", "self", "try", "guard", "else", "if", "for", "in", "0", "1", "4096", "path",
            "\n", "    ", ".", ",", ":", "Int", "UInt64", "String", "throws", "entry", "reader", "writer",
        ]
        var generator = SplitMix64(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 16)
        while bytes.count < count {
            let word = words[Int(generator.next() % UInt64(words.count))]
            bytes.append(contentsOf: word.utf8)
            if generator.next() % 3 == 0 { bytes.append(0x20) }
            if generator.next() % 17 == 0 { bytes.append(contentsOf: String(generator.next() % 100_000).utf8) }
        }
        return Array(bytes.prefix(count))
    }

    static let longName = String(repeating: "n", count: 196) + ".txt"  // 200 bytes, one component
    static let nonASCIIFile = "héllo wörld 世界.txt"
    static let nonASCIIDirectory = "données"
    static let nineMiB = 9 * 1024 * 1024
    static let sparseSize = 100 * 1024 * 1024

    /// Empty files and directories, symlinks, long and non-ASCII names, a 9 MiB file, a sparse
    /// 100 MiB file, various modes, and sub-second mtimes on everything.
    static func makeGeneratedTree(at root: FilePath) throws {
        try makeDirectory(root, mode: 0o755)
        let deep = "a/" + String(repeating: "deep-directory-name/", count: 6) + "leaf"  // > 100 bytes
        for directory in ["a", "a/b", "a/b/c", "empty-dir", nonASCIIDirectory, "modes"] {
            try makeDirectory(root.appending(directory), mode: 0o755)
        }
        var partial = ""
        for component in deep.split(separator: "/") {
            partial += (partial.isEmpty ? "" : "/") + component
            try makeDirectory(root.appending(partial), mode: 0o755)
        }
        try writeFile(root.appending("empty.txt"), [], mode: 0o644)
        try writeFile(root.appending("a/b/c/file.txt"), Array("hello, archive\n".utf8), mode: 0o644)
        try writeFile(root.appending(longName), Array("long name\n".utf8), mode: 0o644)
        try writeFile(root.appending(deep + "/in-deep-dir.swift"), Array("let deep = true\n".utf8), mode: 0o644)
        try writeFile(root.appending(nonASCIIFile), Array("ünïcödé\n".utf8), mode: 0o644)
        try writeFile(root.appending(nonASCIIDirectory + "/fichier-é.txt"), Array("é".utf8), mode: 0o640)
        try writeFile(root.appending("modes/exec.sh"), Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        try writeFile(root.appending("modes/private"), Array("secret\n".utf8), mode: 0o600)
        try writeFile(root.appending("modes/readonly"), Array("ro\n".utf8), mode: 0o444)
        try writeFile(root.appending("modes/group"), Array("g\n".utf8), mode: 0o750)
        try writeFile(root.appending("exact-block.bin"), semiCompressible(count: 512, seed: 7), mode: 0o644)
        try writeFile(root.appending("nine-mib.bin"), semiCompressible(count: nineMiB, seed: 9), mode: 0o644)
        try makeSparseFile(root.appending("sparse.bin"), size: sparseSize)
        try makeSymlink(root.appending("link-to-file"), target: "a/b/c/file.txt")
        try makeSymlink(root.appending("a/b/link-up"), target: "../../empty.txt")
        try makeSymlink(root.appending("dangling"), target: "no/such/target")
        try makeSymlink(root.appending("long-link"), target: String(repeating: "t/", count: 75) + "end")
        try makeSymlink(root.appending("lien-é"), target: nonASCIIFile)
        try chmod(root.appending("empty-dir"), 0o700)
        try chmod(root.appending("modes"), 0o750)

        // Sub-second mtimes everywhere; directories last, deepest first, so children do not bump them.
        var generator = SplitMix64(seed: 42)
        let all = try FileManager.default.subpathsOfDirectory(atPath: root.string).sorted { $0.count > $1.count }
        for relative in all {
            let seconds = 1_600_000_000 + Int(generator.next() % 100_000_000)
            let nanos = Int(generator.next() % 1_000_000_000)
            try setMtime(root.appending(relative), seconds: seconds, nanoseconds: nanos)
        }
    }

    static func makeDirectory(_ path: FilePath, mode: mode_t) throws {
        guard mkdir(path.string, mode) == 0 || errno == EEXIST else { throw TestFailure("mkdir \(path): \(errno)") }
        try chmod(path, mode)
    }

    static func chmod(_ path: FilePath, _ mode: mode_t) throws {
        guard Foundation.chmod(path.string, mode) == 0 else { throw TestFailure("chmod \(path): \(errno)") }
    }

    static func writeFile(_ path: FilePath, _ bytes: [UInt8], mode: mode_t) throws {
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        try fd.closeAfter { _ = try fd.writeAll(bytes) }
        try chmod(path, mode)
    }

    /// A file with holes: ftruncate to `size`, then a few small writes.
    static func makeSparseFile(_ path: FilePath, size: Int) throws {
        let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        try fd.closeAfter {
            try fd.resize(to: Int64(size))
            for offset in [0, 4096 * 1000 + 17, size / 2, size - 5] {
                _ = try fd.writeAll(toAbsoluteOffset: Int64(offset), Array("data@\(offset)".utf8).prefix(5))
            }
        }
        try chmod(path, 0o644)
    }

    static func makeSymlink(_ path: FilePath, target: String) throws {
        guard symlink(target, path.string) == 0 else { throw TestFailure("symlink \(path): \(errno)") }
    }

    static func setMtime(_ path: FilePath, seconds: Int, nanoseconds: Int) throws {
        var times = [
            timespec(tv_sec: seconds, tv_nsec: nanoseconds),
            timespec(tv_sec: seconds, tv_nsec: nanoseconds),
        ]
        guard utimensat(AT_FDCWD, path.string, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw TestFailure("utimensat \(path): \(errno)")
        }
    }
}
