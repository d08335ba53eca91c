// Checks an archive with GNU tar, gzip and Python's tarfile against the tree it was made from.
import Foundation
import SystemPackage

@testable import SeekableArchive

enum RealTools {
    /// Python's tarfile reads every member; files must hash like their source, modes, mtimes
    /// and link targets must match. Prints the member count.
    static let pythonCheck = #"""
        import hashlib, os, sys, tarfile
        archive, root = sys.argv[1], sys.argv[2]
        def digest(stream):
            h = hashlib.sha256()
            for block in iter(lambda: stream.read(1 << 20), b''):
                h.update(block)
            return h.hexdigest()
        count = 0
        with tarfile.open(archive, 'r:gz') as t:
            for m in t:
                count += 1
                src = os.path.join(root, m.name.rstrip('/'))
                st = os.lstat(src)
                if m.isfile():
                    with open(src, 'rb') as f:
                        if digest(t.extractfile(m)) != digest(f):
                            sys.exit('content differs: ' + m.name)
                    if m.size != st.st_size:
                        sys.exit('size differs: ' + m.name)
                elif m.isdir():
                    if not os.path.isdir(src) or os.path.islink(src):
                        sys.exit('not a directory in source: ' + m.name)
                elif m.issym():
                    if os.readlink(src) != m.linkname:
                        sys.exit('link differs: ' + m.name)
                    continue
                else:
                    sys.exit('unexpected member type: ' + m.name)
                if (m.mode & 0o7777) != (st.st_mode & 0o7777):
                    sys.exit('mode differs: %s %o %o' % (m.name, m.mode, st.st_mode))
                if int(m.mtime) != st.st_mtime_ns // 1000000000:
                    sys.exit('mtime differs: %s %r %r' % (m.name, m.mtime, st.st_mtime_ns))
        print(count)
        """#

    /// Runs every check; returns the problems found (empty when all pass).
    static func check(
        archive: FilePath,
        toc: ArchiveTOC,
        source: FilePath,
        scratch: FilePath,
        subSecond: Bool
    ) throws
        -> [String]
    {
        var problems: [String] = []
        let a = Shell.quote(archive.string)
        try Shell.run("gzip -t \(a)")

        let verbose = try Shell.run("tar -tzvf \(a)").stdout.split(separator: "\n")
        if verbose.count != toc.entries.count {
            problems.append("tar -tzvf lists \(verbose.count) entries, the TOC has \(toc.entries.count)")
        }
        let listed = Set(
            try Shell.run("tar --quoting-style=literal -tzf \(a)").stdout.split(separator: "\n").map(String.init)
        )
        let expected = Set(toc.entries.map { $0.type == .directory ? $0.path + "/" : $0.path })
        if listed != expected {
            problems.append(
                "tar -tzf names differ: missing \(expected.subtracting(listed).sorted().prefix(5)), extra \(listed.subtracting(expected).sorted().prefix(5))"
            )
        }

        let extracted = scratch.appending("gnu-tar-extract")
        try Shell.run("mkdir -p \(Shell.quote(extracted.string)) && tar -xzf \(a) -C \(Shell.quote(extracted.string))")
        problems += try TreeComparison.differences(source: source, copy: extracted, subSecond: subSecond)
            .map { "GNU tar: " + $0 }

        let script = scratch.appending("check.py")
        try Fixtures.writeFile(script, Array(pythonCheck.utf8), mode: 0o644)
        let python = try Shell.run(
            "python3 \(Shell.quote(script.string)) \(a) \(Shell.quote(source.string))",
            check: false
        )
        if python.status != 0 {
            problems.append("python tarfile: \(python.stderr)\(python.stdout)")
        } else if python.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != String(toc.entries.count) {
            problems.append("python tarfile read \(python.stdout) members, the TOC has \(toc.entries.count)")
        }
        return problems
    }
}
