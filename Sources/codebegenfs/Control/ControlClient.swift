// The other side of the control channel (ControlServer.swift): follows a daemon's reports.
import Foundation

final class ControlClient {
    private let fd: Int32
    private let reader: LineReader
    /// The newest report, once one has arrived.
    private(set) var last: DaemonReport?

    init(socketPath: String) throws {
        fd = try UnixSocket.connect(to: socketPath)
        reader = LineReader(fd: fd)
    }

    deinit { close(fd) }

    enum Next {
        case report(DaemonReport)
        /// The daemon closed the channel: it has finished or it died.
        case closed
        case timedOut
    }

    func next(until deadline: Date) -> Next {
        while true {
            switch reader.next(until: deadline) {
            case .closed: return .closed
            case .timedOut: return .timedOut
            case .line(let text):
                guard let report = try? JSONDecoder().decode(DaemonReport.self, from: Data(text.utf8)) else { continue }
                last = report
                return .report(report)
            }
        }
    }
}

/// Whether a process is gone (a zombie counts as gone: it has exited, only its parent has not reaped it).
func processHasExited(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// Turns a daemon's reports into lines for a person: what it does, at most once a second
/// (packing progress changes much faster), and nothing when it does nothing.
struct ProgressLines {
    private var lastShown = Date.distantPast
    private var shown: [String] = []

    mutating func line(for doing: [String]) -> String? {
        guard doing != shown, !doing.isEmpty, Date().timeIntervalSince(lastShown) >= 1 else { return nil }
        shown = doing
        lastShown = Date()
        return doing.joined(separator: "; ")
    }
}
