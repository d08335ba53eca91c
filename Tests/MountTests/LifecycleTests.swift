// Starting, stopping, crashing and restarting the daemon: what survives, what is refused,
// and how the data directory looks (DESIGN §7, the mount command's contract).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Daemon lifecycle, restarts and crashes")
struct LifecycleTests {
    /// Paths under the mount whose content is computed (virtual files and views).
    private static func isVirtual(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/")
        if relative == "status.json" { return true }
        if parts.first == "generations" || parts.first == "active" { return true }
        // projects/P/generations/G/{status.json,download_url,latest}
        if parts.count == 5, ["status.json", "download_url", "latest"].contains(parts[4]) { return true }
        // projects/P/generations/G/vN/{status.json,download_url}
        if parts.count == 6, ["status.json", "download_url"].contains(parts[5]) { return true }
        return false
    }

    /// Everything a user would check after a restart: contents, modes, mtimes, xattrs and the
    /// inode number of every path (virtual entries: inode only).
    private static var fullOptions: TreeOptions {
        var o = TreeOptions()
        o.mtimes = true
        o.inodes = true
        o.xattrs = true
        o.volatile = { LifecycleTests.isVirtual($0) || !$0.hasPrefix("projects/") || $0.split(separator: "/").count < 5 }
        return o
    }

    /// A tree with every kind of entry, in a sealed v1 and an open v2.
    private func populate(_ fs: MountedFS) throws {
        let v1 = try fs.makeVersion(project: "p1", generation: "g1", version: 1)
        #expect(Sys.writeFile(v1 + "/old.txt", "sealed content\n") == .ok)
        #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
        let v2 = fs.path("projects/p1/generations/g1/v2")
        try fs.makeVersion(project: "p2", generation: "other")
        try Shell.check(
            """
            set -e
            cd \(Shell.quote(v2))
            mkdir -p src/app/deep empty
            printf 'print(1)\\n' > src/app/main.py
            head -c 1048577 /dev/urandom > src/blob.bin
            : > src/empty.txt
            echo '{"not": "virtual"}' > src/status.json
            ln -s app/main.py src/link
            chmod 600 src/blob.bin
            chmod 750 src/app
            setfattr -n user.kind -v source src/app/main.py
            setfattr -n user.model -v gpt-x .
            touch -h -d '2020-01-02 03:04:05.123456789 UTC' src/link
            touch -d '2021-06-07 08:09:10.5 UTC' src/app/main.py src/app
            """)
    }

    @Test func sigtermRestartKeepsTreeInodesXattrsModesAndTimes() throws {
        try withMount { fs in
            try populate(fs)
            let before = try snapshotTree(fs.mountpoint, Self.fullOptions)
            let statusBefore = try fs.status("projects/p1/generations/g1/v2")
            #expect(try fs.stop() == 0, "exit status after SIGTERM")
            #expect(!fs.isMounted)
            try fs.start()
            let after = try snapshotTree(fs.mountpoint, Self.fullOptions)
            let diff = treeDifferences(before, after, labels: ("before", "after restart"))
            #expect(diff.isEmpty, "\(diff.prefix(30).joined(separator: "\n"))")
            #expect(before.count > 20)

            let statusAfter = try fs.status("projects/p1/generations/g1/v2")
            #expect((statusAfter["metadata"] as? [String: Any])?["model"] as? String == "gpt-x")
            #expect((statusAfter["files_count"] as? NSNumber) == (statusBefore["files_count"] as? NSNumber))
            #expect((statusAfter["bytes"] as? NSNumber) == (statusBefore["bytes"] as? NSNumber))
            #expect(statusAfter["created_at"] as? String == statusBefore["created_at"] as? String)
            // Sealed stays sealed, open stays open.
            let v1 = fs.path("projects/p1/generations/g1/v1")
            #expect(Sys.openOutcome(v1 + "/old.txt", O_WRONLY) == .EROFS)
            #expect(Sys.writeFile(fs.path("projects/p1/generations/g1/v2/after.txt"), "still open") == .ok)
            #expect(Sys.readlink(fs.path("projects/p1/generations/g1/latest")) == "v2")
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2/src/app/new")) == .ok)
            // New inodes do not collide with the old ones.
            let newInode = try #require(Sys.lstat(fs.path("projects/p1/generations/g1/v2/after.txt"))).inode
            #expect(!before.values.contains { $0.inode == newInode })
        }
    }

