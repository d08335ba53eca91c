// One FUSE mount: creates the libfuse session, mounts it, runs the multithreaded request loop
// until unmounted or signalled (SIGINT/SIGTERM/SIGHUP), then unmounts and tears down.
internal import CFuse
import Foundation
import GenerationStore
import Logging

public struct MountOptions: Sendable {
    public var allowOther = false
    public var maxThreads = 8

    public init(allowOther: Bool = false, maxThreads: Int = 8) {
        self.allowOther = allowOther
        self.maxThreads = maxThreads
    }
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

    public init(fileSystem: GenerationFileSystem, mountpoint: String, options: MountOptions, logger: Logger) throws {
        self.mountpoint = mountpoint
        self.logger = logger
        context = Unmanaged.passRetained(FuseContext(fileSystem: fileSystem, logger: logger))
        var mountOptions = "fsname=codebegenfs,subtype=codebegenfs,default_permissions"
        if options.allowOther { mountOptions += ",allow_other" }
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
        // A daemon started with `&` inherits SIGINT ignored; libfuse only handles signals at their default.
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] { signal(signalNumber, SIG_DFL) }
        guard fuse_set_signal_handlers(session) == 0 else {
            throw MountError(description: "could not install signal handlers")
        }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            fuse_remove_signal_handlers(session)
            throw MountError(description: "could not mount at \(mountpoint) (see the libfuse message above)")
        }
        logger.info("mounted at \(mountpoint)")
    }

    /// Serves requests until the file system is unmounted or a signal arrives, then unmounts.
    public func run(maxThreads: Int) -> Int32 {
        let config = fuse_loop_cfg_create()
        fuse_loop_cfg_set_max_threads(config, UInt32(maxThreads))
        fuse_loop_cfg_set_clone_fd(config, 0)
        let result = cfuse_session_loop_mt(session, config)
        fuse_loop_cfg_destroy(config)
        fuse_session_unmount(session)
        fuse_remove_signal_handlers(session)
        logger.info("unmounted \(mountpoint)")
        return result
    }
}
