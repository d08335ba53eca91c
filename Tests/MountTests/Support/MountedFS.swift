// The mount harness: starts the built `codebegenfs` binary on a fresh mountpoint and data
// directory, waits until the kernel lists the mount, and always stops and unmounts it again.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One `codebegenfs` mount under its own temporary directory (`<root>/mnt`, `<root>/data`).
/// Thread-safe: a watchdog thread may kill the daemon while a test is blocked on the mount.
final class MountedFS: @unchecked Sendable {
    let label: String
    let root: String
    let mountpoint: String
    let dataDir: String
    let logPath: String
    /// Daemon processes started without the harness watching them (detached mode), by pid.
    private(set) var extraPids: [pid_t] = []

    private let lock = NSLock()
    private var process: Process?  // guarded by lock
    private var finished = false  // guarded by lock
    private var timedOutFlag = false  // guarded by lock

    static let fsType = "fuse.codebegenfs"
    static let environment = ["USE_CLOUD_STORAGE": "false", "WRITE_BACK_DELAY": "1"]
    /// Set before `start` to override `environment` (e.g. USE_CLOUD_STORAGE=true); guarded by lock.
    private var overrides: [String: String] = [:]
    var environmentOverrides: [String: String] {
        get { lock.withLock { overrides } }
        set { lock.withLock { overrides = newValue } }
    }

    /// `dataDir`: use this data directory (not created) instead of `<root>/data`.
    init(label: String, dataDir: String? = nil) throws {
        try Self.checkPrerequisites()
        self.label = label.filter { $0.isLetter || $0.isNumber }
        root = try makeTemporaryDirectory(prefix: "mt-\(self.label.prefix(24))")
        mountpoint = root + "/mnt"
        self.dataDir = dataDir ?? root + "/data"
        logPath = root + "/daemon.log"
        guard Glibc.mkdir(mountpoint, 0o755) == 0 else { throw TestFailure("cannot create \(mountpoint)") }
    }

    // MARK: locating things

    /// The `codebegenfs` binary next to the running test executable.
    static func binaryPath() throws -> String {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let dir = (exe as NSString).deletingLastPathComponent
        let binary = dir + "/codebegenfs"
        guard access(binary, X_OK) == 0 else {
            throw TestFailure(
                "the codebegenfs binary is missing: expected \(binary) (next to the test executable \(exe)); "
                    + "build it with `swift build --build-tests`")
        }
        return binary
    }

    /// Fails (never skips) when this machine cannot run FUSE mounts.
    static func checkPrerequisites() throws {
        guard access("/dev/fuse", R_OK | W_OK) == 0 else {
            throw TestFailure("/dev/fuse is missing or not accessible: the mount tests need FUSE")
        }
        for tool in ["/usr/bin/fusermount3", "/usr/bin/setfattr", "/usr/bin/getfattr"] {
            guard access(tool, X_OK) == 0 else {
                throw TestFailure("\(tool) is missing: install fuse3 and attr (apt-get install fuse3 attr)")
            }
        }
    }

    func path(_ relative: String) -> String {
        relative.isEmpty ? mountpoint : mountpoint + "/" + relative
    }

    var timedOut: Bool { lock.withLock { timedOutFlag } }

    var pid: pid_t? { lock.withLock { process?.processIdentifier } }

    var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    // MARK: mount table

    /// The file system type mounted at `path` according to /proc/self/mountinfo (topmost mount), or nil.
    static func mountedType(at path: String) -> String? { mountEntry(at: path)?.type }

    typealias MountEntry = (id: String, type: String, superOptions: [String])

    /// The topmost mount at `path`: its mount id (unique per mount), file system type, and the
    /// options of its file system (for FUSE: user_id, allow_other, default_permissions, ...).
    static func mountEntry(at path: String) -> MountEntry? { mountEntries(at: path).last }

