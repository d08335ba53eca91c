// Helpers for the byte-name tests: a Python script that writes a tree of names that are not
// UTF-8 (or are odd in other ways) and walks trees comparing names as bytes, and byte-exact
// path calls and a byte-exact tree snapshot for the random operations (Swift's String would
// replace invalid UTF-8 with U+FFFD and make distinct names collide).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

enum ByteNames {
    /// Deep chain: 30 levels of 200-byte names under `deep/`, so the file at the bottom has a
    /// relative path of over 6000 bytes (past PATH_MAX, 4096).
    static let script = #"""
        import hashlib, json, os, stat, sys, tarfile

        BASE = 1_600_000_000_000_000_000

        def mtime(i):
            return BASE + i * 1_000_003_017 + 123_457

        def content(name, n):
            seed = hashlib.sha256(name).digest()
            return (seed * (n // 32 + 1))[:n]

        DEEP_LEVELS = 30

        def deep_name(i):
            head = b'%02d-\xe9-' % i
            return head + b'd' * (200 - len(head))

        FILES = [
            # (relative path as bytes, mode, size)
            (b'bad-\xff\xfe.txt', 0o640, 70_000),
            (b'new\nline', 0o644, 11),
            (b'tab\tname', 0o755, 12),
            (b'back\\slash', 0o644, 13),
            (b'ctl\x01\x02\x1b\x7f', 0o600, 14),
            (b'..a', 0o644, 15),
            (b'a..b', 0o644, 16),
            (b'-rf', 0o644, 17),
            (b' leading space', 0o644, 18),
            (b'trailing space ', 0o644, 19),
            (b'\\xff-literal', 0o644, 20),
            (b'n' * 251 + b'.txt', 0o644, 21),              # 255 bytes, ASCII
            (b'\xc3\xa9' * 127 + b'x', 0o644, 22),          # 255 bytes, UTF-8
            (b'\xff' * 255, 0o644, 23),                     # 255 bytes, none of it UTF-8
            (b'dir-\xc0\xaf/\xff', 0o644, 24),
            (b'dir-\xc0\xaf/a\xfeb', 0o640, 25),
            (b'dir-\xc0\xaf/plain.txt', 0o644, 26),
            (b'dir-\xc0\xaf/sub\x80/f\xe9\xff', 0o755, 27),
            (b'utf8-\xc3\xa9\xe2\x82\xac.txt', 0o644, 28),
        ]
        DIRS = [b'dir-\xc0\xaf', b'dir-\xc0\xaf/sub\x80', b'empty-\x80']
        LINKS = [
            (b'link-\xfe', b'target-\xff\x80/../bad-\xff\xfe.txt'),
            (b'ascii-link', b'dir-\xc0\xaf/\xff'),
            (b'dir-\xc0\xaf/up-\x01', b'../new\nline'),
        ]

        def make(root):
            os.chdir(root)
            i = 0
            for d in DIRS:
                os.mkdir(d, 0o755)
            for path, mode, size in FILES:
                with open(path, 'wb') as f:
                    f.write(content(path, size))
                os.chmod(path, mode)
            for path, target in LINKS:
                os.symlink(target, path)
            for path in XATTR_HOLDERS:
                for name, value in XATTR_VALUES:
                    os.setxattr(path, name, value)
            # The deep chain, built relative to each level's descriptor.
            os.mkdir(b'deep', 0o755)
            fd = os.open(b'deep', os.O_RDONLY | os.O_DIRECTORY)
            fds = [fd]
            for level in range(DEEP_LEVELS):
                name = deep_name(level)
                os.mkdir(name, 0o750 if level % 2 else 0o755, dir_fd=fd)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                fds.append(fd)
            bottom = b'bottom-\xff\xfe.txt'
            f = os.open(bottom, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=fd)
            os.write(f, content(b'deep-bottom', 3000))
            os.close(f)
            os.chmod(bottom, 0o644, dir_fd=fd)
            os.utime(bottom, ns=(mtime(900), mtime(901)), dir_fd=fd, follow_symlinks=False)
            os.symlink(b'../' + deep_name(DEEP_LEVELS - 1) + b'/' + bottom, b'deep-link-\xff', dir_fd=fd)
            os.utime(b'deep-link-\xff', ns=(mtime(902), mtime(903)), dir_fd=fd, follow_symlinks=False)
            # Times last, deepest first, so that nothing written later moves them.
            for level in range(DEEP_LEVELS - 1, -1, -1):
                os.utime(deep_name(level), ns=(mtime(800 + level), mtime(850 + level)), dir_fd=fds[level], follow_symlinks=False)
            for f in fds:
                os.close(f)
            i = 0
            for path, _, _ in FILES:
                i += 1
                os.utime(path, ns=(mtime(i), mtime(i) + 7))
            for path, _ in LINKS:
                i += 1
                os.utime(path, ns=(mtime(i), mtime(i) + 7), follow_symlinks=False)
            for d in [b'dir-\xc0\xaf/sub\x80', b'dir-\xc0\xaf', b'empty-\x80', b'deep']:
                i += 1
                os.utime(d, ns=(mtime(i), mtime(i) + 7))

        def entry_line(rel, st, dir_fd, name):
            kind = stat.S_IFMT(st.st_mode)
            size = '-' if stat.S_ISDIR(kind) else str(st.st_size)
            digest = '-'
            target = '-'
            if stat.S_ISREG(kind):
                f = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
                h = hashlib.sha256()
                while True:
                    chunk = os.read(f, 1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                os.close(f)
                digest = h.hexdigest()
            if stat.S_ISLNK(kind):
                target = os.readlink(name, dir_fd=dir_fd).hex()
            return '%s %o %d %s %s %s %s' % (rel.hex(), st.st_mode, st.st_mtime_ns, size, digest, target,
                                             xattr_field(dir_fd, name, kind))

        def xattr_field(dir_fd, name, kind):
            # user.* attributes as name=value in hex, by name; '-' for none. Through /proc so
            # that paths past PATH_MAX work (listxattr takes no dir_fd).
            if stat.S_ISLNK(kind):
                return '-'
            path = b'/proc/self/fd/%d/' % dir_fd + name
            names = sorted(os.fsencode(n) for n in os.listxattr(path, follow_symlinks=False) if n.startswith('user.'))
            pairs = [n.hex() + '=' + os.getxattr(path, n, follow_symlinks=False).hex() for n in names]
            return ','.join(pairs) or '-'


        def walk(root, skip_top):
            out = []
            def visit(dir_fd, rel):
                for name in sorted(os.fsencode(n) for n in os.listdir(dir_fd)):
                    if not rel and name in skip_top:
                        continue
                    child = rel + b'/' + name if rel else name
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    out.append(entry_line(child, st, dir_fd, name))
                    if stat.S_ISDIR(st.st_mode):
                        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
                        try:
                            visit(fd, child)
                        finally:
                            os.close(fd)
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            visit(fd, b'')
            os.close(fd)
            return sorted(out)

        def tar_members(archive):
            out = []
            with tarfile.open(archive, 'r:gz', encoding='utf-8', errors='surrogateescape') as t:
                for m in t:
                    name = m.name.encode('utf-8', 'surrogateescape').rstrip(b'/')
                    while name.startswith(b'./'):
                        name = name[2:]
                    if name in (b'', b'.'):
                        continue
                    if m.isdir():
                        kind = 'dir'
                    elif m.issym():
                        kind = 'symlink'
                    elif m.isreg():
                        kind = 'file'
                    else:
                        kind = 'other'
                    target = m.linkname.encode('utf-8', 'surrogateescape').hex() if m.issym() else '-'
                    digest = '-'
                    if m.isreg():
                        digest = hashlib.sha256(t.extractfile(m).read()).hexdigest()
                    prefix = 'SCHILY.xattr.'
                    xattrs = sorted((k[len(prefix):].encode(), v.encode('utf-8', 'surrogateescape'))
                                    for k, v in m.pax_headers.items() if k.startswith(prefix))
                    field = ','.join(k.hex() + '=' + v.hex() for k, v in xattrs) or '-'
                    out.append('%s %s %o %s %s %s' % (name.hex(), kind, m.mode, digest, target, field))
            return sorted(out)

        def walk_as_members(lines):
            # The walk lines reduced to what tar_members prints.
            out = []
            for line in lines:
                hexname, mode, _, _, digest, target, xattrs = line.split(' ')
                mode = int(mode, 8)
                kind = {stat.S_IFDIR: 'dir', stat.S_IFLNK: 'symlink', stat.S_IFREG: 'file'}.get(stat.S_IFMT(mode), 'other')
                out.append('%s %s %o %s %s %s' % (hexname, kind, stat.S_IMODE(mode), digest, target, xattrs))
            return sorted(out)

        XATTR_VALUES = [
            (b'user.nul', b'\x00'),
            (b'user.mid-nul', b'a\x00b\x00'),
            (b'user.all-bytes', bytes(range(256))),
            (b'user.not-utf8', b'\xff\xfe\x80\xc0'),
            (b'user.empty', b''),
        ]

        # Entries that carry XATTR_VALUES: a file, a directory, a file with a name that is not UTF-8.
        XATTR_HOLDERS = [b'a..b', b'dir-\xc0\xaf/sub\x80', b'bad-\xff\xfe.txt']

        def xattrs(path):
            problems = []
            for name, value in XATTR_VALUES:
                os.setxattr(path, name, value)
            for name, value in XATTR_VALUES:
                got = os.getxattr(path, name)
                if got != value:
                    problems.append('%s: set %s, got %s' % (name.decode(), value.hex(), got.hex()))
            names = set(os.listxattr(path))
            for name, _ in XATTR_VALUES:
                if name.decode() not in names:
                    problems.append('%s missing from listxattr %r' % (name.decode(), sorted(names)))
            return problems

        cmd = sys.argv[1]
        if cmd == 'make':
            make(os.fsencode(sys.argv[2]))
        elif cmd == 'walk':
            print('\n'.join(walk(os.fsencode(sys.argv[2]), {b'status.json', b'download_url'})))
        elif cmd == 'walk-short':
            # Only paths GNU tar can create: relative paths under 4096 - 100 bytes (room for the
            # extraction directory's own name is not needed, tar works relative to it, but it
            # prefixes "./" and fails at PATH_MAX).
            # mtimes to the whole second: archive headers carry whole seconds (the nanoseconds
            # are in the TOC only, docs/STORAGE_FORMAT.md), so `tar -x` restores seconds.
            lines = []
            for l in walk(os.fsencode(sys.argv[2]), {b'status.json', b'download_url'}):
                f = l.split(' ')
                if len(f[0]) // 2 < 4096 - 100:
                    f[2] = str(int(f[2]) // 1_000_000_000 * 1_000_000_000)
                    lines.append(' '.join(f))
            print('\n'.join(lines))
        elif cmd == 'tar':
            print('\n'.join(tar_members(sys.argv[2])))
        elif cmd == 'walk-as-members':
            print('\n'.join(walk_as_members(walk(os.fsencode(sys.argv[2]), {b'status.json', b'download_url'}))))
        elif cmd == 'xattrs':
            print('\n'.join(xattrs(os.fsencode(sys.argv[2]))))
        elif cmd == 'version-xattrs':
            os.setxattr(os.fsencode(sys.argv[2]), b'user.with-nul', b'model\x00x')
            os.setxattr(os.fsencode(sys.argv[2]), b'user.not-utf8', b'\xff\xfe-\x80')
        else:
            sys.exit('unknown command ' + cmd)
        """#

    /// Writes the script once per call into `dir`; returns its path.
    static func scriptPath(in dir: String) throws -> String {
        let path = dir + "/bytenames.py"
        guard Sys.writeFile(path, script) == .ok else { throw TestFailure("cannot write \(path)") }
        return path
    }

    /// Runs the script with `arguments`; its stdout lines.
    @discardableResult
    static func run(_ script: String, _ arguments: [String], timeout: Double = 120) throws -> [String] {
        let command = (["python3", script] + arguments).map(Shell.quote).joined(separator: " ")
        return try Shell.check(command, timeout: timeout).stdout.split(separator: "\n").map(String.init)
    }

    /// Differences between two sorted walks, as readable lines (names decoded from hex with
    /// backslash escapes).
    static func differences(_ a: [String], _ b: [String], labels: (String, String)) -> [String] {
        let (sa, sb) = (Set(a), Set(b))
        var out: [String] = []
        for line in a where !sb.contains(line) { out.append("only in \(labels.0): \(readable(line))") }
        for line in b where !sa.contains(line) { out.append("only in \(labels.1): \(readable(line))") }
        return out
    }

    /// A walk line with its hex path (first field) shown escaped.
    static func readable(_ line: String) -> String {
        let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
        guard let first = fields.first, let bytes = fromHex(first) else { return line }
        let name = escaped(bytes)
        let shown = name.count > 120 ? String(name.prefix(60)) + "…(\(bytes.count) bytes)…" + String(name.suffix(40)) : name
        return shown + " " + (fields.count > 1 ? fields[1] : "")
    }

    static func fromHex(_ hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let v = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            i += 2
        }
        return out
    }

    /// Printable ASCII as is, a backslash doubled, every other byte as `\xHH`: one-to-one.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            if b == UInt8(ascii: "\\") {
                out += "\\\\"
            } else if b >= 0x20 && b < 0x7f {
                out.append(Character(UnicodeScalar(b)))
            } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }

    /// The whole file as text with invalid UTF-8 replaced (logs may hold raw bytes; reading
    /// them with `String(contentsOfFile:encoding:)` would fail).
    static func lossyText(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

// MARK: byte-exact paths for the random operations

/// A path as raw bytes (no NUL), printed escaped.
struct BytePath: Hashable, Comparable, CustomStringConvertible {
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ text: String) { bytes = Array(text.utf8) }

    static func < (a: BytePath, b: BytePath) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    static func + (a: BytePath, b: BytePath) -> BytePath { BytePath(a.bytes + b.bytes) }
    var isEmpty: Bool { bytes.isEmpty }
    var description: String { ByteNames.escaped(bytes) }

    /// `root/self` (or `root` when self is empty).
    func under(_ root: BytePath) -> BytePath { isEmpty ? root : root + BytePath([UInt8(ascii: "/")]) + self }
    func under(_ root: String) -> BytePath { under(BytePath(root)) }

    /// Calls `body` with a NUL-terminated C string of the bytes.
    func withCPath<T>(_ body: (UnsafePointer<CChar>) -> T) -> T {
        let terminated = bytes.map { CChar(bitPattern: $0) } + [0]
        return terminated.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// The path calls the random operations make, taking byte paths.
enum ByteSys {
    static func mkdir(_ p: BytePath, _ mode: mode_t) -> Outcome { p.withCPath { .of(Glibc.mkdir($0, mode)) } }
    static func rmdir(_ p: BytePath) -> Outcome { p.withCPath { .of(Glibc.rmdir($0)) } }
    static func unlink(_ p: BytePath) -> Outcome { p.withCPath { .of(Glibc.unlink($0)) } }
    static func chmod(_ p: BytePath, _ mode: mode_t) -> Outcome { p.withCPath { .of(Glibc.chmod($0, mode)) } }
    static func truncate(_ p: BytePath, _ size: Int) -> Outcome { p.withCPath { .of(Glibc.truncate($0, off_t(size))) } }
    static func mkfifo(_ p: BytePath, _ mode: mode_t) -> Outcome { p.withCPath { .of(Glibc.mkfifo($0, mode)) } }
    static func rename(_ a: BytePath, _ b: BytePath) -> Outcome {
        a.withCPath { pa in b.withCPath { pb in .of(Glibc.rename(pa, pb)) } }
    }
    static func link(_ a: BytePath, _ b: BytePath) -> Outcome {
        a.withCPath { pa in b.withCPath { pb in .of(Glibc.link(pa, pb)) } }
    }
    static func open(_ p: BytePath, _ flags: Int32, _ mode: mode_t = 0o644) -> Result<Int32, OutcomeError> {
        let fd = p.withCPath { Glibc.open($0, flags | O_CLOEXEC, mode) }
        return fd < 0 ? .failure(OutcomeError(outcome: Outcome(code: errno), context: "\(p)")) : .success(fd)
    }
    static func lstat(_ p: BytePath) -> NodeStat? {
        var st = Glibc.stat()
        guard p.withCPath({ Glibc.lstat($0, &st) }) == 0 else { return nil }
        return NodeStat(st)
    }
    static func readlink(_ p: BytePath) -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = p.withCPath { Glibc.readlink($0, &buffer, 4096) }
        guard n >= 0 else { return nil }
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }
    /// Names in a directory as bytes, without `.` and `..`, in byte order.
    static func list(_ p: BytePath) -> [BytePath]? {
        guard let dir = p.withCPath({ opendir($0) }) else { return nil }
        defer { closedir(dir) }
        var names: [BytePath] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(BytePath(name)) }
        }
        return names.sorted()
    }
    static func readFile(_ p: BytePath) throws -> [UInt8] {
        switch open(p, O_RDONLY) {
        case .failure(let e): throw e
        case .success(let fd):
            defer { Glibc.close(fd) }
            return try Sys.readAll(fd)
        }
    }
}

/// Byte-exact counterparts of `snapshotTree` and `LinkFacts.walk`: keys are the relative paths
/// escaped with `ByteNames.escaped` (one-to-one, so distinct byte names never collide).
enum ByteTree {
    /// Every relative path under `root` (not following symlinks), parents before children.
    static func paths(_ root: BytePath) -> [BytePath] {
        var out: [BytePath] = []
        var pending: [BytePath] = [BytePath([])]
        while let relative = pending.popLast() {
            for name in ByteSys.list(relative.isEmpty ? root : relative.under(root)) ?? [] {
                let child = relative.isEmpty ? name : relative + BytePath([UInt8(ascii: "/")]) + name
                out.append(child)
                if ByteSys.lstat(child.under(root))?.isDir == true { pending.append(child) }
            }
        }
        return out.sorted()
    }

    static func walk(_ root: BytePath, skip: (BytePath) -> Bool) throws -> [BytePath: NodeStat] {
        var result: [BytePath: NodeStat] = [:]
        guard let top = ByteSys.lstat(root) else { throw TestFailure("lstat \(root) failed: \(Outcome(code: errno))") }
        result[BytePath([])] = top
        for path in paths(root) where !skip(path) {
            guard let info = ByteSys.lstat(path.under(root)) else {
                throw TestFailure("lstat \(path.under(root)) failed: \(Outcome(code: errno))")
            }
            result[path] = info
        }
        return result
    }

    /// Like `snapshotTree` with contents (no times, inodes or xattrs), keyed by escaped path.
    static func snapshot(_ root: BytePath, skip: (BytePath) -> Bool) throws -> [String: TreeEntry] {
        var result: [String: TreeEntry] = [:]
        for (path, info) in try walk(root, skip: skip) {
            let full = path.isEmpty ? root : path.under(root)
            var entry = TreeEntry(type: info.type, perm: info.perm, size: info.isDir ? 0 : info.size)
            if info.type == S_IFREG { entry.content = try ByteSys.readFile(full) }
            if info.type == S_IFLNK { entry.linkTarget = ByteSys.readlink(full).map(ByteNames.escaped) }
            result[path.description] = entry
        }
        return result
    }
}
