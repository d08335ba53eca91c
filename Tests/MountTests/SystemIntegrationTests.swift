// Mounting the way a system does it (issue: mount lifecycle): an fstab line through mount(8)
// and mount.fuse3, `umount` through the helper link, `-o` options and their errors, and
// systemd's readiness protocol with the unit shipped in docs/systemd.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct SystemIntegrationTests {
    /// mount(8) finds `codebegenfs` on the default PATH and umount(8) finds /sbin/umount.fuse.codebegenfs,
    /// as `./mount --install` puts them. The test lays both over /usr/sbin with an overlay in a private
    /// mount namespace, so the machine itself is not changed.
    @Test func anFstabLineMountsWithMountAndUmountWaitsForTheDaemon() throws {
        try withMount(start: false) { fs in
            let binary = try MountedFS.binaryPath()
            let extra = fs.root + "/sbin-extra"
            try Shell.check(
                "mkdir \(Shell.quote(extra)) && ln -s \(Shell.quote(binary)) \(Shell.quote(extra))/codebegenfs "
                    + "&& ln -s \(Shell.quote(binary)) \(Shell.quote(extra))/umount.fuse.codebegenfs")
            #expect(Sys.writeFile(fs.root + "/env", "USE_CLOUD_STORAGE=false\nWRITE_BACK_DELAY=0.5\n") == .ok)
            let fstab = fs.root + "/fstab"
            #expect(Sys.writeFile(
                fstab,
                "codebegenfs \(fs.mountpoint) fuse.codebegenfs defaults,data=\(fs.dataDir),env_file=\(fs.root)/env,"
                    + "noatime,nosuid,_netdev,wait=60 0 0\n") == .ok)
            let script = """
                set -eu
                mount -t overlay overlay -o lowerdir=\(Shell.quote(extra)):/usr/sbin /usr/sbin
                trap 'umount -l \(Shell.quote(fs.mountpoint)) 2>/dev/null || true' EXIT
                mount -T \(Shell.quote(fstab)) \(Shell.quote(fs.mountpoint))
                echo "options: $(awk '$2 == "\(fs.mountpoint)" { print $3 " " $4 }' /proc/self/mounts)"
                v1=\(Shell.quote(fs.mountpoint))/projects/p1/generations/g1/v1
                mkdir -p "$v1"
                echo from-fstab > "$v1/a.txt"
                echo "cloud: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cloud_storage_enabled"])' \(Shell.quote(fs.mountpoint))/status.json)"
                pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["daemon"]["pid"])' \(Shell.quote(fs.mountpoint))/status.json)
                umount \(Shell.quote(fs.mountpoint))
                # Gone, or a zombie (exited, not yet reaped by whoever adopted the detached daemon).
                state=$(awk '{ print $3 }' /proc/$pid/stat 2>/dev/null || true)
                if [ -z "$state" ] || [ "$state" = Z ]; then echo "daemon exited with umount"; else echo "daemon $pid still running ($state)"; fi
                mount -T \(Shell.quote(fstab)) \(Shell.quote(fs.mountpoint))
                echo "after remount: $(cat "$v1/a.txt")"
                umount \(Shell.quote(fs.mountpoint))
                """
            #expect(Sys.writeFile(fs.root + "/script.sh", script) == .ok)
            let result = try Shell.run(
                "unshare -m --propagation private bash \(Shell.quote(fs.root))/script.sh", environment: ["PATH": "/usr/bin:/bin"],
                timeout: 120)
            #expect(result.status == 0, "\(result)\n\(fs.logTail())")
            #expect(result.stdout.contains("options: fuse.codebegenfs rw,nosuid,"), "\(result)")
            #expect(result.stdout.contains(",noatime,"), "\(result)")
            #expect(result.stdout.contains("cloud: False"), "the env file was read: \(result)")
            #expect(result.stdout.contains("unmounted \(fs.mountpoint): codebegenfs (pid"), "umount ran the helper: \(result)")
            #expect(result.stdout.contains("daemon exited with umount"), "\(result)")
            #expect(result.stdout.contains("after remount: from-fstab"), "\(result)")
        }
    }

    @Test func badMountOptionsAreRefusedByName() throws {
        let binary = Shell.quote(try MountedFS.binaryPath())
        let dir = try makeTemporaryDirectory(prefix: "mt-options")
        defer { removeTree(dir) }
        let cases: [(String, String)] = [
            ("\(binary) mount \(dir)/mnt -o data=\(dir)/d,frobnicate", "unknown mount option 'frobnicate'"),
            ("\(binary) mount \(dir)/mnt -o allow_other=yes", "mount option 'allow_other' takes no value"),
            ("\(binary) mount \(dir)/mnt -o wait=soon", "mount option 'wait' must be a number of seconds, not 'soon'"),
            ("\(binary) mount \(dir)/mnt -o data", "mount option 'data' needs a value"),
            // The form mount.fuse3 uses for fstab lines.
            ("\(binary) codebegenfs \(dir)/mnt -o rw,dev,suid,bogus=1", "unknown mount option 'bogus=1'"),
            ("\(binary) mount \(dir)/mnt -o env_file=\(dir)/missing.env", "cannot read the env file \(dir)/missing.env"),
        ]
        for (command, message) in cases {
            let result = try Shell.run(command, environment: MountedFS.environment)
            #expect(result.status == 64, "\(command): \(result)")
            #expect(result.stderr.contains(message), "\(command): \(result)")
        }
        #expect(Sys.list(dir) == [], "nothing was created or mounted: \(Sys.list(dir) ?? [])")
    }

    @Test func systemdHearsReadyOnceMountedAndStoppingWhenUnmounted() throws {
        let listener = try NotifySocket()
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["NOTIFY_SOCKET": listener.path]
            try fs.start()
            let ready = try #require(listener.receive(timeout: 10), "no notification within 10 s")
            #expect(ready.contains("READY=1"), "\(ready)")
            #expect(ready.contains("MAINPID=\(fs.pid ?? -1)"), "\(ready)")
            #expect(ready.contains("STATUS=mounted at \(fs.mountpoint)"), "\(ready)")
            #expect(try fs.stop() == 0)
            var messages: [String] = []
            while let message = listener.receive(timeout: 2) { messages.append(message) }
            #expect(messages.first?.contains("STOPPING=1") == true, "\(messages)")
        }
    }

    @Test func theShippedUnitFileVerifies() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/systemd/codebegenfs.service").path
        let unit = try String(contentsOfFile: docs, encoding: .utf8)
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("ExecStop=/usr/local/bin/codebegenfs unmount /srv/gen"))
        #expect(!unit.contains("Environment=SUPABASE_SERVICE_KEY"), "the key belongs in the environment file, not the unit")
        let dir = try makeTemporaryDirectory(prefix: "mt-unit")
        defer { removeTree(dir) }
        // systemd-analyze checks that the commands exist: point them at the built binary.
        let local = unit.replacingOccurrences(of: "/usr/local/bin/codebegenfs", with: try MountedFS.binaryPath())
        #expect(Sys.writeFile(dir + "/codebegenfs.service", local) == .ok)
        let result = try Shell.run("systemd-analyze verify \(Shell.quote(dir))/codebegenfs.service")
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.isEmpty && result.stdout.isEmpty, "systemd-analyze complained: \(result)")
    }
}

/// A datagram socket standing in for systemd's $NOTIFY_SOCKET.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path = try makeTemporaryDirectory(prefix: "mt-notify") + "/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw TestFailure("cannot bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(fd)
        removeTree((path as NSString).deletingLastPathComponent)
    }

    /// The next message, or nil after `timeout` seconds.
    func receive(timeout: Double) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }
}
