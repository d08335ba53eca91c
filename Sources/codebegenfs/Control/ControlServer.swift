// The daemon's side of its control channel: a Unix socket in the data directory. Every client
// gets one JSON line (DaemonReport) at once and another whenever the daemon's phase or work
// changes, until the daemon has finished saving; then the socket closes. `codebegenfs unmount`
// and a mount waiting for this daemon read it; nothing is ever read from clients.
import Foundation
import GenerationStore
import Logging

/// One line of the control channel.
struct DaemonReport: Codable, Equatable {
    var pid: Int32
    var mountpoint: String
    var phase: ActivityBoard.Phase
    var doing: [String]
}

final class ControlServer: @unchecked Sendable {
    private let path: String
    private let mountpoint: String
    private let board: ActivityBoard
    private let logger: Logger
    private let lock = NSLock()
    private var listener: Int32 = -1  // guarded by `lock`

    init(path: String, mountpoint: String, board: ActivityBoard, logger: Logger) {
        self.path = path
        self.mountpoint = mountpoint
        self.board = board
        self.logger = logger
    }

    /// Listens; a failure is logged, not thrown: the mount works without it, only `unmount` cannot follow it.
    func start() {
        do {
            let fd = try UnixSocket.listen(at: path)
            lock.withLock { listener = fd }
            let thread = Thread { [self] in acceptClients(fd) }
            thread.name = "control"
            thread.start()
        } catch {
            logger.warning("no control socket (\(error)): `codebegenfs unmount` cannot wait for this daemon")
        }
    }

    /// Stops accepting and removes the socket file. Call once the board says `finished`, so
    /// connected clients have had the last report; call before releasing the data directory's lock.
    func stop() {
        let fd = lock.withLock { () -> Int32 in
            defer { listener = -1 }
            return listener
        }
        guard fd >= 0 else { return }
        unlink(path)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptClients(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // stop() shut the listener down
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let thread = Thread { [self] in report(to: client) }
            thread.name = "control client"
            thread.start()
        }
    }

    private func report(to client: Int32) {
        defer { close(client) }
        var state = board.current
        while true {
            let line = DaemonReport(pid: getpid(), mountpoint: mountpoint, phase: state.phase, doing: state.doing)
            guard let json = try? JSONEncoder().encode(line), UnixSocket.send(String(decoding: json, as: UTF8.self), to: client),
                state.phase != .finished
            else { return }
            state = board.waitForChange(after: state.revision, timeout: 5)
        }
    }
}
