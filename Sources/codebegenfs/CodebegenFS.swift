// The `codebegenfs` command: mount, unmount, and the tools around them.
import ArgumentParser

@main
struct CodebegenFS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codebegenfs",
        abstract: "A FUSE file system for generated code trees, uploaded to Supabase Storage.",
        subcommands: [Mount.self, Unmount.self, Status.self, Doctor.self, ServeStorage.self, Pack.self])
}
