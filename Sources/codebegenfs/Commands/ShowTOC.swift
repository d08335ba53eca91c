// `codebegenfs toc FILE`: prints a TOC (format 1 or 2) as format-1 JSON, for people and `jq`.
import ArgumentParser
import Foundation
import SeekableArchive

struct ShowTOC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toc",
        abstract: "Print an archive's TOC (v<n>.toc.json, any format version) as one line of JSON."
    )

    @Argument(help: "The TOC file, e.g. a v1.toc.json downloaded from the bucket.")
    var file: String

    func run() throws {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        // The JSON form is format 1, whichever format the file is in.
        var toc = try ArchiveTOC.decode(from: [UInt8](bytes))
        toc.formatVersion = 1
        FileHandle.standardOutput.write(Data(try toc.encodeJSON() + [UInt8(ascii: "\n")]))
    }
}
