// `codebegenfs mount`: mounts in the foreground, or starts a detached daemon and returns once it
// is mounted. Also the fstab form that mount.fuse3 calls: `codebegenfs SOURCE MOUNTPOINT -o OPTIONS`
// (CodebegenFS.swift turns it into `mount`).
import ArgumentParser
import Foundation
import GenerationStore
import SystemPackage

struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mount the file system at a directory.")

    @Argument(help: "The directory to mount at (created if missing).")
    var mountpoint: String

    @Flag(help: "Stay in the foreground and log to stderr (otherwise detach and log to <data>/codebegenfs.log).")
    var foreground = false

    @Option(help: "The data directory (catalog, files, archives). Default: $CACHE_PATH or ~/.local/share/codebegenfs.")
    var data: String?

    @Flag(help: "Let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root).")
    var allowOther = false

    @Option(help: "Read settings from this file instead of ./.env (the environment still wins).")
    var envFile: String?

    @Option(help: "Seconds to wait for an earlier daemon on the same data directory to finish saving.")
    var wait: Double = 300

    @Option(name: .customShort("o"), help: ArgumentHelp("Mount options, comma-separated (the fstab form).", discussion: MountSettings.optionsHelp))
    var options: [String] = []

    @Option(help: .hidden)
    var source: String?

    @Option(help: .hidden)
    var readyFd: Int32?

    func run() throws {
        var settings = MountSettings(
            mountpoint: absolutePath(mountpoint), foreground: foreground, dataDirectory: data, allowOther: allowOther,
            envFile: envFile, waitLimit: wait)
        // fstab's source field: a data directory when it is a path, else just a label.
        if let source, source.hasPrefix("/") { settings.dataDirectory = source }
        do {
            try settings.apply(options: options)
        } catch {
            throw ValidationError("\(error)")
        }
        settings.envFile = settings.envFile.map(absolutePath)
        let configuration = try resolveConfiguration(dataFlag: settings.dataDirectory, envFile: settings.envFile)
        try prepareMountpoint(settings.mountpoint)
        if settings.foreground {
            let ready = readyFd.map { FileDescriptor(rawValue: $0) }
            try ForegroundDaemon(settings: settings, configuration: configuration, ready: ready).run()
        } else {
            try Daemon.start(settings: settings, configuration: configuration)
        }
    }
}

/// Resolves DESIGN §7's settings from the environment, the env file (`./.env` unless named) and the `--data` flag.
func resolveConfiguration(dataFlag: String?, envFile: String? = nil) throws -> Configuration {
    let dotenv: String?
    if let envFile {
        do {
            dotenv = try String(contentsOfFile: envFile, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the env file \(envFile): \(error.localizedDescription)")
        }
    } else {
        dotenv = try? String(contentsOfFile: ".env", encoding: .utf8)
    }
    do {
        return try Configuration.resolve(
            environment: ProcessInfo.processInfo.environment, dotenv: dotenv, dataDirectoryFlag: dataFlag.map(absolutePath))
    } catch {
        throw ValidationError(error.description)
    }
}

/// A command that could not do its job: printed as "Error: <description>", without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func absolutePath(_ path: String) -> String {
    let expanded = (path as NSString).expandingTildeInPath
    let url = URL(fileURLWithPath: expanded, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    return url.standardizedFileURL.path
}

/// Creates the mountpoint if missing and clears a dead mount left there by a killed daemon.
func prepareMountpoint(_ mountpoint: String) throws {
    // statvfs always reaches the daemon (stat may be answered from the kernel's attribute cache),
    // so it is what tells a dead mount: "Transport endpoint is not connected".
    var info = statvfs()
    if statvfs(mountpoint, &info) != 0 {
        switch errno {
        case ENOTCONN:
            FileHandle.standardError.write(Data("clearing a dead mount at \(mountpoint)\n".utf8))
            _ = runTool("/bin/fusermount3", ["-u", "-z", mountpoint])
        case ENOENT:
            try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        default:
            throw ValidationError("cannot use \(mountpoint) as a mountpoint: \(String(cString: strerror(errno)))")
        }
    }
}

/// Runs a tool and returns its exit status (-1 if it could not start).
func runTool(_ path: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    do {
        try process.run()
    } catch {
        return -1
    }
    process.waitUntilExit()
    return process.terminationStatus
}
