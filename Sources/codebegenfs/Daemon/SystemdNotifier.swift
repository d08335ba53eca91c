// systemd's readiness protocol (sd_notify): under a `Type=notify` unit, $NOTIFY_SOCKET names a
// datagram socket; the daemon sends READY=1 once the mount is visible, STOPPING=1 when it has
// been unmounted, and STATUS= lines saying what it does meanwhile. Without $NOTIFY_SOCKET,
// nothing is sent.
import Foundation

final class SystemdNotifier: @unchecked Sendable {
    private let address: sockaddr_un
    private let addressLength: socklen_t
    private let fd: Int32

    /// Nil when not started by systemd (no $NOTIFY_SOCKET) or when its value cannot be used.
    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        var bytes = Array(path.utf8)
        // "@name" is a socket in the abstract namespace: its address starts with a NUL byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard let address = UnixSocket.address(bytes) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    }

    deinit { close(fd) }

    func ready(_ status: String) { send("READY=1\nMAINPID=\(getpid())\nSTATUS=\(status)") }
    func stopping(_ status: String) { send("STOPPING=1\nSTATUS=\(status)") }
    func status(_ status: String) { send("STATUS=\(status)") }

    private func send(_ message: String) {
        var address = self.address
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength)
            }
        }
    }
}