    @Test func fusermountUnmountStopsForegroundDaemonAndDataStays() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", "kept") == .ok)
            let status = try fs.unmountAndWait()
            #expect(status == 0, "exit status after fusermount3 -u (nil: still running after 10 s)")
            #expect(!fs.isMounted)
            if status == nil { fs.kill9() }
            try fs.start()
            #expect(try Sys.readText(v1 + "/f") == "kept")
        }
    }

    @Test func kill9KeepsClosedAndFsyncedFiles() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.mkdir(v1 + "/closed") == .ok)
            var closed: [String: [UInt8]] = [:]
            for i in 0..<20 {
                let content = patternBytes(count: (i * 7919) % 300_000, seed: UInt64(100 + i))
                closed["closed/f\(i)"] = content
                #expect(Sys.writeFile(v1 + "/closed/f\(i)", content) == .ok)
            }
            #expect(Sys.rename(v1 + "/closed/f0", v1 + "/closed/renamed") == .ok)
            closed["closed/renamed"] = closed.removeValue(forKey: "closed/f0")
            #expect(Sys.unlink(v1 + "/closed/f1") == .ok)
            closed.removeValue(forKey: "closed/f1")
            var synced: [String: [UInt8]] = [:]
            var openFds: [Int32] = []
            for i in 0..<4 {
                let content = patternBytes(count: 200_000 + i, seed: UInt64(200 + i))
                let fd = try Sys.open(v1 + "/synced\(i)", O_WRONLY | O_CREAT | O_TRUNC).get()
                #expect(Sys.writeAll(fd, content) == .ok)
                #expect(Outcome.of(fsync(fd)) == .ok)
                synced["synced\(i)"] = content
                openFds.append(fd)  // still open when the daemon dies
            }
            // Writes in flight while the daemon is killed.
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/bin/dd")
            writer.arguments = ["if=/dev/zero", "of=\(v1)/inflight", "bs=64k", "count=100000"]
            writer.standardError = FileHandle.nullDevice
            try writer.run()
            usleep(300_000)
            fs.kill9()
            #expect(Sys.listOutcome(fs.mountpoint) == .ENOTCONN, "a killed daemon leaves a dead mount")
            if !waitForExit(writer, timeout: 20) { kill(writer.processIdentifier, SIGKILL) }
            for fd in openFds { close(fd) }
            fs.lazyUnmount()

            try fs.start()
            for (name, content) in closed.merging(synced, uniquingKeysWith: { a, _ in a }) {
                let read = try Sys.readFile(v1 + "/" + name)
                #expect(read == content, "\(name): \(read.count) bytes read, \(content.count) written")
            }
            #expect(!Sys.exists(v1 + "/closed/f0"))
            #expect(!Sys.exists(v1 + "/closed/f1"))
            let ls = try Shell.run("ls -laR \(Shell.quote(fs.mountpoint)) > /dev/null && find \(Shell.quote(fs.mountpoint)) | wc -l")
            #expect(ls.succeeded, "\(ls)")
            _ = try fs.status("projects/p1/generations/g1/v1")
            _ = try fs.status("")
            // New writes work, also to files that existed before the crash.
            #expect(Sys.writeFile(v1 + "/after", "new") == .ok)
            #expect(try Sys.readText(v1 + "/after") == "new")
            try Shell.check("echo more >> \(Shell.quote(v1 + "/closed/f2"))")
            #expect(try Sys.readFile(v1 + "/closed/f2") == (closed["closed/f2"] ?? []) + Array("more\n".utf8))
            if Sys.exists(v1 + "/inflight") { #expect(Sys.unlink(v1 + "/inflight") == .ok) }
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
        }
    }

    @Test func kill9RightAfterATreeCopyKeepsEveryCreatedFile() throws {
        let source = try makeTemporaryDirectory(prefix: "mt-journal-src")
        defer { removeTree(source) }
        try Shell.check("git -C /opt/swift-packages/apple/swift-log.git archive 1.16.2 | tar -x -C \(Shell.quote(source))")
        try withMount(start: false) { fs in
            // An hour between catalog commits: every create below is only in the open batch and
            // the create journal when the daemon dies.
            fs.environmentOverrides = ["CATALOG_COMMIT_INTERVAL": "3600"]
            try fs.start()
            let v1 = try fs.makeVersion()
            try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(v1))/ && ln -s README.md \(Shell.quote(v1))/link")
            fs.kill9()
            fs.lazyUnmount()
            let created = Int(try Shell.check("find \(Shell.quote(source)) -mindepth 1 | wc -l").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0

            try fs.start()
            let log = try String(contentsOfFile: fs.logPath, encoding: .utf8)
            let restored = log.components(separatedBy: "restored ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
            #expect((restored ?? 0) > created, "every create (and cp's chmod and utimens) came from the journal: \(log)")
            #expect(log.contains("the last run did not stop cleanly"), "after a kill -9 sizes are checked against the blobs")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(v1)) -x status.json -x download_url -x link")
            let listing = "find . -mindepth 1 -not -name status.json -not -name download_url -not -name link -printf '%p %y %s %m %T@\\n' | sort"
            #expect(try Shell.check("cd \(Shell.quote(v1)) && \(listing)").stdout
                == (try Shell.check("cd \(Shell.quote(source)) && \(listing)").stdout), "modes and times set by cp -a")
            #expect(try Shell.check("readlink \(Shell.quote(v1))/link").stdout == "README.md\n")
            // The restored files are ordinary files again: they change, and a clean restart keeps them.
            try Shell.check("echo more >> \(Shell.quote(v1))/README.md && mkdir \(Shell.quote(v1))/after")
            #expect(try fs.stop() == 0)
            try fs.start()
            #expect(fs.logTail(1_000_000).components(separatedBy: "entries from the journal").count == 2, "one replay only")
            #expect(fs.logTail(1_000_000).components(separatedBy: "did not stop cleanly").count == 2,
                "a clean stop spares the next mount the check of every file's size")
            try Shell.check("tail -c 5 \(Shell.quote(v1))/README.md | grep -q more && test -d \(Shell.quote(v1))/after")
            try fs.waitForStatus("projects/p1/generations/g1/v1", "completed") { $0["status"] as? String == "completed" }
        }
    }

    /// Mounts with commits held back, runs `script` in a new version, kills the daemon (SIGKILL)
    /// before any commit and mounts again: `check` sees what the create journal restored. `blobs`:
    /// the files whose content is kept (the content of removed and replaced ones leaves at once).
    private func afterKill9BeforeAnyCommit(
        _ script: String, blobs: Int, label: String = #function, check: (MountedFS, String) throws -> Void
    ) throws {
        try withMount(label, start: false) { fs in
            fs.environmentOverrides = ["CATALOG_COMMIT_INTERVAL": "3600"]
            try fs.start()
            let v1 = try fs.makeVersion()
            try Shell.check("set -e\ncd \(Shell.quote(v1))\n" + script)
            #expect(try blobCount(fs) == "\(blobs)\n", "a removed or replaced file's content leaves the blobs at once")
            fs.kill9()
            try fs.start()
            #expect(fs.logTail(1_000_000).contains("entries from the journal"), "the changes were replayed from the journal")
            try check(fs, v1)
        }
    }

    private func blobCount(_ fs: MountedFS) throws -> String { "\(try fs.contentBlobs().count)\n" }

    /// Unlinks and rmdirs join the batch of creates (journaled, committed later): after a kill -9
    /// before any commit, the removed entries stay removed and their content is gone too.
    @Test func kill9AfterUnlinksAndRmdirsKeepsThemRemoved() throws {
        try afterKill9BeforeAnyCommit(
            """
            mkdir -p keep gone/deeper
            for i in $(seq 1 20); do echo "keep $i" > keep/f$i; echo "gone $i" > gone/deeper/f$i; done
            rm keep/f1 keep/f2
            rm -r gone
            ls > /dev/null; find . > /dev/null  # a listing of the version root commits nothing
            """, blobs: 18
        ) { fs, v1 throws in
            #expect(try Shell.check("cd \(Shell.quote(v1)) && ls -A | grep -v -e status.json -e download_url").stdout == "keep\n")
            #expect(try Shell.check("ls \(Shell.quote(v1))/keep | sort -V | tr '\\n' ' '").stdout
                == (3...20).map { "f\($0)" }.joined(separator: " ") + " ")
            #expect(try Sys.readText(v1 + "/keep/f20") == "keep 20\n")
            #expect(try blobCount(fs) == "18\n", "and it stays gone")
        }
    }

    /// Renames join the batch too: after a kill -9 before any commit, moved entries stay moved,
    /// a replaced file stays replaced (its content gone), and nothing is lost or duplicated.
    @Test func kill9AfterRenamesKeepsThemDone() throws {
        try afterKill9BeforeAnyCommit(
            """
            mkdir -p src/deep dst
            for i in $(seq 1 5); do echo "file $i" > src/deep/f$i; done
            echo old > target
            echo new > incoming.tmp
            mv incoming.tmp target
            mv src/deep dst/moved
            mv dst/moved/f1 dst/moved/first
            """, blobs: 6
        ) { fs, v1 throws in
            #expect(try Sys.readText(v1 + "/target") == "new\n")
            #expect(!FileManager.default.fileExists(atPath: v1 + "/incoming.tmp"))
            #expect(!FileManager.default.fileExists(atPath: v1 + "/src/deep"))
            #expect(try Shell.check("ls \(Shell.quote(v1))/dst/moved | sort | tr '\\n' ' '").stdout == "f2 f3 f4 f5 first ")
            #expect(try Sys.readText(v1 + "/dst/moved/first") == "file 1\n")
            #expect(try blobCount(fs) == "6\n", "the replaced file's content stays gone, the others kept")
        }
    }

    @Test func mountClearsDeadMountLeftByKill9() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", "before the crash") == .ok)
            fs.kill9()
            #expect(Sys.listOutcome(fs.mountpoint) == .ENOTCONN, "a killed daemon leaves a dead mount")
            // No fusermount3 here: the next mount must clear the dead one itself.
            try fs.start()
            let stacked = MountedFS.mountEntries(at: fs.mountpoint)
            #expect(stacked.count == 1, "mounts at the mountpoint: \(stacked.map { "id \($0.id) \($0.type)" })")
            #expect(try Sys.readText(v1 + "/f") == "before the crash")
            #expect(Sys.writeFile(v1 + "/g", "after") == .ok)
            if stacked.count == 1 {
                #expect(try fs.stop() == 0)
                #expect(MountedFS.mountedType(at: fs.mountpoint) == nil, "no stale mount remains below")
            }
        }
    }

    @Test func detachedMountReturnsOnceMountedAndExitsOnUnmount() throws {
        try withMount(start: false) { fs in
            let binary = try MountedFS.binaryPath()
            let result = try Shell.run(
                "\(Shell.quote(binary)) mount \(Shell.quote(fs.mountpoint)) --data \(Shell.quote(fs.dataDir))",
                environment: MountedFS.environment, timeout: 30)
            for pid in fs.daemonPids() { fs.adopt(pid: pid) }
            #expect(result.status == 0, "\(result)")
            // Mounted by the time the command returns: no waiting.
            #expect(MountedFS.mountedType(at: fs.mountpoint) == MountedFS.fsType)
            #expect(fs.daemonPids().count >= 1, "a daemon runs in the background")
            let log = fs.dataDir + "/codebegenfs.log"
            #expect(Sys.lstat(log)?.isFile == true, "the detached daemon logs to \(log)")
            #expect(Sys.lstat(log)?.perm == 0o600)

            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", "detached") == .ok)
            #expect(try Sys.readText(v1 + "/f") == "detached")

            let unmount = try Shell.run("fusermount3 -u \(Shell.quote(fs.mountpoint))")
            #expect(unmount.succeeded, "\(unmount)")
            let deadline = Date().addingTimeInterval(10)
            while !fs.daemonPids().isEmpty && Date() < deadline { usleep(50_000) }
            #expect(fs.daemonPids().isEmpty, "the daemon exits after fusermount3 -u")
            #expect(MountedFS.mountedType(at: fs.mountpoint) == nil)
            if let text = try? String(contentsOfFile: log, encoding: .utf8) {
                print("[detached] codebegenfs.log:\n\(text.suffix(2000))")
            }
        }
    }

    @Test func secondMountOnSameDataDirFailsWithLockMessage() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", "first mount") == .ok)
            let second = fs.root + "/mnt2"
            #expect(Sys.mkdir(second) == .ok)
            let binary = try MountedFS.binaryPath()
            let result = try Shell.run(
                "timeout -s KILL 20 \(Shell.quote(binary)) mount \(Shell.quote(second)) --foreground --data \(Shell.quote(fs.dataDir))",
                environment: MountedFS.environment, timeout: 30)
            if MountedFS.mountedType(at: second) != nil {
                _ = try? Shell.run("fusermount3 -u -z \(Shell.quote(second))")
            }
            #expect(result.status != 0, "\(result)")
            #expect(result.status != 137, "the second mount must fail on its own, not run until killed")
            let message = result.stderr + result.stdout
            #expect(message.contains("is in use by the mount at \(fs.mountpoint) (pid \(fs.pid ?? -1))"), "\(result)")
            // The first mount is untouched.
            #expect(fs.isMounted)
            #expect(try Sys.readText(v1 + "/f") == "first mount")
            #expect(Sys.writeFile(v1 + "/g", "still works") == .ok)
        }
    }

    @Test func dataDirectoryIsPrivate() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", patternBytes(count: 100_000, seed: 9)) == .ok)
            try Shell.check("setfattr -n user.model -v m \(Shell.quote(v1))")
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
            usleep(1_500_000)  // past WRITE_BACK_DELAY, so snapshots are written too
            #expect(Sys.lstat(fs.dataDir)?.perm == 0o700, "data dir mode")
            let data = try snapshotTree(fs.dataDir, TreeOptions(contents: false))
            #expect(data.count > 1)
            for (path, entry) in data.sorted(by: { $0.key < $1.key }) where !path.isEmpty {
                if entry.type == S_IFREG {
                    #expect(entry.perm == 0o600, "\(path) is \(String(entry.perm, radix: 8))")
                } else if entry.type == S_IFDIR {
                    #expect(entry.perm & 0o077 == 0, "\(path) is \(String(entry.perm, radix: 8))")
                }
            }
        }
    }

    @Test func fullDiskIsENOSPCAndKeepsClosedFiles() throws {
        let outer = try makeTemporaryDirectory(prefix: "mt-enospc")
        let tmpfs = outer + "/tmpfs"
        #expect(Glibc.mkdir(tmpfs, 0o755) == 0)
        try Shell.check("mount -t tmpfs -o size=16m tmpfs \(Shell.quote(tmpfs))")
        defer {
            _ = try? Shell.run("umount -l \(Shell.quote(tmpfs))")
            removeTree(outer)
        }
        try withMount(dataDir: tmpfs + "/data") { fs in
            let v1 = try fs.makeVersion()
            var written: [[UInt8]] = []
            var failure: (index: Int, step: String, outcome: Outcome)?
            for i in 0..<48 where failure == nil {
                let content = patternBytes(count: 1 << 20, seed: UInt64(300 + i))
                switch Sys.open(v1 + "/fill\(i)", O_WRONLY | O_CREAT | O_TRUNC) {
                case .failure(let e): failure = (i, "open", e.outcome)
                case .success(let fd):
                    let w = Sys.writeAll(fd, content)
                    let s = w == .ok ? Outcome.of(fsync(fd)) : .ok
                    let c = Outcome.of(close(fd))
                    if w != .ok {
                        failure = (i, "write", w)
                    } else if s != .ok {
                        failure = (i, "fsync", s)
                    } else if c != .ok {
                        failure = (i, "close", c)
                    } else {
                        written.append(content)
                    }
                }
            }
            let f = try #require(failure, "48 MiB written to a 16 MiB disk without an error")
            #expect(f.outcome == .ENOSPC, "file \(f.index): \(f.step) failed with \(f.outcome)")
            #expect(written.count >= 4, "only \(written.count) MiB fit before ENOSPC")
            for (i, content) in written.enumerated() {
                #expect(try Sys.readFile(v1 + "/fill\(i)") == content, "fill\(i) intact after ENOSPC")
            }
            let ls = try Shell.run("ls -la \(Shell.quote(v1))")
            #expect(ls.succeeded, "\(ls)")
            _ = try fs.status("projects/p1/generations/g1/v1")
        }
    }
}
