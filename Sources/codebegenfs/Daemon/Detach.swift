// Detaching: the mount re-executes itself with --foreground in a new session (fork() is unsafe
// once Swift runtime threads exist), its output appended to the log, and waits on a pipe until
// the child reports "ready" or an error, printing its "note: …" lines (what it waits for) meanwhile.
import ArgumentParser
import Foundation
import GenerationStore
import SystemPackage

/// glibc's POSIX_SPAWN_SETSID, hidden from Swift behind _GNU_SOURCE: the child starts a new session,
/// so the terminal's signals (Ctrl-C) do not reach the daemon.
private let posixSpawnSetsid: Int16 = 0x80

/// glibc's posix_spawn_file_actions_addclosefrom_np, also hidden behind _GNU_SOURCE: the daemon
/// must not keep descriptors its caller happened to have open (a caller reading one to EOF would hang).
private func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let libc = dlopen(nil, RTLD_NOW), let symbol = dlsym(libc, "posix_spawn_file_actions_addclosefrom_np") else {
        return
    }
    _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, lowest)
}

enum Daemon {
    static func start(settings: MountSettings, configuration: Configuration) throws {
        let mountpoint = settings.mountpoint
        let dataDirectory = try DataDirectory(FilePath(configuration.dataDirectory))
        let log = try FileDescriptor.open(
            dataDirectory.logPath, .writeOnly, options: [.create, .append, .closeOnExec], permissions: [.ownerReadWrite])
        defer { try? log.close() }
        var pipeEnds: [Int32] = [0, 0]
        // Close-on-exec: only the dup2'd copy (fd 3) may reach the child, or the parent never sees EOF.
        guard pipe(&pipeEnds) == 0 else { throw CommandFailure("pipe failed: \(String(cString: strerror(errno)))") }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let readyFd: Int32 = 3

        let arguments = [executablePath()] + settings.daemonArguments(dataDirectory: configuration.dataDirectory)
            + ["--ready-fd", String(readyFd)]

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, log.rawValue, 2)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], readyFd)
        addCloseFrom(&actions, readyFd + 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, posixSpawnSetsid)

        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var child: pid_t = 0
        // The child inherits the environment, so the service key never appears in its argv.
        let spawned = posix_spawn(&child, arguments[0], &actions, &attributes, cArguments, environ)
        close(pipeEnds[1])
        defer { close(pipeEnds[0]) }
        guard spawned == 0 else { throw CommandFailure("could not start the daemon: \(String(cString: strerror(spawned)))") }

        let reader = LineReader(fd: pipeEnds[0])
        var message = ""
        while case .line(let line) = reader.next(until: .distantFuture) {
            guard line.hasPrefix("note: ") else {
                message = line
                break
            }
            FileHandle.standardError.write(Data((line.dropFirst("note: ".count) + "\n").utf8))
        }
        if message == "ready" {
            print("mounted \(mountpoint) (daemon pid \(child), log \(dataDirectory.logPath))")
            return
        }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        throw CommandFailure(
            message.isEmpty
                ? "the daemon exited before mounting; see \(dataDirectory.logPath)"
                : String(message.trimmingPrefix("error: ")))
    }

    /// Tells the parent waiting in `start` what the daemon waits for, or (`final`) how mounting
    /// went, which closes the pipe. Newlines inside a message would split it: they become spaces.
    static func report(_ ready: FileDescriptor?, _ message: String, final: Bool) {
        guard let ready else { return }
        let line = message.replacingOccurrences(of: "\n", with: " ") + "\n"
        _ = try? ready.writeAll(Array(line.utf8))
        if final { try? ready.close() }
    }

    private static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
