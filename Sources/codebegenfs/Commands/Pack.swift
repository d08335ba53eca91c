// `codebegenfs pack DIR OUT`: packs a directory into a seekable tar.gz and writes its TOC beside it.
import ArgumentParser
import SeekableArchive
import SystemPackage

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a directory into a seekable tar.gz and write its TOC (.toc.json, format 2) beside it."
    )

    @Argument(help: "The directory to pack (it is not an entry itself; paths are relative to it).")
    var directory: String

    @Argument(help: "The archive to write, e.g. v1.tar.gz. The TOC goes to v1.toc.json.")
    var output: String

    @Option(help: "Pack regular files up to this many tar bytes into shared gzip members (0: one member per file).")
    var smallFileGroupLimit: Int = SeekableTarWriter.Options.snapshot.smallFileGroupLimit

    @Option(help: "zlib compression level, 0-9.")
    var compressionLevel: Int32 = SeekableTarWriter.Options().compressionLevel

    @Flag(help: "Keep mtime nanoseconds in the tar headers too (a pax record per such file); by default they are in the TOC only.")
    var subSecondMtimes = false

    func validate() throws {
        guard (0...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 0...9") }
        guard smallFileGroupLimit >= 0 else { throw ValidationError("--small-file-group-limit must be 0 or more") }
    }

    func run() throws {
        let options = SeekableTarWriter.Options(
            compressionLevel: compressionLevel,
            smallFileGroupLimit: smallFileGroupLimit,
            subSecondMtimes: subSecondMtimes
        )
        let tocPath = Self.tocPath(forArchive: output)
        _ = try ArchivePacker.pack(
            directory: FilePath(directory), to: FilePath(output), tocOutput: FilePath(tocPath), options: options)
        print(tocPath)
    }

    /// `v1.tar.gz` → `v1.toc.json`; any other name gets `.toc.json` appended.
    static func tocPath(forArchive archive: String) -> String {
        archive.hasSuffix(".tar.gz") ? String(archive.dropLast(".tar.gz".count)) + ".toc.json" : archive + ".toc.json"
    }
}