    /// Every mount stacked at `path`, bottom first.
    static func mountEntries(at path: String) -> [MountEntry] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var found: [MountEntry] = []
        for line in text.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count >= 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3, let type = right.first else { continue }
            if unescapeMountinfo(String(left[4])) == path {
                found.append((String(left[0]), String(type), right[2].split(separator: ",").map(String.init)))
            }
        }
        return found
    }

    private static func unescapeMountinfo(_ s: String) -> String {
        var out = ""
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            if c == "\\", chars.count >= 3, let v = UInt8(String(chars.prefix(3)), radix: 8) {
                out.append(Character(UnicodeScalar(v)))
                chars = chars.dropFirst(3)
            } else {
                out.append(c)
            }
        }
        return out
    }

    var isMounted: Bool { Self.mountedType(at: mountpoint) == Self.fsType }

    /// True when a live file system is mounted at `path`. statvfs always asks the daemon, so a
    /// dead mount fails it with ENOTCONN, but after the dead mount is cleared it answers for the
    /// plain directory underneath; stat tells that directory (on its parent's device) from a
    /// mount root, but may answer a dead mount from cached attributes. Asked in this order, both
    /// succeed only for a live mount, since a cleared dead mount never comes back.
    private static func isAnsweringMountRoot(_ path: String) -> Bool {
        var info = statvfs(), root = stat(), parent = stat()
        let parentPath = (path as NSString).deletingLastPathComponent
        return statvfs(path, &info) == 0 && stat(path, &root) == 0 && stat(parentPath, &parent) == 0
            && root.st_dev != parent.st_dev
    }

    // MARK: lifecycle

    /// Spawns `codebegenfs mount <mnt> --foreground --data <data>` and waits until it is mounted.
    func start(extraArguments: [String] = []) throws {
        // A dead mount left by kill -9 is still listed until the new daemon clears it, so the
        // mount table alone cannot tell old from new. See isAnsweringMountRoot for the test.
        let process = try spawnForeground(mountpoint: mountpoint, extraArguments: extraArguments)
        lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(20)
        while !(isMounted && Self.isAnsweringMountRoot(mountpoint)) {
            if !process.isRunning {
                process.waitUntilExit()
                throw TestFailure(
                    "codebegenfs exited with \(process.terminationStatus) before mounting\n\(logTail())")
            }
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                throw TestFailure("\(mountpoint) not mounted as \(Self.fsType) after 20 s\n\(logTail())")
            }
            usleep(20_000)
        }
    }

    /// Spawns a foreground daemon for `mountpoint` with this data directory; output appended to the log.
    func spawnForeground(mountpoint: String, extraArguments: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binaryPath())
        process.arguments = ["mount", mountpoint, "--foreground", "--data", dataDir] + extraArguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in Self.environment { env[k] = v }
        for (k, v) in environmentOverrides { env[k] = v }
        process.environment = env
        let fd = Glibc.open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot open \(logPath)") }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    /// Stops the daemon with SIGTERM and waits for it; returns its exit status. If it has not
    /// exited after 10 s, records an issue and falls back to `fusermount3 -u` (the other clean
    /// stop), so a test can still check what a restart keeps. Throws if neither stops it, or if
    /// it leaves the mount behind.
    @discardableResult
    func stop() throws -> Int32 {
        guard let process = lock.withLock({ self.process }) else { throw TestFailure("stop(): not started") }
        process.terminate()
        if !waitForExit(process, timeout: 10) {
            Issue.record("codebegenfs did not exit within 10 s of SIGTERM; stopping it with fusermount3 -u instead")
            _ = try? Shell.run("fusermount3 -u \(Shell.quote(mountpoint))", timeout: 20)
            guard waitForExit(process, timeout: 10) else {
                kill(process.processIdentifier, SIGKILL)
                _ = waitForExit(process, timeout: 10)
                lazyUnmount()
                throw TestFailure("codebegenfs exited neither on SIGTERM nor on fusermount3 -u\n\(logTail())")
            }
        }
        if isMounted {
            lazyUnmount()
            throw TestFailure(
                "codebegenfs exited but a mount is still listed at \(mountpoint): "
                    + "\(Self.mountEntries(at: mountpoint).map { "id \($0.id) \($0.type)" })")
        }
        return process.terminationStatus
    }

    /// `fusermount3 -u <mountpoint>`, then waits up to 10 s for the daemon to exit; returns its
    /// exit status, or nil if it is still running.
    func unmountAndWait() throws -> Int32? {
        guard let process = lock.withLock({ self.process }) else { throw TestFailure("not started") }
        let result = try Shell.run("fusermount3 -u \(Shell.quote(mountpoint))", timeout: 20)
        guard result.succeeded else { throw TestFailure("\(result)") }
        return waitForExit(process, timeout: 10) ? process.terminationStatus : nil
    }

    /// SIGKILLs the daemon and waits for it to die. The mount stays behind, dead.
    func kill9() {
        guard let process = lock.withLock({ self.process }) else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = waitForExit(process, timeout: 20)
    }

    /// `fusermount3 -u -z <mountpoint>`.
    func lazyUnmount() {
        _ = try? Shell.run("fusermount3 -u -z \(Shell.quote(mountpoint)) 2>/dev/null", timeout: 30)
    }

    /// Remembers a daemon pid the harness did not start itself, so cleanup kills it.
    func adopt(pid: pid_t) { lock.withLock { extraPids.append(pid) } }

    /// Pids of running processes whose command line mentions this test's data directory.
    func daemonPids() -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var pids: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let mine = args.contains(dataDir) || args.contains(mountpoint)
            if mine, args.contains(where: { $0.hasSuffix("codebegenfs") }) { pids.append(pid) }
        }
        return pids
    }

    /// Kills whatever this harness started, unmounts, keeps the log, removes the temporary directory.
    func cleanup() {
        let (process, extra) = lock.withLock {
            finished = true
            return (self.process, extraPids)
        }
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = waitForExit(process, timeout: 10)
        }
        for pid in extra + daemonPids() { kill(pid, SIGKILL) }
        // Lazy-unmount until nothing is left (a dead mount may sit below a live one).
        for _ in 0..<5 where Self.mountedType(at: mountpoint) != nil { lazyUnmount() }
        keepLog()
        if Self.mountedType(at: mountpoint) == nil { removeTree(root) }
    }

    /// Kills the daemon if the test is still running after `seconds`, so a hung FUSE request
    /// cannot hang the whole run (the blocked call then fails with ENOTCONN).
    func armWatchdog(seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            let (fired, process): (Bool, Process?) = lock.withLock {
                if finished { return (false, nil) }
                timedOutFlag = true
                return (true, self.process)
            }
            guard fired else { return }
            FileHandle.standardError.write(Data("[\(label)] watchdog: test ran over \(seconds) s, killing daemon\n".utf8))
            if let process { kill(process.processIdentifier, SIGKILL) }
            for pid in daemonPids() + lock.withLock({ extraPids }) { kill(pid, SIGKILL) }
            lazyUnmount()
        }
    }

    // MARK: the data directory

    /// The blobs under `<data>/blobs` that hold a file's content: every regular file but the empty
    /// ones made ahead of creates, whose numbers `<data>/blobs-ahead` records while they may exist.
    func contentBlobs() throws -> [String] {
        let blobs = dataDir + "/blobs"
        let ahead = (try? String(contentsOfFile: dataDir + "/blobs-ahead", encoding: .utf8))
            .map { $0.split(whereSeparator: \.isWhitespace).compactMap { Int64($0) } } ?? []
        let spare = ahead.count == 2 ? ahead[0]...ahead[1] : nil
        return try FileManager.default.subpathsOfDirectory(atPath: blobs).filter { path in
            guard let info = Sys.lstat(blobs + "/" + path), info.type == S_IFREG else { return false }
            guard let spare, info.size == 0, let id = Int64((path as NSString).lastPathComponent) else { return true }
            return !spare.contains(id)
        }
    }

    /// The empty blobs made ahead of creates, not yet taken by one.
    func spareBlobs() throws -> Int {
        try FileManager.default.subpathsOfDirectory(atPath: dataDir + "/blobs").count { path in
            Sys.lstat(dataDir + "/blobs/" + path)?.type == S_IFREG
        } - contentBlobs().count
    }

    // MARK: logs

    func logTail(_ bytes: Int = 6000) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no daemon log)"
        return "--- daemon log \(logPath) (last \(bytes) chars) ---\n\(text.suffix(bytes))\n--- end of log ---"
    }

    /// Copies the daemon log to /tmp/codebegenfs-mounttests-logs/ before the directory is removed.
    private func keepLog() {
        let dir = "/tmp/codebegenfs-mounttests-logs"
        _ = Glibc.mkdir(dir, 0o755)
        let target = "\(dir)/\(label)-\((root as NSString).lastPathComponent).log"
        try? FileManager.default.removeItem(atPath: target)
        try? FileManager.default.copyItem(atPath: logPath, toPath: target)
    }
}

