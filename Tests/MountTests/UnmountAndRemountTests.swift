// Unmount that waits, and a remount at once (issue: mount lifecycle): `codebegenfs unmount`
// returns only after the daemon has finished its snapshot, saved and exited; a mount started
// while an earlier daemon on the same data directory is still saving waits for it.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct UnmountAndRemountTests {
    static let files = 6000

    /// A version big enough that packing it takes seconds in a debug build; returns once its
    /// snapshot is being packed (the archive's temporary file exists).
    private func startPacking(_ fs: MountedFS) throws -> String {
        let v1 = try fs.makeVersion()
        try Shell.check(
            """
            python3 -c '
            import os, sys
            root = sys.argv[1]
            for d in range(30):
                os.mkdir(f"{root}/d{d}")
                for f in range(\(Self.files / 30)):
                    with open(f"{root}/d{d}/f{f}.txt", "w") as out: out.write("x" * 100)
            ' \(Shell.quote(v1))
            """, timeout: 120)
        let packing = fs.dataDir + "/archives/projects/p1/generations/g1/v1.tar.gz.tmp"
        let deadline = Date().addingTimeInterval(30)
        while !Sys.exists(packing) {
            guard Date() < deadline else { throw TestFailure("no snapshot started within 30 s\n\(fs.logTail())") }
            usleep(10_000)
        }
        return v1
    }

    /// The archive of v1 is complete: no temporary file, and every file is in it.
    private func expectCompleteArchive(_ fs: MountedFS) throws {
        let archive = fs.dataDir + "/archives/projects/p1/generations/g1/v1.tar.gz"
        #expect(!Sys.exists(archive + ".tmp"), "packing left its temporary file")
        let listed = try Shell.check("tar -tzf \(Shell.quote(archive)) | grep -c 'f[0-9]*.txt$'").stdout
        #expect(listed == "\(Self.files)\n", "files in the archive: \(listed)")
    }

    @Test func unmountReturnsOnceTheDaemonHasFinishedItsSnapshotAndExited() throws {
        try withMount { fs in
            let v1 = try startPacking(fs)
            let pid = try #require(fs.pid)
            let result = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) unmount \(Shell.quote(fs.mountpoint))", timeout: 120)
            // Checked before anything else can happen: the command has returned.
            let exited = processHasExited(pid)
            #expect(result.status == 0, "\(result)")
            #expect(exited, "the daemon still runs after unmount returned")
            #expect(result.stderr.contains("packing v1 of g1 (project p1): "), "what it waited for: \(result)")
            #expect(result.stdout.contains("codebegenfs (pid \(pid)) saved everything and exited"), "\(result)")
            #expect(!fs.isMounted)
            try expectCompleteArchive(fs)

            // A remount at once works, and the version is as written.
            try fs.start()
            #expect(try Sys.readText(v1 + "/d29/f0.txt") == String(repeating: "x", count: 100))
            #expect(try fs.status("projects/p1/generations/g1/v1")["status"] as? String == "completed")
        }
    }

    @Test func aMountStartedWhileTheEarlierDaemonSavesWaitsForIt() throws {
        try withMount { fs in
            let v1 = try startPacking(fs)
            let earlier = try #require(fs.pid)
            let result = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) unmount --no-wait \(Shell.quote(fs.mountpoint))")
            #expect(result.status == 0, "\(result)")
            #expect(!processHasExited(earlier), "with --no-wait the command returns while the daemon still packs")
            try fs.start()
            #expect(processHasExited(earlier), "the new mount was up before the earlier daemon had exited")
            let log = fs.logTail(1_000_000)
            #expect(log.contains("waiting up to 300 s for codebegenfs (pid \(earlier)) to finish saving"), "\(log)")
            try expectCompleteArchive(fs)
            #expect(try Sys.readText(v1 + "/d0/f1.txt") == String(repeating: "x", count: 100))
        }
    }

    @Test func pastItsTimeoutUnmountSaysWhatIsStillRunningAndAWaitingMountGivesUpAtItsLimit() throws {
        try withMount { fs in
            _ = try startPacking(fs)
            let earlier = try #require(fs.pid)
            let binary = try MountedFS.binaryPath()
            let result = try Shell.run("\(Shell.quote(binary)) unmount --timeout 0.3 \(Shell.quote(fs.mountpoint))")
            #expect(result.status == 3, "\(result)")
            #expect(result.stderr.contains("codebegenfs (pid \(earlier)) is still running after"), "\(result)")
            #expect(result.stderr.contains("packing v1 of g1"), "\(result)")

            let waiting = try Shell.run(
                "\(Shell.quote(binary)) mount \(Shell.quote(fs.mountpoint)) --foreground --data \(Shell.quote(fs.dataDir)) --wait 0.5",
                environment: MountedFS.environment, timeout: 60)
            #expect(waiting.status != 0, "\(waiting)")
            #expect(waiting.stderr.contains("codebegenfs (pid \(earlier)) still holds the data directory"), "\(waiting)")
            #expect(waiting.stderr.contains("--wait SECONDS"), "\(waiting)")
            #expect(MountedFS.mountedType(at: fs.mountpoint) == nil, "the mount that gave up mounted nothing")

            let deadline = Date().addingTimeInterval(60)
            while !processHasExited(earlier), Date() < deadline { usleep(50_000) }
            #expect(processHasExited(earlier), "the earlier daemon finishes on its own")
            try expectCompleteArchive(fs)
        }
    }

    /// A data directory whose path is too long for a Unix socket: the mount works without its
    /// control socket, says so in the log, and `unmount` still waits, by watching the daemon's pid.
    @Test func withoutAControlSocketUnmountStillWaitsForTheDaemon() throws {
        let outer = try makeTemporaryDirectory(prefix: "mt-longdata")
        defer { removeTree(outer) }
        let data = outer + "/" + String(repeating: "d", count: 120)
        try withMount(dataDir: data) { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/a.txt", "kept\n") == .ok)
            #expect(fs.logTail().contains("no control socket"), "\(fs.logTail())")
            let pid = try #require(fs.pid)
            let result = try Shell.run("\(Shell.quote(try MountedFS.binaryPath())) unmount \(Shell.quote(fs.mountpoint))")
            #expect(result.status == 0, "\(result)")
            #expect(processHasExited(pid), "unmount returned before the daemon exited")
            #expect(result.stdout.contains("saved everything and exited"), "\(result)")
            try fs.start()
            #expect(try Sys.readText(v1 + "/a.txt") == "kept\n")
        }
    }

    @Test func unmountRefusesWhatIsNotACodebegenfsMount() throws {
        let dir = try makeTemporaryDirectory(prefix: "mt-notmounted")
        defer { removeTree(dir) }
        let binary = Shell.quote(try MountedFS.binaryPath())
        let result = try Shell.run("\(binary) unmount \(Shell.quote(dir))")
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("\(dir) is not mounted"), "\(result)")
        let proc = try Shell.run("\(binary) unmount /proc")
        #expect(proc.status == 1 && proc.stderr.contains("/proc is a proc mount, not codebegenfs"), "\(proc)")
        #expect(Sys.exists("/proc/self"), "/proc is still mounted")
    }
}

/// Whether `pid` has exited: gone, or a zombie its parent has not reaped yet.
func processHasExited(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    guard let state = processStatFields(pid)?.first else { return true }
    return state == "Z"
}

/// The fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold
/// spaces): the state first, user and system CPU ticks 12th and 13th; nil when the process is gone.
func processStatFields(_ pid: pid_t) -> [Substring]? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
    else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ")
}
