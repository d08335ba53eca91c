// One FUSE mount: creates the libfuse session, mounts it, runs the request loop (RequestLoop)
// until unmounted or signalled (SIGINT/SIGTERM/SIGHUP), then unmounts and tears down.
internal import CFuse
import Foundation
import GenerationStore
import Logging

public struct MountOptions: Sendable {
    public var allowOther = false
    /// Keep the kernel's mode checks even where needsKernelPermissionChecks would leave them out.
    public var permissionChecks = false
    /// Generic mount options for the kernel (ro, nosuid, noatime, ...), which libfuse passes on.
    public var kernelOptions: [String] = []

    public init(allowOther: Bool = false, permissionChecks: Bool = false, kernelOptions: [String] = []) {
        self.allowOther = allowOther
        self.permissionChecks = permissionChecks
        self.kernelOptions = kernelOptions
    }

    /// Whether the kernel must check mode bits (`default_permissions`). Without `allow_other`
    /// only the mounting user may enter the mount; when that is root, which passes every mode
    /// check, the checks change no answer (the kernel still refuses to exec a file without an x
    /// bit) but cost a GETATTR of the directory after every create, one of six requests per file.
    /// `-o default_permissions` keeps them, for a root whose capabilities are cut down.
    var needsKernelPermissionChecks: Bool { allowOther || permissionChecks || geteuid() != 0 }
}

/// Runs fusermount3 (for users who may not call umount2 themselves); returns its exit status.
func runFusermount(_ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
    process.arguments = arguments
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

public struct MountError: Error, CustomStringConvertible {
    public let description: String
}

public final class FuseMount {
    private let mountpoint: String
    private let logger: Logger
    private var arguments = fuse_args(argc: 0, argv: nil, allocated: 0)
    private var session: OpaquePointer?
    /// The context every callback reaches; retained here, released in deinit after the session is gone.
    private let context: Unmanaged<FuseContext>
    private var signalSources: [any DispatchSourceSignal] = []

    public init(fileSystem: GenerationFileSystem, mountpoint: String, options: MountOptions, logger: Logger) throws {
        self.mountpoint = mountpoint
        self.logger = logger
        context = Unmanaged.passRetained(FuseContext(fileSystem: fileSystem, logger: logger))
        var mountOptions = "fsname=codebegenfs,subtype=codebegenfs"
        if options.allowOther { mountOptions += ",allow_other" }
        if options.needsKernelPermissionChecks { mountOptions += ",default_permissions" }
        // Device nodes open as on ext4 (libfuse mounts `nodev` by default). Only root may make
        // them, and only root may mount with `dev`.
        if geteuid() == 0 { mountOptions += ",dev" }
        for option in options.kernelOptions { mountOptions += ",\(option)" }
        for argument in ["codebegenfs", "-o", mountOptions] { fuse_opt_add_arg(&arguments, argument) }
        var operations = makeLowLevelOperations()
        session = cfuse_session_new(&arguments, &operations, MemoryLayout<fuse_lowlevel_ops>.size, context.toOpaque())
        guard session != nil else {
            throw MountError(description: "could not create the FUSE session (bad mount options?)")
        }
    }

    deinit {
        if let session { fuse_session_destroy(session) }
        fuse_opt_free_args(&arguments)
        context.release()
    }

    /// Mounts at the mountpoint; after this returns, the file system is visible.
    public func mount() throws {
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw MountError(description: "could not mount at \(mountpoint) (see the libfuse message above)")
        }
        installSignalHandlers()
        logger.info("mounted at \(mountpoint)")
    }

    /// SIGINT, SIGTERM and SIGHUP unmount (lazily, so open files do not block it); the request
    /// loop then ends as it does after `fusermount3 -u`. libfuse's own handlers only set a flag
    /// that the loop misses when the signal lands on a thread that is not libfuse's.
    private func installSignalHandlers() {
        let mountpoint = self.mountpoint
        let logger = self.logger
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                logger.info("signal \(signalNumber): unmounting \(mountpoint)")
                if umount2(mountpoint, Int32(MNT_DETACH)) != 0 {
                    _ = runFusermount(["-u", "-z", mountpoint])
                }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Serves requests on `threads` threads until the file system is unmounted or a signal
    /// arrives, then unmounts. `spin`: how long the reading thread keeps reading after a request
    /// before it sleeps (RequestLoop); zero sleeps at once.
    public func run(threads: Int, spin: Duration) -> Int32 {
        guard let session else { return -EINVAL }
        let result = RequestLoop(session: session, threads: threads, spin: spin, logger: logger).run()
        fuse_session_unmount(session)
        signalSources.forEach { $0.cancel() }
        logger.info("unmounted \(mountpoint)")
        return result
    }
}
