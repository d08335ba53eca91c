// Runs shell tools (cp, tar, diff, git, setfattr ...) the way a user would, with a time limit.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct ShellResult: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    let command: String

    var succeeded: Bool { status == 0 }
    var description: String {
        "`\(command)` exited \(status)\nstdout: \(stdout.suffix(2000))\nstderr: \(stderr.suffix(2000))"
    }
}

enum Shell {
    /// Runs `command` with `bash -c`, output captured through files (no pipe can fill up).
    /// Throws if it runs longer than `timeout` seconds (after killing it).
    ///
    /// Spawned with posix_spawn, not Foundation's Process: Process learns of a child's exit
    /// through a socket the child inherits, so a daemon started by the command (the detached
    /// mount) would keep it from ever seeing the exit. Here every descriptor above 2 is closed.
    @discardableResult
    static func run(
        _ command: String, cwd: String? = nil, environment: [String: String] = [:], timeout: Double = 120
    ) throws -> ShellResult {
        let scratch = try makeTemporaryDirectory(prefix: "mt-sh")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outPath = scratch + "/out"
        let errPath = scratch + "/err"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = addCloseFrom(&actions, 3)
        if let cwd { _ = addChdir(&actions, cwd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        let arguments: [String] = ["/bin/bash", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw TestFailure("posix_spawn bash failed: \(Outcome(code: spawned))") }

        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw TestFailure("waitpid failed: \(Outcome(code: errno))") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw TestFailure("`\(command)` did not finish within \(timeout) s")
            }
            usleep(5_000)
        }
        let exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ShellResult(
            status: exitCode,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            command: command)
    }

    /// Runs `command` and throws with its output unless it exits 0.
    @discardableResult
    static func check(
        _ command: String, cwd: String? = nil, environment: [String: String] = [:], timeout: Double = 120
    ) throws -> ShellResult {
        let result = try run(command, cwd: cwd, environment: environment, timeout: timeout)
        guard result.succeeded else { throw TestFailure(result.description) }
        return result
    }

    /// Runs a Python script with `arguments` (quoted here); throws if it fails. Returns its output.
    @discardableResult
    static func python(_ script: String, _ arguments: String...) throws -> String {
        try check("python3 - \(arguments.map(quote).joined(separator: " ")) <<'PY'\n\(script)\nPY").stdout
    }

    /// Single-quotes `s` for bash.
    static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

// glibc's *_np spawn actions are hidden from the Glibc module (they need _GNU_SOURCE): bind them.
private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

private func libcSymbol<T>(_ name: String, as type: T.Type) -> T {
    guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { fatalError("libc has no \(name)") }
    return unsafeBitCast(sym, to: type)
}

private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) -> Int32 {
    libcSymbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self)(actions, fd)
}

private func addChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
    libcSymbol("posix_spawn_file_actions_addchdir_np", as: Chdir.self)(actions, path)
}

/// Polls until `process` exits; false when `timeout` seconds pass first.
func waitForExit(_ process: Process, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline { return false }
        usleep(10_000)
    }
    process.waitUntilExit()
    return true
}

/// A fresh directory under /tmp (mkdtemp).
func makeTemporaryDirectory(prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard let result = mkdtemp(&template) else {
        throw TestFailure("mkdtemp failed: \(Outcome(code: errno))")
    }
    return String(cString: result)
}

/// Removes a directory tree, making read-only parts writable first (sealed copies, chmod a-w).
func removeTree(_ path: String) {
    _ = try? Shell.run("chmod -R u+w \(Shell.quote(path)) 2>/dev/null; rm -rf \(Shell.quote(path))", timeout: 60)
}