// MARK: helpers for tests

/// Mounts a fresh `codebegenfs` (unless `start` is false), runs `body`, and always cleans up.
/// Prints the daemon log if the body throws; records an issue if the watchdog fired.
@discardableResult
func withMount<T>(
    _ label: String = #function, timeout: Double = 180, start: Bool = true, dataDir: String? = nil,
    _ body: (MountedFS) throws -> T
) throws -> T {
    let fs = try MountedFS(label: label, dataDir: dataDir)
    defer { fs.cleanup() }
    fs.armWatchdog(seconds: timeout)
    do {
        if start { try fs.start() }
        let result = try body(fs)
        if fs.timedOut { Issue.record("watchdog killed the daemon after \(timeout) s\n\(fs.logTail())") }
        return result
    } catch {
        print("[\(fs.label)] failed: \(error)\n\(fs.logTail())")
        if fs.timedOut { Issue.record("watchdog killed the daemon after \(timeout) s") }
        throw error
    }
}

extension MountedFS {
    /// `mkdir -p` of `projects/<p>/generations/<g>/v<n>`, one mkdir per missing component, as
    /// the tool does; returns the version directory's path.
    @discardableResult
    func makeVersion(project: String = "p1", generation: String = "g1", version: Int = 1) throws -> String {
        let relative = "projects/\(project)/generations/\(generation)/v\(version)"
        try mkdirP(relative)
        return path(relative)
    }

