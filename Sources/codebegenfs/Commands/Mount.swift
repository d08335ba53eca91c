// `codebegenfs mount`: mounts in the foreground, or starts a detached daemon and returns once it is mounted.
import ArgumentParser
import Foundation
import FuseAdapter
import GenerationStore
import Logging
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

    @Option(help: .hidden)
    var readyFd: Int32?

    func run() throws {
        let configuration = try resolveConfiguration(dataFlag: data)
        let mountpoint = absolutePath(self.mountpoint)
        try prepareMountpoint(mountpoint)
        if !foreground {
            try Daemon.start(mountpoint: mountpoint, configuration: configuration, allowOther: allowOther)
            return
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "codebegenfs")
        logger.logLevel = logLevel()
        let ready = readyFd.map { FileDescriptor(rawValue: $0) }
        do {
            let dataDirectory = try DataDirectory(FilePath(configuration.dataDirectory))
            let lock = try dataDirectory.lock()
            defer { try? lock.close() }
            logger.info("starting: \(configuration)")
            let remote = try Remote.connect(configuration, dataDirectory: dataDirectory, logger: logger)
            defer { remote?.stop() }
            let fileSystem = try GenerationFileSystem(
                dataDirectory: dataDirectory, configuration: configuration, logger: logger, remote: remote?.store,
                remoteDescription: remote.map { ($0.url, $0.bucket) })
            let uploader = remote.map { Uploader(fileSystem: fileSystem, store: $0.store) }
            uploader?.start()
            defer { if let uploader { _ = BlockingCall.run { await uploader.stop() } } }
            let fuse = try FuseMount(
                fileSystem: fileSystem, mountpoint: mountpoint, options: MountOptions(allowOther: allowOther),
                logger: logger)
            let snapshotter = BackgroundLoop(name: "snapshotter", interval: 0.05) {
                fileSystem.saveChangesInBackground()
                fileSystem.takeDueSnapshots()
            }
            snapshotter.start()
            defer { snapshotter.stop() }
            let cleaner = BackgroundLoop(name: "clean-up", interval: 5) { fileSystem.cleanUp() }
            fileSystem.wakeups.set(
                contentAdded: { cleaner.poke() },
                uploadQueued: { if let uploader { Task { await uploader.doorbell.ring() } } })
            cleaner.start()
            defer { cleaner.stop() }
            if remote != nil {
                Thread.detachNewThread { fileSystem.listBucket(.everything) }
            }
            try fuse.mount()
            Daemon.report(ready, "ready")
            let result = fuse.run(maxThreads: 8)
            fileSystem.saveBeforeUnmount()
            if result != 0 { logger.info("request loop ended by signal \(result)") }
        } catch {
            logger.error("mount failed: \(error)")
            Daemon.report(ready, "error: \(error)")
            throw ExitCode.failure
        }
    }

    private func logLevel() -> Logger.Level {
        ProcessInfo.processInfo.environment["CODEBEGENFS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    }
}

/// Resolves DESIGN §7's settings from the environment, `./.env` and the `--data` flag.
func resolveConfiguration(dataFlag: String?) throws -> Configuration {
    let dotenv = try? String(contentsOfFile: ".env", encoding: .utf8)
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
