// The daemon itself: takes the data directory (waiting for an earlier daemon that is still
// saving), starts the parts, mounts, serves until unmounted, then stops the parts in reverse
// order, saying on the control socket and to systemd what it is doing, and exits only once
// everything is saved.
import ArgumentParser
import Foundation
import FuseAdapter
import GenerationStore
import Logging
import SystemPackage

struct ForegroundDaemon {
    let settings: MountSettings
    let configuration: Configuration
    /// The detached parent's pipe: "note: …" lines, then "ready" or "error: …".
    let ready: FileDescriptor?

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "codebegenfs")
        logger.logLevel = ProcessInfo.processInfo.environment["CODEBEGENFS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let systemd = SystemdNotifier()
        let board = ActivityBoard()
        var teardown = Teardown(board: board)
        defer { teardown.run() }
        var parent = ready  // nil once told the outcome
        do {
            let dataDirectory = try DataDirectory(FilePath(configuration.dataDirectory))
            let lock = try DataDirectoryLock.acquire(
                dataDirectory, mountpoint: settings.mountpoint, waitLimit: settings.waitLimit
            ) { [logger] note in
                logger.notice("\(note)")
                Daemon.report(ready, "note: \(note)", final: false)
                systemd?.status(note)
            }
            teardown.add("releasing the data directory") { try? lock.close() }
            logger.info("starting: \(configuration)")
            let control = ControlServer(
                path: dataDirectory.controlSocketPath.string, mountpoint: settings.mountpoint, board: board, logger: logger)
            control.start()
            // Teardown runs in reverse: everything below is stopped, then `finished` is announced,
            // then the socket closes, and only then is the data directory free for the next daemon.
            teardown.add("closing the control socket") { control.stop() }
            teardown.add("") { board.enter(.finished) }

            let remote = try Remote.connect(configuration, dataDirectory: dataDirectory, logger: logger)
            if let remote { teardown.add("stopping the bundled storage server") { remote.stop() } }
            let fileSystem = try GenerationFileSystem(
                dataDirectory: dataDirectory, configuration: configuration, logger: logger, connection: remote?.connection,
                board: board)

            let uploader = remote.map { Uploader(queue: fileSystem.uploads, store: $0.connection.store) }
            if let uploader {
                teardown.add("stopping uploads (unfinished ones resume at the next mount)") {
                    _ = BlockingCall.run { await uploader.stop() }
                }
            }
            let fuse = try FuseMount(
                fileSystem: fileSystem, mountpoint: settings.mountpoint,
                options: MountOptions(
                    allowOther: settings.allowOther, permissionChecks: settings.permissionChecks,
                    kernelOptions: settings.kernelOptions), logger: logger)
            let snapshotter = BackgroundLoop(name: "snapshotter", interval: 0.05) {
                fileSystem.saveChangesInBackground()
                fileSystem.takeDueSnapshots()
            }
            snapshotter.start()
            teardown.add("finishing the snapshot in progress") { snapshotter.stop() }
            let cleaner = BackgroundLoop(name: "clean-up", interval: 5) { fileSystem.cleanUp() }
            let trashEmptier = BackgroundLoop(name: "trash", interval: 0.25, runFirst: true, idlePriority: true) {
                fileSystem.emptyTrash()
            }
            // Makes empty blobs ahead of creates, on the core the request loop leaves free.
            let blobMaker = BackgroundLoop(name: "blob maker", interval: 5, runFirst: true) { fileSystem.makeBlobsAhead() }
            fileSystem.wakeups.set(
                contentAdded: { cleaner.poke() },
                uploadQueued: { if let uploader { Task { await uploader.doorbell.ring() } } },
                blobsWanted: { blobMaker.poke() })
            blobMaker.start()
            teardown.add("removing the blobs made ahead of creates") {
                blobMaker.stop()
                fileSystem.stopMakingBlobsAhead()
            }
            cleaner.start()
            teardown.add("stopping clean-up") { cleaner.stop() }
            trashEmptier.start()
            teardown.add("deleting removed files") {
                trashEmptier.stop()
                fileSystem.emptyTrash(force: true)
            }
            if let remote, let uploader {
                // Local first: the mount serves at once; uploads and listings start once the bucket answers.
                remote.connection.start {
                    uploader.start()
                    fileSystem.listBucket(.everything)
                }
                teardown.add("stopping the bucket check") { remote.connection.stop() }
            }

            try fuse.mount()
            board.enter(.serving)
            Daemon.report(parent, "ready", final: true)
            parent = nil
            systemd?.ready("mounted at \(settings.mountpoint)")
            let result = fuse.run(threads: 8, spin: .microseconds(Int64(configuration.requestSpinMicroseconds)))
            board.enter(.stopping)
            systemd?.stopping("unmounted from \(settings.mountpoint); saving")
            if let systemd { followForSystemd(board, systemd) }
            if result != 0 { logger.info("request loop ended by errno \(-result)") }
            board.during("saving the catalog") { fileSystem.saveBeforeUnmount() }
        } catch {
            logger.error("mount failed: \(error)")
            Daemon.report(parent, "error: \(error)", final: true)
            throw ExitCode.failure
        }
    }

    /// Passes the board's work on to systemd as STATUS lines until the daemon finishes.
    private func followForSystemd(_ board: ActivityBoard, _ systemd: SystemdNotifier) {
        let thread = Thread {
            var state = board.current
            while state.phase != .finished {
                if let doing = state.doing.last { systemd.status(doing) }
                state = board.waitForChange(after: state.revision, timeout: 5)
            }
        }
        thread.name = "systemd status"
        thread.start()
    }
}

/// The steps that undo start-up, run in reverse order of `add`, each shown on the board while it runs.
struct Teardown {
    let board: ActivityBoard
    private var steps: [(String, () -> Void)] = []

    init(board: ActivityBoard) { self.board = board }

    mutating func add(_ description: String, _ step: @escaping () -> Void) {
        steps.append((description, step))
    }

    /// Runs every step once, last added first.
    mutating func run() {
        while let (description, step) = steps.popLast() {
            if description.isEmpty {
                step()
            } else {
                board.during(description, step)
            }
        }
    }
}
