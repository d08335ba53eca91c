// What `codebegenfs mount` was asked to do, from its flags and from `-o` options. The `-o`
// form is what mount(8) and mount.fuse3 pass for an fstab line
// (`codebegenfs /srv/gen fuse.codebegenfs data=/var/lib/codebegenfs,allow_other,_netdev 0 0`):
// every flag has an option, the kernel's generic options go to the mount, fstab's own
// bookkeeping options are accepted and ignored, anything else is an error naming it.
import Foundation

struct MountSettings: Equatable {
    var mountpoint: String
    var foreground = false
    var dataDirectory: String?
    var allowOther = false
    /// `default_permissions`: keep the kernel's mode checks even where the mount could leave them out.
    var permissionChecks = false
    var envFile: String?
    /// Seconds to wait for an earlier daemon on the same data directory to finish saving.
    var waitLimit = 300.0
    /// Generic mount options handed to the kernel (ro, nosuid, noatime, ...).
    var kernelOptions: [String] = []

    /// Options the kernel applies to any mount; libfuse passes them on.
    static let kernelFlags: Set<String> = [
        "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "dirsync",
        "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
    ]
    /// fstab and mount(8) bookkeeping that means nothing to the file system.
    static let ignored: Set<String> = ["defaults", "auto", "noauto", "user", "nouser", "users", "_netdev", "nofail", "owner", "group"]

    static let optionsHelp =
        "data=DIR, allow_other, default_permissions, foreground, env_file=FILE, wait=SECONDS; the kernel's ro, rw, nosuid, nodev, noexec, "
        + "noatime and the like; fstab's defaults, auto, noauto, user, _netdev, nofail, x-* (ignored)"

    /// Applies comma-separated `-o` options over the flags. Throws naming the first bad option.
    mutating func apply(options: [String]) throws {
        for list in options {
            for option in list.split(separator: ",", omittingEmptySubsequences: true).map(String.init) {
                try apply(option: option)
            }
        }
    }

    private mutating func apply(option: String) throws {
        let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        let value = parts.count == 2 ? parts[1] : nil
        func required() throws -> String {
            guard let value, !value.isEmpty else { throw OptionError("mount option '\(name)' needs a value: \(name)=...") }
            return value
        }
        func none() throws {
            if value != nil { throw OptionError("mount option '\(name)' takes no value (got '\(option)')") }
        }
        switch name {
        case "data": dataDirectory = try required()
        case "env_file": envFile = try required()
        case "wait":
            guard let seconds = Double(try required()), seconds >= 0, seconds.isFinite else {
                throw OptionError("mount option 'wait' must be a number of seconds, not '\(value ?? "")'")
            }
            waitLimit = seconds
        case "allow_other":
            try none()
            allowOther = true
        case "default_permissions":
            try none()
            permissionChecks = true
        case "foreground":
            try none()
            foreground = true
        case _ where Self.kernelFlags.contains(name):
            try none()
            kernelOptions.append(name)
        case _ where Self.ignored.contains(name) || name.hasPrefix("x-") || name == "comment":
            break
        default:
            throw OptionError("unknown mount option '\(option)' (known: \(Self.optionsHelp))")
        }
    }

    /// The arguments of the foreground daemon that a detached mount starts.
    func daemonArguments(dataDirectory: String) -> [String] {
        var arguments = ["mount", mountpoint, "--foreground", "--data", dataDirectory, "--wait", String(waitLimit)]
        if allowOther { arguments.append("--allow-other") }
        if let envFile { arguments += ["--env-file", envFile] }
        let options = kernelOptions + (permissionChecks ? ["default_permissions"] : [])
        if !options.isEmpty { arguments += ["-o", options.joined(separator: ",")] }
        return arguments
    }
}

struct OptionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
