// `codebegenfs unmount`: unmounts, then follows the daemon on its control socket and returns
// once it has saved and exited, showing what it waits for.
import ArgumentParser
import Foundation
import GenerationStore
import SystemPackage

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmount, and wait until the daemon has saved everything and exited.")

    @Argument(help: "The mountpoint.")
    var mountpoint: String

    @Flag(help: "Detach even while files are open (lazy unmount); the daemon exits once they are closed.")
    var lazy = false

    @Flag(help: "Return as soon as the kernel has let go, without waiting for the daemon.")
    var noWait = false

    @Option(help: "Seconds to wait for the daemon; then say what it still does and exit with status 3.")
    var timeout: Double = 600

    func run() throws {
        let mountpoint = absolutePath(self.mountpoint)
        guard let type = MountTable.entries().last(where: { $0.mountpoint == mountpoint })?.type else {
            throw CommandFailure("\(mountpoint) is not mounted")
        }
        guard type == MountTable.fsType else { throw CommandFailure("\(mountpoint) is a \(type) mount, not codebegenfs") }
        let flags = lazy ? ["-u", "-z"] : ["-u"]
        // Connect before unmounting, so the whole shutdown is seen.
        let daemon = noWait ? nil : RunningDaemon.find(at: mountpoint)
        let started = Date()
        let status = runTool("/bin/fusermount3", flags + [mountpoint])
        if status != 0 { throw ExitCode(status) }
        guard let daemon else {
            if !noWait { printError("unmounted \(mountpoint), but cannot follow its daemon: not waiting") }
            return
        }
        let outcome = daemon.waitForExit(until: started.addingTimeInterval(timeout)) { printError("  \($0)") }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        switch outcome {
        case .exited:
            print("unmounted \(mountpoint): codebegenfs (pid \(daemon.pid)) saved everything and exited in \(seconds) s")
        case .stillRunning(let doing):
            printError(
                "codebegenfs (pid \(daemon.pid)) is still running after \(seconds) s"
                    + (doing.isEmpty ? "" : ": \(doing.joined(separator: "; "))") + "; it goes on in the background")
            throw ExitCode(3)
        }
    }
}

/// A mounted daemon found through its mount's root status.json, with its control channel open.
struct RunningDaemon {
    let pid: pid_t
    let channel: ControlClient?

    static func find(at mountpoint: String) -> RunningDaemon? {
        guard let data = FileManager.default.contents(atPath: mountpoint + "/status.json"),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let daemon = root["daemon"] as? [String: Any], let pid = daemon["pid"] as? Int,
            let directory = daemon["data_directory"] as? String
        else { return nil }
        let socket = DataDirectory.controlSocketPath(in: FilePath(directory)).string
        return RunningDaemon(pid: pid_t(pid), channel: try? ControlClient(socketPath: socket))
    }

    enum Outcome {
        case exited
        case stillRunning(doing: [String])
    }

    /// Follows the daemon's reports until it has exited; `say` hears each change of what it does.
    func waitForExit(until deadline: Date, say: (String) -> Void) -> Outcome {
        var progress = ProgressLines()
        if let channel {
            following: while true {
                switch channel.next(until: deadline) {
                case .report(let report):
                    if let line = progress.line(for: report.doing) { say(line) }
                case .closed: break following
                case .timedOut: return .stillRunning(doing: channel.last?.doing ?? [])
                }
            }
        }
        // The channel closes just before the process ends; without a channel, this is all there is.
        while !processHasExited(pid) {
            if Date() >= deadline { return .stillRunning(doing: channel?.last?.doing ?? []) }
            usleep(20_000)
        }
        return .exited
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
