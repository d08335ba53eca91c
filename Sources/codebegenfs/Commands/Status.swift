// `codebegenfs status [MOUNTPOINT] [--json]`: the upload queue, progress of running uploads and
// failures with their reasons, read from the mount's virtual status files.
import ArgumentParser
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show uploads, progress and failures of a mount.")

    @Argument(help: "The mountpoint (default: the only codebegenfs mount).")
    var mountpoint: String?

    @Flag(help: "Print the root status.json as it is.")
    var json = false

    func run() throws {
        let mountpoint = try self.mountpoint.map(absolutePath) ?? Self.onlyMount()
        let root = try Self.readJSON(mountpoint + "/status.json")
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        let remote = root["remote"] as? [String: Any]
        let cloud = root["cloud_storage_enabled"] as? Bool == true
        print("codebegenfs at \(mountpoint): cloud storage \(cloud ? "on" : "off")"
            + (remote.map { " (\($0["url"] ?? "?"), bucket \($0["bucket"] ?? "?"))" } ?? ""))
        print("projects \(root["projects"] ?? 0), generations \(root["generations"] ?? 0), versions \(root["versions"] ?? 0)")
        if let queue = root["upload_queue"] as? [String: Any] {
            let pending = (queue["bytes_pending"] as? Int) ?? 0
            print("uploads: \(queue["pending"] ?? 0) pending, \(queue["uploading"] ?? 0) uploading, "
                + "\(queue["failed"] ?? 0) failed, \(queue["conflict"] ?? 0) conflict, \(queue["uploaded"] ?? 0) uploaded; "
                + "\(pending) bytes pending")
        }
        if let cache = root["cache"] as? [String: Any] {
            print("clean copies: \(cache["bytes_used"] ?? 0) bytes (limit \(cache["limit_bytes"] ?? "?"), "
                + "unused for \(cache["ttl_hours"] ?? "?") h at most)")
        }
        for line in try Self.versionLines(mountpoint) { print(line) }
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

    /// The mountpoint of the only codebegenfs mount, from /proc/self/mountinfo.
    static func onlyMount() throws -> String {
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let mounts = info.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "fuse.codebegenfs"
            else { return nil }
            return String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
        }
        guard mounts.count == 1, let only = mounts.first else {
            throw CommandFailure(mounts.isEmpty ? "no codebegenfs mount found" : "several mounts: name one (\(mounts.joined(separator: ", ")))")
        }
        return only
    }
}
