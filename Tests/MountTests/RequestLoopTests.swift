// The request loop (FuseAdapter/RequestLoop.swift): one thread reads and serves requests and stays
// awake briefly after each; a request stuck for long (a fetch from a bucket that stopped
// answering) hands reading to another thread; an idle mount sleeps; several processes at once are
// all served.
import Foundation
import Testing

@Suite(.serialized) struct RequestLoopTests {
    /// CPU seconds (user + system) the process has used so far.
    static func cpuSeconds(_ pid: pid_t) throws -> Double {
        guard let fields = processStatFields(pid), fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12])
        else { throw TestFailure("cannot read the CPU times in /proc/\(pid)/stat") }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func createFiles(_ directory: String, count: Int, tag: String) throws {
        try Shell.python(
            """
            import os, sys
            root, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
            os.makedirs(root, exist_ok=True)
            for i in range(n):
                fd = os.open(f"{root}/f{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, f"{tag} {i}\\n".encode())
                os.close(fd)
            """, directory, String(count), tag)
    }

    @Test func aFetchThatHangsDoesNotHoldUpOtherRequests() throws {
        let server = try StorageServerProcess()
        try RemoteReadTests.withCleanedUpVersion(server: server) { fs, source, version in
            let local = try fs.makeVersion(generation: "g2")
            let scratch = try makeTemporaryDirectory(prefix: "mt-rl")
            defer { removeTree(scratch) }
            server.pause()
            defer { server.resume() }
            let started = try Shell.check(
                "cat \(Shell.quote(version))/big3.bin > \(Shell.quote(scratch))/big3 2>\(Shell.quote(scratch))/err & echo $!")
            let cat = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            usleep(500_000)
            let catErrors = (try? Sys.readText(scratch + "/err")) ?? ""
            #expect(!processHasExited(cat), "cat of a file only in a stopped bucket ended: \(catErrors)")

            // Meanwhile the mount answers everything else at once.
            let begin = Date()
            try Self.createFiles(local + "/tree", count: 300, tag: "local")
            #expect(Sys.list(local + "/tree")?.count == 300)
            #expect(try Sys.readText(local + "/tree/f299") == "local 299\n")
            let took = Date().timeIntervalSince(begin)
            #expect(took < 5, "300 creates and a listing took \(took) s while a fetch hung")
            #expect(!processHasExited(cat), "the hung fetch ended before the bucket answered again")

            // Once the bucket answers, the waiting read completes with the right bytes.
            server.resume()
            let deadline = Date().addingTimeInterval(60)
            while !processHasExited(cat), Date() < deadline { usleep(100_000) }
            #expect(processHasExited(cat), "cat still waits after the bucket answered again")
            try Shell.check("cmp \(Shell.quote(source))/big3.bin \(Shell.quote(scratch))/big3")
        }
    }

    @Test func anIdleMountSpendsNoCPU() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["WRITE_BACK_DELAY": "600"]  // no packing while it is measured
            try fs.start()
            let version = try fs.makeVersion()
            try Self.createFiles(version + "/tree", count: 2000, tag: "busy")
            guard let pid = fs.pid else { throw TestFailure("the daemon is not running") }
            sleep(1)
            let before = try Self.cpuSeconds(pid)
            sleep(3)
            let used = try Self.cpuSeconds(pid) - before
            // A thread still reading without sleeping would use 3 s here.
            #expect(used < 0.3, "the idle daemon used \(used) s of CPU in 3 s")
            #expect(Sys.list(version + "/tree")?.count == 2000)
        }
    }

    /// With the default spin and with none (REQUEST_SPIN_MICROSECONDS=0: the reader sleeps after every request).
    @Test(arguments: ["100", "0"]) func fourProcessesAtOnceAreAllServed(spin: String) throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["REQUEST_SPIN_MICROSECONDS": spin]
            try fs.start()
            let version = try fs.makeVersion()
            try Shell.check(
                """
                set -e
                for p in 1 2 3 4; do
                  ( mkdir \(Shell.quote(version))/p$p
                    for i in $(seq 200); do echo "$p $i" > \(Shell.quote(version))/p$p/f$i; done
                    for i in $(seq 200); do [ "$(cat \(Shell.quote(version))/p$p/f$i)" = "$p $i" ] || exit 1; done ) &
                done
                for job in $(jobs -p); do wait $job; done
                """, timeout: 120)
            #expect(try Shell.check("find \(Shell.quote(version)) -type f -path '*/p*/f*' | wc -l").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines) == "800")
        }
    }
}
