// `codebegenfs unmount`: asks the kernel to unmount; the daemon then saves and exits.
import ArgumentParser

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unmount a mounted file system.")

    @Argument(help: "The mountpoint.")
    var mountpoint: String

    @Flag(help: "Detach even while files are open (lazy unmount).")
    var lazy = false

    func run() throws {
        let status = runTool("/bin/fusermount3", (lazy ? ["-u", "-z"] : ["-u"]) + [absolutePath(mountpoint)])
        if status != 0 { throw ExitCode(status) }
    }
}
