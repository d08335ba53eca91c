// Real tools inside a version: cp -a, diff, tar, find, ls and git on a real source tree.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Real tools inside a version")
struct RealToolsTests {
    static let swiftLogRepo = "/opt/swift-packages/apple/swift-log.git"

    /// Exports swift-log 1.16.2 to `<dir>/swift-log`, plus an executable, a symlink, an empty
    /// directory, a 3 MiB file and odd names, so every kind of entry is copied.
    static func exportSourceTree(into dir: String) throws -> String {
        guard Sys.lstat(swiftLogRepo) != nil else {
            throw TestFailure("\(swiftLogRepo) is missing: the tool tests copy its tree")
        }
        let tree = dir + "/swift-log"
        try Shell.check(
            """
            set -e
            mkdir -p \(Shell.quote(tree))
            git -C \(swiftLogRepo) archive 1.16.2 | tar -x -C \(Shell.quote(tree))
            cd \(Shell.quote(tree))
            mkdir -p extra/empty 'extra/with space'
            printf '#!/bin/sh\\necho tool\\n' > extra/tool.sh && chmod 755 extra/tool.sh
            head -c 3145728 /dev/urandom > extra/large.bin
            ln -s ../Package.swift extra/package-link
            echo ünïcødé > 'extra/with space/ünïcødé.txt'
            chmod 600 'extra/with space/ünïcødé.txt'
            touch -d '2019-09-09 09:09:09.123456789 UTC' extra/large.bin
            """)
        return tree
    }

    @Test func cpDashADiffTarFindAndLsMatchTheSource() throws {
        let src = try makeTemporaryDirectory(prefix: "mt-src")
        defer { removeTree(src) }
        let tree = try Self.exportSourceTree(into: src)
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let q = Shell.quote
            try Shell.check("cp -a \(q(tree)) \(q(v1 + "/"))")
            let copy = v1 + "/swift-log"

            let diff = try Shell.run("diff -r \(q(tree)) \(q(copy))")
            #expect(diff.succeeded, "\(diff)")

            // find: the same entries of each kind.
            for kind in ["f", "d", "l"] {
                let a = try Shell.check("cd \(q(tree)) && find . -type \(kind) | sort").stdout
                let b = try Shell.check("cd \(q(copy)) && find . -type \(kind) | sort").stdout
                #expect(a == b, "find -type \(kind) differs")
                #expect(!a.isEmpty)
            }
            let count = try Shell.check("find \(q(copy)) -type f | wc -l").stdout
            #expect(Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 140)

            // tar of the mount is byte-identical to tar of the source.
            let tarA = src + "/a.tar"
            let tarB = src + "/b.tar"
            try Shell.check("tar -c --sort=name -f \(q(tarA)) -C \(q(src)) swift-log")
            try Shell.check("tar -c --sort=name -f \(q(tarB)) -C \(q(v1)) swift-log")
            let cmp = try Shell.run("cmp \(q(tarA)) \(q(tarB))")
            #expect(cmp.succeeded, "\(cmp)")

            // ls -la shows the same modes, sizes (of files and links) and times.
            let lsA = try lsEntries(tree)
            let lsB = try lsEntries(copy)
            #expect(lsA == lsB, "ls -laR differs: \(Array(Set(lsA).symmetricDifference(lsB)).sorted().prefix(10))")

            // And so does lstat, down to the nanosecond.
            var options = TreeOptions()
            options.mtimes = true
            let diffs = treeDifferences(try snapshotTree(tree, options), try snapshotTree(copy, options), labels: ("source", "mount"))
            #expect(diffs.isEmpty, "\(diffs.prefix(20).joined(separator: "\n"))")

            // The tools run from the mount.
            #expect(try Shell.check(q(copy + "/extra/tool.sh")).stdout == "tool\n")
        }
    }

    @Test func cpIntoVersionRootDiffsCleanWithoutVirtualFiles() throws {
        let src = try makeTemporaryDirectory(prefix: "mt-src")
        defer { removeTree(src) }
        let tree = try Self.exportSourceTree(into: src)
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let q = Shell.quote
            try Shell.check("cp -r \(q(tree + "/.")) \(q(v1 + "/"))")
            let diff = try Shell.run("diff -r -x status.json -x download_url \(q(tree)) \(q(v1))")
            #expect(diff.succeeded, "\(diff)")
            let a = try Shell.check("cd \(q(tree)) && find . | sort").stdout
            let b = try Shell.check("cd \(q(v1)) && find . ! -path ./status.json ! -path ./download_url | sort").stdout
            #expect(a == b)
            let s = try fs.status("projects/p1/generations/g1/v1")
            let files = try Shell.check("find \(q(tree)) -type f | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect((s["files_count"] as? NSNumber)?.intValue == Int(files), "files_count vs find -type f")
        }
    }

    @Test func gitInitAddCommitInsideVersion() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let repo = v1 + "/repo"
            let q = Shell.quote
            let git = "git -c user.name=Mount -c user.email=mount@example.com -c init.defaultBranch=main"
            #expect(Sys.mkdir(repo) == .ok)
            try Shell.check("git -C \(Self.swiftLogRepo) archive 1.16.2 | tar -x -C \(q(repo))")
            try Shell.check("\(git) init -q && \(git) add -A && \(git) commit -q -m x", cwd: repo)
            #expect(try Shell.check("git status --porcelain", cwd: repo).stdout == "")
            let log = try Shell.check("git log --format=%s", cwd: repo).stdout
            #expect(log == "x\n")

            // Edit, commit again, pack, verify.
            try Shell.check("echo '// changed' >> Package.swift && git mv README.md README2.md && rm -r Tests", cwd: repo)
            try Shell.check("\(git) commit -q -a -m second && \(git) gc -q", cwd: repo)
            #expect(try Shell.check("git status --porcelain", cwd: repo).stdout == "")
            #expect(try Shell.check("git log --format=%s", cwd: repo).stdout == "second\nx\n")
            let fsck = try Shell.run("git fsck --full --strict", cwd: repo)
            #expect(fsck.succeeded, "\(fsck)")
            let stat = try Shell.check("git diff --stat HEAD~1 HEAD | tail -1", cwd: repo).stdout
            #expect(stat.contains("changed"), "\(stat)")

            // A clone out of the mount has the same content.
            let out = try makeTemporaryDirectory(prefix: "mt-clone")
            defer { removeTree(out) }
            try Shell.check("git clone -q \(q(repo)) \(q(out + "/c"))")
            let diff = try Shell.run("diff -r -x .git \(q(repo)) \(q(out + "/c"))")
            #expect(diff.succeeded, "\(diff)")
        }
    }

    /// `ls -laR --time-style=+%s.%N` of `dir` as "relative/dir name perms size time" lines
    /// (directory sizes and link counts left out: they differ between file systems).
    private func lsEntries(_ dir: String) throws -> [String] {
        let ls = try Shell.check("ls -laR --time-style=+%s.%N \(Shell.quote(dir))").stdout
        var section = ""
        var entries: [String] = []
        for line in ls.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("/") && line.hasSuffix(":") {
                section = String(line.dropLast()).replacingOccurrences(of: dir, with: "")
                continue
            }
            if line.hasPrefix("total ") { continue }
            let fields = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true)
            guard fields.count == 7 else { continue }
            let name = String(fields[6])
            if name == "." || name == ".." { continue }
            let perms = String(fields[0])
            let size = perms.hasPrefix("d") ? "-" : String(fields[4])
            entries.append("\(section) \(name) \(perms) \(size) \(fields[5])")
        }
        return entries.sorted()
    }
}
