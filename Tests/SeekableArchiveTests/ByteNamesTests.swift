// Names that are any bytes (not UTF-8, control bytes, 255-byte names, paths over 4096 bytes): through
// the writer, the reader, both TOC formats, LocalTOC, GNU tar and Python's tarfile, and the packer.
import Foundation
import SystemPackage
import Testing

@testable import SeekableArchive

@Suite struct ByteNamesTests {
    /// Every member as `kind hex(path) hex(target or content)`, sorted: what tarfile reads.
    static let tarfileListing = #"""
        import sys, tarfile
        out = []
        with tarfile.open(sys.argv[1], 'r:gz', encoding='utf-8', errors='surrogateescape') as t:
            for m in t:
                name = m.name.encode('utf-8', 'surrogateescape')
                if m.isdir(): out.append('d %s -' % name.hex())
                elif m.issym(): out.append('l %s %s' % (name.hex(), m.linkname.encode('utf-8', 'surrogateescape').hex()))
                else: out.append('f %s %s' % (name.hex(), t.extractfile(m).read().hex()))
        print('\n'.join(sorted(out)))
        """#

    /// The same listing of an extracted directory, read with directory descriptors (paths over
    /// PATH_MAX), names as bytes.
    static let directoryListing = #"""
        import os, sys
        out = []
        for top, dirs, files, fd in os.fwalk(b'.', follow_symlinks=False):
            prefix = b'' if top == b'.' else top[2:] + b'/'
            for d in dirs:
                out.append('d %s -' % (prefix + d).hex())
            for f in files:
                try:
                    target = os.readlink(f, dir_fd=fd)
                    out.append('l %s %s' % ((prefix + f).hex(), target.hex()))
                except OSError:
                    with open(os.open(f, os.O_RDONLY, dir_fd=fd), 'rb') as h:
                        out.append('f %s %s' % ((prefix + f).hex(), h.read().hex()))
        print('\n'.join(sorted(out)))
        """#

    static func expectedListing(includingDeep: Bool = true) -> [String] {
        ByteNameTree.entries().compactMap { entry, content in
            if !includingDeep && entry.pathBytes.starts(with: Array("deep".utf8)) { return nil }
            let path = ByteNameTree.hex(entry.pathBytes)
            switch entry.kind {
            case .directory: return "d \(path) -"
            case .symlink: return "l \(path) \(ByteNameTree.hex(entry.linkTargetBytes ?? []))"
            default: return "f \(path) \(ByteNameTree.hex(content))"
            }
        }.sorted()
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init)
    }

    @Test func namesComeBackAsTheSameBytesFromTheWriterReaderAndBothTOCFormats() throws {
        let temp = try TemporaryDirectory("byte-names")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"))
        try ByteNameTree.append(to: writer, scratch: temp)
        let toc = try writer.finish()
        let expected = ByteNameTree.entries()
        #expect(toc.formatVersion == 3, "names that are not UTF-8 need format 3")
        #expect(toc.entries.map(\.pathBytes) == expected.map(\.entry.pathBytes))
        #expect(toc.entries.map(\.linkTargetBytes) == expected.map(\.entry.linkTargetBytes))
        let deepest = try #require(toc.entries.map(\.pathBytes.count).max())
        #expect(deepest > 4096)

        let archive = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? archive.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: archive))
        for (entry, content) in expected where entry.kind == .file {
            #expect(try reader.readFile(at: entry.pathBytes) == content, "\(entry.path)")
        }
        #expect(reader.entry(at: ByteNameTree.badName) != nil)
        #expect(reader.entry(at: NameBytes.text(ByteNameTree.badName)) == nil, "the lossy String names another file")

        let format2 = try toc.encodeFormat2()
        #expect(try ArchiveTOC.decode(from: format2) == toc)
        let json = try toc.encodeJSON()
        #expect(try ArchiveTOC.decode(from: json) == toc)
        let text = String(decoding: json, as: UTF8.self)
        let badBase64 = Data(ByteNameTree.badName).base64EncodedString()
        #expect(text.contains("\"path_base64\":\"\(badBase64)\"") && text.contains("\"link_target_base64\":\"\(badBase64)\""))
        #expect(text.contains("\"path\":\"tab\\tname\""), "UTF-8 names stay plain JSON strings")
    }

    @Test func localTOCAndTheFileIndexFindByteNames() throws {
        let temp = try TemporaryDirectory("byte-names-local")
        let tocWriter = try TOCFileWriter(output: temp.sub("v1.toc"))
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: .snapshot, toc: tocWriter)
        try ByteNameTree.append(to: writer, scratch: temp)
        let summary = try writer.finishArchive()
        #expect(summary.formatVersion == 3)
        #expect(try tocWriter.finish(summary) > 0)

        let bytes = try TOCFormat2Tests.readFile(temp.sub("v1.toc"))
        try Fixtures.writeFile(temp.sub("v1.json"), try ArchiveTOC.decode(from: bytes).encodeJSON(), mode: 0o644)
        for file in ["v1.toc", "v1.json"] {
            let local = try LocalTOC(path: temp.sub(file))
            let inner = ByteNameTree.badDirectory + Array("/inner".utf8) + [0x80]
            #expect(try local.entry(at: inner)?.pathBytes == inner, "\(file)")
            #expect(try local.treeEntry(at: ByteNameTree.symlinkName).map { entry -> [UInt8]? in
                guard case .entry(let found) = entry else { return nil }
                return found.linkTargetBytes
            } == ByteNameTree.badName)
            #expect(try local.children(of: ByteNameTree.badDirectory).map(\.pathBytes) == [inner])
            let top = try local.children(of: [UInt8]()).map(\.pathBytes)
            #expect(top.count == ByteNameTree.fileNames.count + 3 && top.contains(ByteNameTree.badName))
            var deep: [UInt8] = []
            for component in ByteNameTree.deepDirectories.prefix(21) { deep += (deep.isEmpty ? [] : [0x2F]) + component }
            #expect(try local.children(of: deep).map(\.pathBytes.count) == [deep.count + 201])
        }
        guard case .index(let index) = try TOCFileIndex.parse(tail: bytes, fileSize: UInt64(bytes.count)) else {
            throw TestFailure("the whole TOC is a tail")
        }
        let found = try index.entry(at: ByteNameTree.badName) { range throws(ArchiveError) in
            Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        }
        #expect(found?.pathBytes == ByteNameTree.badName)
    }

    @Test func gnuTarAndPythonTarfileGetTheExactBytes() throws {
        let temp = try TemporaryDirectory("byte-names-tar")
        let writer = try SeekableTarWriter(output: temp.sub("v1.tar.gz"), options: .snapshot)
        try ByteNameTree.append(to: writer, scratch: temp)
        _ = try writer.finish()
        let archive = Shell.quote(temp.sub("v1.tar.gz").string)

        try Fixtures.writeFile(temp.sub("list_members.py"), Array(Self.tarfileListing.utf8), mode: 0o644)
        let read = try Shell.run("python3 \(Shell.quote(temp.sub("list_members.py").string)) \(archive)")
        #expect(Self.lines(read.stdout) == Self.expectedListing())

        // GNU tar stops at PATH_MAX (4096) when it creates a file, so the deep path stays out;
        // tar 1.34 warns that it does not know `hdrcharset`, and keeps the bytes as they are.
        let out = temp.sub("extracted")
        try Fixtures.makeDirectory(out, mode: 0o755)
        let extract = try Shell.run(
            "tar -xzf \(archive) -C \(Shell.quote(out.string)) --exclude='deep00-*'", check: false)
        #expect(extract.status == 0, "\(extract.stderr)")
        try Fixtures.writeFile(temp.sub("walk.py"), Array(Self.directoryListing.utf8), mode: 0o644)
        let walked = try Shell.run("cd \(Shell.quote(out.string)) && python3 \(Shell.quote(temp.sub("walk.py").string))")
        #expect(Self.lines(walked.stdout) == Self.expectedListing(includingDeep: false))
    }

    @Test func thePackerTakesNamesAndTargetsAsTheirBytes() throws {
        let temp = try TemporaryDirectory("byte-names-pack")
        let tree = temp.sub("tree")
        try Fixtures.makeDirectory(tree, mode: 0o755)
        // Python makes the names: Swift's file APIs take Strings.
        let make = #"""
            import os, sys
            os.chdir(sys.argv[1])
            os.mkdir(b'dir-\xc3(')
            with open(b'dir-\xc3(/bad-\xff\xfe.txt', 'wb') as f: f.write(b'bytes')
            with open(b'new\nline', 'wb') as f: f.write(b'nl')
            os.symlink(b'bad-\xff\xfe.txt', b'dir-\xc3(/sym-\xfe')
            """#
        try Fixtures.writeFile(temp.sub("make.py"), Array(make.utf8), mode: 0o644)
        try Shell.run("python3 \(Shell.quote(temp.sub("make.py").string)) \(Shell.quote(tree.string))")

        let toc = try ArchivePacker.pack(directory: tree, to: temp.sub("v1.tar.gz"))
        let directory = Array("dir-".utf8) + [0xC3, 0x28]
        #expect(
            toc.entries.map(\.pathBytes) == [
                directory, directory + Array("/bad-".utf8) + [0xFF, 0xFE] + Array(".txt".utf8),
                directory + Array("/sym-".utf8) + [0xFE], Array("new\nline".utf8),
            ])
        #expect(toc.entries[2].linkTargetBytes == ByteNameTree.badName)
        #expect(toc.formatVersion == 3)
        let archive = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? archive.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: archive))
        #expect(try reader.readFile(at: toc.entries[1].pathBytes) == Array("bytes".utf8))
    }

    /// `pack` walks by directory descriptors: a tree deeper than PATH_MAX packs (a full path
    /// would be ENAMETOOLONG), and the user.* attributes of files and directories go with it.
    @Test func packTakesTreesDeeperThanPathMaxAndTheirAttributes() throws {
        let temp = try TemporaryDirectory("bytenames-deep-pack")
        let tree = temp.sub("tree")
        try Fixtures.makeDirectory(tree, mode: 0o755)
        let make = #"""
            import os, sys
            fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
            os.setxattr('/proc/self/fd/%d' % fd, b'user.top', b'\x00t')
            for level in range(25):
                name = b'%02d-' % level + b'd' * 196
                os.mkdir(name, dir_fd=fd)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            f = os.open(b'bottom-\xff', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, b'deep down')
            os.setxattr(f, b'user.raw', b'\xff\x00\xfe')
            os.setxattr(f, b'user.a', b'')
            os.close(f)
            os.symlink(b'bottom-\xff', b'link', dir_fd=fd)
            """#
        try Fixtures.writeFile(temp.sub("make.py"), Array(make.utf8), mode: 0o644)
        try Shell.run("python3 \(Shell.quote(temp.sub("make.py").string)) \(Shell.quote(tree.string))")

        let toc = try ArchivePacker.pack(directory: tree, to: temp.sub("v1.tar.gz"))
        #expect(toc.entries.count == 27, "25 directories, the file and the link: \(toc.entries.count)")
        let bottom = try #require(toc.entries.first { $0.type == .file })
        #expect(bottom.pathBytes.count > 5000, "the file lies past PATH_MAX: \(bottom.pathBytes.count) bytes")
        #expect(
            bottom.xattrs == [
                ArchiveXattr(name: Array("user.a".utf8), value: []),
                ArchiveXattr(name: Array("user.raw".utf8), value: [0xFF, 0x00, 0xFE]),
            ])
        #expect(toc.entries.first { $0.type == .symlink }?.linkTargetBytes == Array("bottom-".utf8) + [0xFF])
        #expect(toc.entries.filter { !$0.xattrs.isEmpty }.count == 1, "the packed directory itself is no entry")
        #expect(toc.formatVersion == 4)
        let archive = try FileDescriptor.open(temp.sub("v1.tar.gz"), .readOnly)
        defer { try? archive.close() }
        let reader = try SeekableTarReader(toc: toc, source: FileByteSource(descriptor: archive))
        #expect(try reader.readFile(at: bottom.pathBytes) == Array("deep down".utf8))
    }

    @Test func packNamesTheDirectoryItCannotOpen() throws {
        let temp = try TemporaryDirectory("bytenames-pack-missing")
        #expect(throws: ArchiveError.io(operation: "open", path: temp.sub("missing").string, errno: .noSuchFileOrDirectory)) {
            _ = try ArchivePacker.pack(directory: temp.sub("missing"), to: temp.sub("v1.tar.gz"))
        }
    }
}