    /// `mkdir -p` under the mountpoint; throws with the failing component's errno.
    func mkdirP(_ relative: String) throws {
        var current = mountpoint
        for component in relative.split(separator: "/") {
            current += "/" + component
            if Sys.stat(current)?.isDir == true { continue }
            let outcome = Sys.mkdir(current)
            guard outcome == .ok else { throw TestFailure("mkdir \(current): \(outcome)") }
        }
    }

    /// Polls the `status.json` at `relative` until `condition` holds; fails naming `what`, with
    /// the last status and the daemon log.
    func waitForStatus(
        _ relative: String, _ what: String, timeout: Double = 90, _ condition: ([String: Any]) -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(try status(relative)) { return }
            usleep(100_000)
        }
        throw TestFailure("\(relative): \(what) not reached within \(timeout) s: \(try status(relative))\n\(logTail())")
    }

    /// The parsed `status.json` at `relative` ("" for the root).
    func status(_ relative: String) throws -> [String: Any] {
        let file = relative.isEmpty ? path("status.json") : path(relative + "/status.json")
        let data = Data(try Sys.readFile(file))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestFailure("\(file) is not a JSON object: \(String(decoding: data, as: UTF8.self))")
        }
        return object
    }
}

/// Runs `body` in an open version directory: `v1` of a fresh mount, or — when the environment
/// sets MOUNTTEST_PLAIN=1 — a plain temporary directory, to check the expectations themselves.
func withOpenVersion(
    _ label: String = #function, timeout: Double = 180, _ body: (MountedFS?, String) throws -> Void
) throws {
    if ProcessInfo.processInfo.environment["MOUNTTEST_PLAIN"] == "1" {
        let dir = try makeTemporaryDirectory(prefix: "mt-plain")
        defer { removeTree(dir) }
        try body(nil, dir)
        return
    }
    try withMount(label, timeout: timeout) { fs in
        let version = try fs.makeVersion()
        try body(fs, version)
    }
}

/// `upload.state` of a version's status.json.
func uploadState(_ status: [String: Any]) -> String? {
    (status["upload"] as? [String: Any])?["state"] as? String
}
