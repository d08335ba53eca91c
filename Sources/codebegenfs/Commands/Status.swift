// `codebegenfs status [MOUNTPOINT] [--json] [--watch]`: the upload queue, progress of running
// uploads and failures with their reasons, read from the mount's virtual status files. Exits
// with status 3 when an upload has failed for good or is in conflict, so scripts can check.
import ArgumentParser
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show uploads, progress and failures of a mount.",
        discussion: "Exit status: 0 when no upload has failed, 3 when one failed for good or is in conflict, 1 when the status cannot be read.")

    @Argument(help: "The mountpoint (default: the only codebegenfs mount).")
    var mountpoint: String?

    @Flag(help: "Print the root status.json as it is.")
    var json = false

    @Flag(help: "Redraw the status every second until interrupted (Ctrl-C).")
    var watch = false

    func run() throws {
        let mountpoint = try self.mountpoint.map(absolutePath) ?? Self.onlyMount()
        guard watch else {
            let (lines, failed) = try Self.report(mountpoint, json: json)
            for line in lines { print(line) }
            if failed { throw ExitCode(3) }
            return
        }
        let clear = isatty(1) == 1 ? "\u{1B}[H\u{1B}[2J" : ""
        while true {
            let (lines, _) = try Self.report(mountpoint, json: json)
            FileHandle.standardOutput.write(Data((clear + lines.joined(separator: "\n") + "\n\n").utf8))
            sleep(1)
        }
    }

    /// The lines to print, and whether an upload failed for good or is in conflict.
    static func report(_ mountpoint: String, json: Bool) throws -> ([String], Bool) {
        let root = try readJSON(mountpoint + "/status.json")
        let queue = root["upload_queue"] as? [String: Any] ?? [:]
        let failed = (queue["failed"] as? Int ?? 0) + (queue["conflict"] as? Int ?? 0) > 0
        if json {
            let text = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
            return ([String(decoding: text, as: UTF8.self)], failed)
        }
        var lines: [String] = []
        let remote = root["remote"] as? [String: Any]
        let cloud = root["cloud_storage_enabled"] as? Bool == true
        lines.append("codebegenfs at \(mountpoint): cloud storage \(cloud ? "on" : "off")"
            + (remote.map { " (\($0["url"] ?? "?"), bucket \($0["bucket"] ?? "?"))" } ?? ""))
        if let remote, let line = remoteLine(remote) { lines.append(line) }
        lines.append("projects \(root["projects"] ?? 0), generations \(root["generations"] ?? 0), versions \(root["versions"] ?? 0)")
        if cloud {
            lines.append("uploads: \(queue["pending"] ?? 0) pending, \(queue["uploading"] ?? 0) uploading, "
                + "\(queue["failed"] ?? 0) failed, \(queue["conflict"] ?? 0) conflict, \(queue["uploaded"] ?? 0) uploaded; "
                + "\(queue["bytes_pending"] as? Int ?? 0) bytes pending")
        }
        if let cache = root["cache"] as? [String: Any] {
            lines.append("clean copies: \(cache["bytes_used"] ?? 0) bytes (limit \(cache["limit_bytes"] ?? "?"), "
                + "unused for \(cache["ttl_hours"] ?? "?") h at most)")
        }
        lines += try versionLines(mountpoint)
        return (lines, failed)
    }

    /// Why uploads wait, while the bucket has not answered since the mount started.
    static func remoteLine(_ remote: [String: Any]) -> String? {
        switch remote["state"] as? String {
        case "connecting": return "storage: connecting; uploads start once the bucket answers"
        case "unreachable":
            return "storage: UNREACHABLE since \(remote["since"] ?? "?") (\(remote["attempts"] ?? "?") attempts, next at "
                + "\(remote["next_attempt_at"] ?? "?")): \(remote["error"] ?? "?"); local versions are served, uploads wait"
        default: return nil
        }
    }

    /// One line per version that is not yet uploaded: a progress bar while uploading, the reason when it failed.
    static func versionLines(_ mountpoint: String) throws -> [String] {
        var lines: [String] = []
        let active = (try? FileManager.default.contentsOfDirectory(atPath: mountpoint + "/active")) ?? []
        for generation in active.sorted() {
            let status = try readJSON("\(mountpoint)/active/\(generation)/status.json")
            for summary in status["versions"] as? [[String: Any]] ?? [] {
                guard let number = summary["version"] as? Int, let state = summary["upload_state"] as? String,
                    state != "uploaded", state != "disabled"
                else { continue }
                let version = try readJSON("\(mountpoint)/active/\(generation)/v\(number)/status.json")
                let upload = version["upload"] as? [String: Any] ?? [:]
                let name = "\(status["project_id"] ?? "?")/\(generation)/v\(number)"
                switch state {
                case "uploading":
                    let sent = upload["bytes_uploaded"] as? Int ?? 0
                    let total = max(1, upload["bytes_total"] as? Int ?? 1)
                    let filled = min(20, sent * 20 / total)
                    lines.append("  [\(String(repeating: "#", count: filled))\(String(repeating: "-", count: 20 - filled))] "
                        + "\(sent * 100 / total)% \(name)")
                case "failed", "conflict":
                    lines.append("  \(state.uppercased()) \(name): \(upload["last_error"] as? String ?? "no reason recorded")")
                default:
                    let attempts = upload["attempts"] as? Int ?? 0
                    let reason = (upload["last_error"] as? String).map { ", last error: \($0)" } ?? ""
                    lines.append("  \(state) \(name) (\(attempts) attempts\(reason))")
                }
            }
        }
        return lines
    }

    static func readJSON(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw CommandFailure("cannot read \(path): is it a codebegenfs mount?") }
        return object
    }

    /// The mountpoint of the only codebegenfs mount.
    static func onlyMount() throws -> String {
        let mounts = MountTable.codebegenfsMounts()
        guard mounts.count == 1, let only = mounts.first else {
            throw CommandFailure(mounts.isEmpty ? "no codebegenfs mount found" : "several mounts: name one (\(mounts.joined(separator: ", ")))")
        }
        return only
    }
}
