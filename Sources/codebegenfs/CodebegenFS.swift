// The `codebegenfs` command: mount, unmount, and the tools around them.
import ArgumentParser

@main
struct CodebegenFS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codebegenfs",
        abstract: "A FUSE file system for generated code trees, uploaded to Supabase Storage.",
        subcommands: [Mount.self, Unmount.self, Status.self, Doctor.self, ServeStorage.self, Pack.self, ShowTOC.self])

    static func main() async {
        do {
            let name = (CommandLine.arguments.first ?? "").split(separator: "/").last.map(String.init) ?? ""
            let arguments = Array(CommandLine.arguments.dropFirst())
            var command = try parseAsRoot(
                name.hasPrefix("umount.") ? umountHelperAsUnmount(arguments) : fstabFormAsMount(arguments))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// mount.fuse3 runs `codebegenfs SOURCE MOUNTPOINT -o OPTIONS` for an fstab line of type
    /// fuse.codebegenfs: that is `codebegenfs mount MOUNTPOINT --source SOURCE -o OPTIONS`.
    static func fstabFormAsMount(_ arguments: [String]) -> [String] {
        let names = Set(configuration.subcommands.map { $0._commandName } + ["help"])
        guard arguments.count >= 2, let source = arguments.first, !source.hasPrefix("-"), !names.contains(source),
            !arguments[1].hasPrefix("-")
        else { return arguments }
        return ["mount", arguments[1], "--source", source] + arguments.dropFirst(2)
    }

    /// umount(8) runs `/sbin/umount.fuse.codebegenfs MOUNTPOINT [-flnrv] [-t TYPE]` when that
    /// helper exists (a link to this binary): that is `codebegenfs unmount MOUNTPOINT [--lazy]`,
    /// so `umount /srv/gen` also waits until the daemon has saved.
    static func umountHelperAsUnmount(_ arguments: [String]) -> [String] {
        var result = ["unmount"]
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "-t" {
                _ = rest.popFirst()
            } else if argument.hasPrefix("-") {
                if argument.dropFirst().contains("l") { result.append("--lazy") }
            } else {
                result.append(argument)
            }
        }
        return result
    }
}
