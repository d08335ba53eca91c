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
    @discardableResult
    static func run(
        _ command: String, cwd: String? = nil, environment: [String: String] = [:], timeout: Double = 120
    ) throws -> ShellResult {
        let scratch = try makeTemporaryDirectory(prefix: "mt-sh")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outPath = scratch + "/out"
        let errPath = scratch + "/err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? out.close()
            try? err.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if !waitForExit(process, timeout: timeout) {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestFailure("`\(command)` did not finish within \(timeout) s")
        }
        return ShellResult(
            status: process.terminationStatus,
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

    /// Single-quotes `s` for bash.
    static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
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
