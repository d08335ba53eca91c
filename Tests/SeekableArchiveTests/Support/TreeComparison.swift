// Compares an extracted tree with its source: types, bytes, modes, mtimes and symlink targets.
import Foundation
import SystemPackage

@testable import SeekableArchive

enum TreeComparison {
    struct Node {
        var relative: String
        var stat: Stat
    }

    /// Every entry under `root` (not `root` itself), parents first.
    static func walk(_ root: FilePath) throws -> [Node] {
        var nodes: [Node] = []
        func visit(_ directory: FilePath, _ prefix: String) throws {
            for name in try ArchivePacker.listDirectory(directory) {
                let path = directory.appending(name)
                let relative = prefix.isEmpty ? name : prefix + "/" + name
                let info = try path.stat(followTargetSymlink: false)
                nodes.append(Node(relative: relative, stat: info))
                if info.type == .directory { try visit(path, relative) }
            }
        }
        try visit(root, "")
        return nodes
    }

    /// Differences between two trees, as readable lines (empty when they match).
    /// `subSecond`: compare mtime nanoseconds too (GNU tar restores them from pax records).
    static func differences(source: FilePath, copy: FilePath, subSecond: Bool) throws -> [String] {
        let sourceNodes = try walk(source)
        let copyNodes = try walk(copy)
        var problems: [String] = []
        let copyByPath = Dictionary(copyNodes.map { ($0.relative, $0) }, uniquingKeysWith: { first, _ in first })
        if sourceNodes.count != copyNodes.count {
            problems.append("source has \(sourceNodes.count) entries, copy has \(copyNodes.count)")
        }
        for node in sourceNodes {
            guard let other = copyByPath[node.relative] else {
                problems.append("missing: \(node.relative)")
                continue
            }
            let path = node.relative
            guard node.stat.type == other.stat.type else {
                problems.append("type differs: \(path)")
                continue
            }
            if node.stat.type == .symbolicLink {
                let a = try FileManager.default.destinationOfSymbolicLink(atPath: source.appending(path).string)
                let b = try FileManager.default.destinationOfSymbolicLink(atPath: copy.appending(path).string)
                if a != b { problems.append("link target differs: \(path): \(a) vs \(b)") }
                continue
            }
            if node.stat.permissions != other.stat.permissions {
                problems.append(
                    "mode differs: \(path): \(node.stat.permissions.rawValue) vs \(other.stat.permissions.rawValue)"
                )
            }
            if node.stat.st_mtim.tv_sec != other.stat.st_mtim.tv_sec {
                problems.append("mtime differs: \(path): \(node.stat.st_mtim.tv_sec) vs \(other.stat.st_mtim.tv_sec)")
            } else if subSecond && node.stat.st_mtim.tv_nsec != other.stat.st_mtim.tv_nsec {
                problems.append(
                    "mtime nanoseconds differ: \(path): \(node.stat.st_mtim.tv_nsec) vs \(other.stat.st_mtim.tv_nsec)"
                )
            }
            if node.stat.type == .regular {
                if try !sameContent(source.appending(path), copy.appending(path)) {
                    problems.append("content differs: \(path)")
                }
            }
        }
        return problems
    }

    static func sameContent(_ a: FilePath, _ b: FilePath) throws -> Bool {
        let fa = try FileDescriptor.open(a, .readOnly)
        defer { try? fa.close() }
        let fb = try FileDescriptor.open(b, .readOnly)
        defer { try? fb.close() }
        let size = 1 << 20
        var bufferA = [UInt8](repeating: 0, count: size)
        var bufferB = [UInt8](repeating: 0, count: size)
        while true {
            let na = try bufferA.withUnsafeMutableBytes { try FileIO.readFully(fa, into: $0, path: a.string) }
            let nb = try bufferB.withUnsafeMutableBytes { try FileIO.readFully(fb, into: $0, path: b.string) }
            if na != nb || bufferA[..<na] != bufferB[..<nb] { return false }
            if na == 0 { return true }
        }
    }

    /// The whole content of a local file (tests use it for small and medium files only).
    static func contents(_ path: FilePath) throws -> [UInt8] {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        let size = Int(try fd.stat().size)
        var bytes = [UInt8](repeating: 0, count: size)
        let got = try bytes.withUnsafeMutableBytes { try FileIO.readFully(fd, into: $0, path: path.string) }
        return Array(bytes[..<got])
    }
}
