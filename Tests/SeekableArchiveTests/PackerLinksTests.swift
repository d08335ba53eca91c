// `codebegenfs pack` (ArchivePacker) of a directory holding hard links and special files: one
// copy of the linked file's data, a hard link entry for its other name, FIFOs and devices with
// their numbers, sockets left out; GNU tar extracts the same tree.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct PackerLinksTests {
    @Test func hardLinksFifosAndDevicesArePackedAndSocketsLeftOut() throws {
        guard getuid() == 0 else {
            Issue.record("mknod of a device needs root; these tests run as root in CI")
            return
        }
        let work = try TemporaryDirectory("pack-links")
        let tree = work.sub("tree")
        _ = try Shell.run(
            """
            mkdir -p \(tree)/sub && printf 'linked data' > \(tree)/sub/a && ln \(tree)/sub/a \(tree)/b \
            && mkfifo \(tree)/pipe && mknod \(tree)/null c 1 3 && mknod \(tree)/loop b 7 0 \
            && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('\(tree)/sock')"
            """)
        let archive = work.sub("out.tar.gz")
        let summary = try ArchivePacker.pack(directory: tree, to: archive, tocOutput: work.sub("out.toc.json"))
        #expect(summary.formatVersion == 3)
        let toc = try ArchiveTOC.decode(from: [UInt8](try Data(contentsOf: URL(fileURLWithPath: work.sub("out.toc.json").string))))
        let byPath = Dictionary(uniqueKeysWithValues: toc.entries.map { ($0.path, $0) })
        #expect(byPath["b"]?.type == .file && byPath["b"]?.links == 2, "the first name in byte order carries the data")
        #expect(byPath["sub/a"]?.type == .hardLink && byPath["sub/a"]?.linkTarget == "b")
        #expect(byPath["pipe"]?.type == .fifo)
        #expect(byPath["null"]?.device == ArchiveDevice(major: 1, minor: 3) && byPath["null"]?.type == .characterDevice)
        #expect(byPath["loop"]?.device == ArchiveDevice(major: 7, minor: 0) && byPath["loop"]?.type == .blockDevice)
        #expect(byPath["sock"] == nil, "sockets cannot be archived")

        let out = work.sub("extracted")
        _ = try Shell.run("mkdir \(out) && tar -xzf \(archive) -C \(out)")
        let listing = try Shell.run("cd \(out) && stat -c '%n %h %F %t,%T' b sub/a pipe null loop").stdout
        #expect(
            listing.split(separator: "\n") == [
                "b 2 regular file 0,0", "sub/a 2 regular file 0,0", "pipe 1 fifo 0,0", "null 1 character special file 1,3",
                "loop 1 block special file 7,0",
            ])
        let inodes = try Shell.run("stat -c %i \(out)/b \(out)/sub/a").stdout.split(separator: "\n")
        #expect(inodes.count == 2 && inodes[0] == inodes[1])
        #expect(try String(contentsOfFile: out.appending("sub/a").string, encoding: .utf8) == "linked data")
    }
}
