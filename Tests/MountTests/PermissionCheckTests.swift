// Who checks mode bits. With --allow-other other users come in and the kernel checks their rights
// (default_permissions); without it only root, the mounting user, may enter, and the mount leaves
// out the kernel's checks, which root passes anyway, to save a request per created file, unless
// `-o default_permissions` asks for them.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Permission checks")
struct PermissionCheckTests {
    @Test func aRootOnlyMountActsOnModeBitsAsRootDoesOnExt4() throws {
        try withMount { fs in
            #expect(try !superOptions(of: fs).contains("default_permissions"))
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/read-only.txt", "before\n", mode: 0o444) == .ok)
            #expect(Sys.openOutcome(v1 + "/read-only.txt", O_WRONLY | O_APPEND) == .ok, "root writes a 0444 file")
            #expect(Sys.writeFile(v1 + "/script.sh", "#!/bin/sh\necho ran\n", mode: 0o644) == .ok)
            let notExecutable = try Shell.run(Shell.quote(v1 + "/script.sh"))
            #expect(notExecutable.status == 126, "\(notExecutable)")
            #expect(notExecutable.stderr.contains("Permission denied"), "\(notExecutable)")
            #expect(Sys.chmod(v1 + "/script.sh", 0o755) == .ok)
            #expect(try Shell.run(Shell.quote(v1 + "/script.sh")).stdout == "ran\n")
        }
    }

    @Test func withAllowOtherOtherUsersGetOnlyWhatTheModeBitsGive() throws {
        try withMount(start: false) { fs in
            try fs.start(extraArguments: ["--allow-other"])
            #expect(try superOptions(of: fs).contains("default_permissions"))
            #expect(Glibc.chmod(fs.root, 0o755) == 0, "so that nobody can reach the mountpoint")
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/mine.txt", "root's\n", mode: 0o644) == .ok)
            let asNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
            let read = try run(asNobody, "cat \(Shell.quote(v1))/mine.txt")
            #expect(read.status == 0 && read.stdout == "root's\n", "\(read)")
            let write = try run(asNobody, "echo theirs >> \(Shell.quote(v1))/mine.txt")
            #expect(write.status != 0 && write.stderr.contains("Permission denied"), "\(write)")
            let create = try run(asNobody, "echo new > \(Shell.quote(v1))/new.txt")
            #expect(create.status != 0 && create.stderr.contains("Permission denied"), "\(create)")
            #expect(try Sys.readText(v1 + "/mine.txt") == "root's\n")
            #expect(!Sys.exists(v1 + "/new.txt"))
        }
    }

    /// Mounted the way an fstab line does, detached, so the option also reaches the daemon it starts.
    @Test func dashODefaultPermissionsKeepsTheChecksForARootWithoutDACOverride() throws {
        try withMount(start: false) { fs in
            let mount = try Shell.run(
                "\(Shell.quote(try MountedFS.binaryPath())) mount \(Shell.quote(fs.mountpoint)) "
                    + "--data \(Shell.quote(fs.dataDir)) -o default_permissions",
                environment: MountedFS.environment, timeout: 30)
            for pid in fs.daemonPids() { fs.adopt(pid: pid) }
            #expect(mount.status == 0, "\(mount)")
            #expect(try superOptions(of: fs).filter { $0 == "default_permissions" }.count == 1)
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/read-only.txt", "kept\n", mode: 0o444) == .ok)
            let withoutOverride = "setpriv --inh-caps=-dac_override --bounding-set=-dac_override"
            let write = try run(withoutOverride, "echo more >> \(Shell.quote(v1))/read-only.txt")
            #expect(write.status != 0 && write.stderr.contains("Permission denied"), "\(write)")
            #expect(try Sys.readText(v1 + "/read-only.txt") == "kept\n")
            #expect(Sys.openOutcome(v1 + "/read-only.txt", O_WRONLY | O_APPEND) == .ok, "full root still writes it")
        }
    }

    /// The options the kernel reports for the mount's file system.
    private func superOptions(of fs: MountedFS) throws -> [String] {
        guard let entry = MountedFS.mountEntry(at: fs.mountpoint) else {
            throw TestFailure("nothing is mounted at \(fs.mountpoint)")
        }
        return entry.superOptions
    }

    /// Runs `script` with sh under `setpriv` (another user, or fewer capabilities).
    private func run(_ setpriv: String, _ script: String) throws -> ShellResult {
        try Shell.run("\(setpriv) sh -c \(Shell.quote(script))")
    }
}
