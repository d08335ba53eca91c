// The background thread that takes due snapshots (FileSystem+Snapshot.swift), so FUSE threads never pack.
import Foundation
import Logging

public final class Snapshotter: @unchecked Sendable {
    private let fileSystem: GenerationFileSystem
    private let interval: TimeInterval
    // Guarded by `condition`:
    private let condition = NSCondition()
    private var stopping = false
    private var stopped = false

    public init(fileSystem: GenerationFileSystem, interval: TimeInterval = 0.2) {
        self.fileSystem = fileSystem
        self.interval = interval
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "snapshotter"
        thread.start()
    }

    /// Stops after the snapshot in progress, if any.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
            let exit = stopping
            condition.unlock()
            if exit { break }
            for versionID in fileSystem.dueSnapshots() {
                do {
                    try fileSystem.snapshotIfDirty(versionID: versionID)
                } catch {
                    fileSystem.logger.error("snapshot failed: \(error); retrying after the write-back delay")
                    fileSystem.postponeSnapshot(versionID: versionID)
                }
            }
        }
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
