// One daemon per data directory. A mount started while an earlier daemon on the same directory
// is still saving after its unmount waits for it (following its progress on the control socket),
// up to a limit; a directory whose daemon still serves a mount is refused, naming its pid.
import Foundation
import GenerationStore
import SystemPackage

/// What a daemon writes into the data directory's lock file.
struct LockHolder: Codable {
    var pid: Int32
    var mountpoint: String
}

enum DataDirectoryLock {
    /// Takes the lock of `dataDirectory` for a daemon mounting at `mountpoint`. `note` hears what it waits for.
    static func acquire(
        _ dataDirectory: DataDirectory, mountpoint: String, waitLimit: Double, note: (String) -> Void
    ) throws -> FileDescriptor {
        let me = String(decoding: try JSONEncoder().encode(LockHolder(pid: getpid(), mountpoint: mountpoint)), as: UTF8.self)
        let deadline = Date(timeIntervalSinceNow: waitLimit)
        var follower: ControlClient?
        var announced = false
        var progress = ProgressLines()
        while true {
            if let lock = try tryLock(dataDirectory, holder: me) { return lock }
            let holder = dataDirectory.lockHolder().flatMap { try? JSONDecoder().decode(LockHolder.self, from: Data($0.utf8)) }
            let who = holder.map { "codebegenfs (pid \($0.pid))" } ?? "another process"
            if let holder, MountTable.isCodebegenfsMount(holder.mountpoint) {
                throw CommandFailure(
                    "the data directory \(dataDirectory.root) is in use by the mount at \(holder.mountpoint) (pid \(holder.pid)); "
                        + "unmount it first: codebegenfs unmount \(holder.mountpoint)")
            }
            if Date() >= deadline {
                let doing = follower?.last.map { " (doing: \($0.doing.joined(separator: "; ")))" } ?? ""
                throw CommandFailure(
                    "\(who) still holds the data directory \(dataDirectory.root) after \(String(format: "%g", waitLimit)) s\(doing); "
                        + "mount again once it has exited, or wait longer with --wait SECONDS")
            }
            if !announced {
                note("waiting up to \(String(format: "%g", waitLimit)) s for \(who) to finish saving the data directory \(dataDirectory.root)")
                announced = true
            }
            if follower == nil { follower = try? ControlClient(socketPath: dataDirectory.controlSocketPath.string) }
            guard let client = follower else {
                usleep(200_000)
                continue
            }
            switch client.next(until: min(deadline, Date(timeIntervalSinceNow: 0.5))) {
            case .report(let report):
                if let line = progress.line(for: report.doing) { note("  \(line)") }
            case .closed:
                follower = nil
                usleep(20_000)
            case .timedOut:
                break
            }
        }
    }

    /// The lock, or nil while another process holds it.
    private static func tryLock(_ dataDirectory: DataDirectory, holder: String) throws -> FileDescriptor? {
        do {
            return try dataDirectory.lock(holder: holder)
        } catch {
            if error.errno == .resourceBusy { return nil }
            throw error
        }
    }
}
