// Runs real tools (tar, gzip, python3, git) for the tests and returns their output.
import Foundation

struct ShellResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Shell {
    /// Runs `/bin/sh -c command`; stdout/stderr are captured through temporary files.
    @discardableResult
    static func run(_ command: String, check: Bool = true) throws -> ShellResult {
        let directory = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        let outURL = directory.appendingPathComponent("sh-\(id).out")
        let errURL = directory.appendingPathComponent("sh-\(id).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C.UTF-8"
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        let result = ShellResult(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        )
        if check && result.status != 0 {
            throw TestFailure("`\(command)` exited \(result.status): \(result.stderr.prefix(2000))")
        }
        return result
    }

    /// Single-quotes a string for /bin/sh.
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
