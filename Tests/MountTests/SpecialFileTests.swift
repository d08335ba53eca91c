// FIFOs, Unix sockets and device nodes inside an open version (SEMANTICS § Inside an open
// version): real nodes with their type, mode, owner and device number, whose I/O the kernel does,
// that can be linked, renamed, chmod-ed, chown-ed and removed, and that survive a remount.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct SpecialFileTests {
    /// Python: binds a Unix socket at `name` (relative to the current directory), connects a
    /// client that sends 23 000 bytes, prints what the server received and the node's type.
    static let socketScript = #"""
        import os, socket, stat, sys, threading
        name = sys.argv[1]
        payload = b"hello through the mount" * 1000
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(name); server.listen(1)
        def client():
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(name); c.sendall(payload); c.close()
        t = threading.Thread(target=client); t.start()
        conn, _ = server.accept(); data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk: break
            data += chunk
        t.join(); conn.close(); server.close()
        print(len(data), data == payload, stat.S_ISSOCK(os.lstat(name).st_mode))
        """#

    /// Binds a Unix socket called `name` in `dir` and talks through it; returns the script's line.
    static func bindAndTalk(_ dir: String, _ name: String) throws -> String {
        try Shell.check("python3 - \(Shell.quote(name)) <<'PY'\n\(socketScript)\nPY", cwd: dir, timeout: 30).stdout
    }

    /// A Python writer sends 100 KiB into the FIFO `writeName`, `cat` reads `readName` (the same
    /// FIFO or another name of it); true when the bytes arrived whole.
    static func fifoCarries(_ dir: String, writeName: String, readName: String, scratch: String) throws -> Bool {
        let source = scratch + "/fifo-source"
        try Shell.check("head -c 102400 /dev/urandom > \(Shell.quote(source))")
        let result = try Shell.check(
            """
            python3 -c 'import sys; f = open(sys.argv[1], "wb"); f.write(open(sys.argv[2], "rb").read()); f.close()' \
              \(Shell.quote(writeName)) \(Shell.quote(source)) &
            cat \(Shell.quote(readName)) | sha256sum; wait $!
            sha256sum < \(Shell.quote(source))
            """, cwd: dir, timeout: 30)
        let lines = result.stdout.split(separator: "\n")
        return lines.count == 2 && lines[0] == lines[1]
    }

    @Test func aFIFOCarriesDataBetweenAWriterAndAReader() throws {
        let scratch = try makeTemporaryDirectory(prefix: "mt-fifo")
        defer { removeTree(scratch) }
        try withOpenVersion { _, v in
            try Shell.check("python3 -c 'import os; os.umask(0o022); os.mkfifo(\"pipe\", 0o640)'", cwd: v)
            let pipe = try #require(NodeStat.of(v + "/pipe"))
            #expect(pipe.type == S_IFIFO && pipe.perm == 0o640 && pipe.nlink == 1 && pipe.size == 0, "\(pipe)")
            #expect(try Shell.check("stat -c '%F %a' pipe", cwd: v).stdout == "fifo 640\n")
            #expect(try Self.fifoCarries(v, writeName: "pipe", readName: "pipe", scratch: scratch), "100 KiB through the FIFO")
            #expect(NodeStat.of(v + "/pipe")?.size == 0, "a FIFO stores nothing")

            // mkfifo -m sets the mode whatever the umask; mkfifo(3) applies the umask.
            try Shell.check("umask 077; mkfifo -m 666 open", cwd: v)
            #expect(NodeStat.of(v + "/open")?.perm == 0o666)
            try Shell.check("umask 027; mkfifo masked", cwd: v)
            #expect(NodeStat.of(v + "/masked")?.perm == 0o640)
            #expect(try Shell.run("mkfifo pipe", cwd: v).stderr.contains("File exists"))

            // A second name is the same FIFO: written through one, read through the other.
            #expect(Sys.link(v + "/pipe", v + "/pipe2") == .ok)
            #expect(NodeStat.of(v + "/pipe2")?.inode == pipe.inode && NodeStat.of(v + "/pipe")?.nlink == 2)
            #expect(try Self.fifoCarries(v, writeName: "pipe", readName: "pipe2", scratch: scratch), "written to pipe, read from pipe2")
        }
    }

    @Test func aUnixSocketBoundInTheVersionAcceptsAConnection() throws {
        try withOpenVersion { _, v in
            #expect(try Self.bindAndTalk(v, "sock") == "23000 True True\n")
            let sock = try #require(NodeStat.of(v + "/sock"))
            #expect(sock.type == S_IFSOCK && sock.nlink == 1, "the node stays once the server is closed: \(sock)")
            #expect(try Shell.check("stat -c %F sock", cwd: v).stdout == "socket\n")
            let again = try Shell.run("python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")'", cwd: v)
            #expect(!again.succeeded && again.stderr.contains("Address already in use"), "\(again)")
            // Bound again after removing it, in a subdirectory this time.
            #expect(Sys.mkdir(v + "/run") == .ok)
            #expect(try Self.bindAndTalk(v + "/run", "s") == "23000 True True\n")
            #expect(Sys.unlink(v + "/sock") == .ok)
            #expect(try Self.bindAndTalk(v, "sock") == "23000 True True\n")
        }
    }

    @Test func deviceNodesHaveTheirNumbersAndWorkLikeTheDevice() throws {
        try withOpenVersion { _, v in
            try Shell.check("mknod null c 1 3 && mknod loop b 7 0 && mknod -m 600 big c 300 70000", cwd: v)
            let null = try #require(NodeStat.of(v + "/null"))
            #expect(null.type == S_IFCHR && null.major == 1 && null.minor == 3, "\(null)")
            #expect(try Shell.check("stat -c '%F %t %T' null", cwd: v).stdout == "character special file 1 3\n")
            #expect(try Shell.check("python3 -c 'import os; s = os.lstat(\"null\"); print(os.major(s.st_rdev), os.minor(s.st_rdev))'", cwd: v).stdout == "1 3\n")
            // It is /dev/null: reads are empty, writes vanish.
            #expect(try Shell.check("cat null | wc -c", cwd: v).stdout == "0\n")
            #expect(try Shell.check("echo discarded > null && cat null | wc -c", cwd: v).stdout == "0\n")
            #expect(try Shell.check("head -c 100000 /dev/zero > null && stat -c %s null", cwd: v).stdout == "0\n")

            let loop = try #require(NodeStat.of(v + "/loop"))
            #expect(loop.type == S_IFBLK && loop.major == 7 && loop.minor == 0, "\(loop)")
            #expect(try Shell.check("stat -c '%F %t %T' loop", cwd: v).stdout == "block special file 7 0\n")

            // Numbers past 8 bits of major and minor (the 64-bit dev_t encoding).
            let big = try #require(NodeStat.of(v + "/big"))
            #expect(big.type == S_IFCHR && big.major == 300 && big.minor == 70000 && big.perm == 0o600, "\(big)")

            // mknod(2) of a regular file makes an ordinary empty file.
            try Shell.check("python3 -c 'import os, stat; os.mknod(\"plain\", 0o644 | stat.S_IFREG)'", cwd: v)
            let plain = try #require(NodeStat.of(v + "/plain"))
            #expect(plain.type == S_IFREG && plain.size == 0, "\(plain)")
            #expect(Sys.writeFile(v + "/plain", "content") == .ok)
            #expect(try Sys.readText(v + "/plain") == "content")
        }
    }

    /// A FIFO, a socket, a character and a block device in `v`.
    static func makeSpecialFiles(_ v: String) throws {
        try Shell.check("mkfifo -m 640 fifo && mknod -m 600 chr c 1 3 && mknod -m 660 blk b 7 0", cwd: v)
        #expect(try bindAndTalk(v, "sock") == "23000 True True\n")
    }

    static let specialNames = ["blk", "chr", "fifo", "sock"]

    @Test func specialFilesCanBeChmodedChownedRenamedAndUnlinked() throws {
        try withOpenVersion { _, v in
            try Self.makeSpecialFiles(v)
            #expect(Sys.mkdir(v + "/moved") == .ok)
            for name in Self.specialNames {
                let before = try #require(NodeStat.of(v + "/" + name), "\(name)")
                #expect(Sys.chmod(v + "/" + name, 0o604) == .ok, "chmod \(name)")
                #expect(NodeStat.of(v + "/" + name)?.perm == 0o604, "chmod \(name)")
                #expect(LinkFacts.chown(v + "/" + name, 1001, 1002) == .ok, "chown \(name)")
                let owned = try #require(NodeStat.of(v + "/" + name))
                #expect(owned.uid == 1001 && owned.gid == 1002, "chown \(name): \(owned)")
                #expect(Sys.rename(v + "/" + name, v + "/moved/" + name + ".x") == .ok, "rename \(name)")
                #expect(Sys.lstatOutcome(v + "/" + name) == .ENOENT)
                let moved = try #require(NodeStat.of(v + "/moved/" + name + ".x"))
                #expect(moved.type == before.type && moved.rdev == before.rdev && moved.inode == before.inode, "\(name): \(moved)")
                #expect(moved.perm == 0o604 && moved.uid == 1001 && moved.gid == 1002, "\(name): \(moved)")
            }
            #expect(Sys.list(v + "/moved") == ["blk.x", "chr.x", "fifo.x", "sock.x"])
            for name in Self.specialNames {
                #expect(Sys.unlink(v + "/moved/" + name + ".x") == .ok, "unlink \(name)")
            }
            #expect(Sys.list(v + "/moved") == [])
            #expect(Sys.rmdir(v + "/moved") == .ok)
            #expect(HardLinkTests.names(v) == [])
        }
    }

    @Test func specialFilesSurviveARemountWithTypeModeOwnerAndDevice() throws {
        let scratch = try makeTemporaryDirectory(prefix: "mt-special-remount")
        defer { removeTree(scratch) }
        try withMount { fs in
            let v = try fs.makeVersion()
            try Self.makeSpecialFiles(v)
            #expect(LinkFacts.chown(v + "/chr", 1000, 1000) == .ok)
            #expect(Sys.link(v + "/fifo", v + "/fifo.link") == .ok)
            let before = try LinkFacts.walk(v)
            for (name, type) in [("fifo", S_IFIFO), ("sock", S_IFSOCK), ("chr", S_IFCHR), ("blk", S_IFBLK)] {
                #expect(before[name]?.type == type, "\(name): \(String(describing: before[name]))")
            }
            #expect(try fs.stop() == 0)
            try fs.start()
            let after = try LinkFacts.walk(v)
            #expect(after.keys.sorted() == before.keys.sorted())
            for name in Self.specialNames + ["fifo.link"] {
                let (was, now) = (before[name], after[name])
                #expect(
                    now?.type == was?.type && now?.perm == was?.perm && now?.rdev == was?.rdev && now?.uid == was?.uid
                        && now?.gid == was?.gid && now?.nlink == was?.nlink,
                    "\(name): \(String(describing: was)) before the remount, \(String(describing: now)) after")
            }
            #expect(after["chr"]?.major == 1 && after["chr"]?.minor == 3 && after["chr"]?.perm == 0o600)
            #expect(after["blk"]?.major == 7 && after["blk"]?.minor == 0 && after["blk"]?.perm == 0o660)
            #expect(after["fifo"]?.perm == 0o640 && after["fifo"]?.nlink == 2)
            #expect(after["fifo.link"]?.inode == after["fifo"]?.inode)
            let problems = LinkFacts.linkCountProblems(after)
            #expect(problems.isEmpty, "\(problems)")
            // Still working nodes.
            #expect(try Self.fifoCarries(v, writeName: "fifo", readName: "fifo.link", scratch: scratch))
            #expect(try Shell.check("cat chr | wc -c", cwd: v).stdout == "0\n")
        }
    }
}
