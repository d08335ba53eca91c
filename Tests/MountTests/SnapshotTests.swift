// Snapshots in the mount (DESIGN §2, §3 download_url, §4): a version is packed into a local
// seekable tar.gz after the write-back delay; download_url always names an archive matching `ls`.
import Foundation
import Testing

@Suite(.serialized) struct SnapshotTests {
    /// The swift-log sources, exported to a temporary directory.
    private func sourceTree() throws -> String {
        let dir = try makeTemporaryDirectory(prefix: "mt-snap-src")
        try Shell.check("git -C /opt/swift-packages/apple/swift-log.git archive 1.16.2 | tar -x -C \(Shell.quote(dir))")
        return dir
    }

    private func waitForStatus(_ fs: MountedFS, _ version: String, _ wanted: String, timeout: Double = 20) throws {
        try fs.waitForStatus(version, "status \(wanted)", timeout: timeout) { $0["status"] as? String == wanted }
    }

    @Test func archiveListsExactlyTheTreeAndExtractsIdentically() throws {
        let source = try sourceTree()
        defer { removeTree(source) }
        try withMount { fs in
            let version = try fs.makeVersion()
            try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(version))/")
            #expect(try fs.status("projects/p1/generations/g1/v1")["status"] as? String == "writing")
            try waitForStatus(fs, "projects/p1/generations/g1/v1", "completed")
            let status = try fs.status("projects/p1/generations/g1/v1")
            let url = try Shell.check("cat \(Shell.quote(version))/download_url").stdout
            #expect(url.hasPrefix("file:///") && url.hasSuffix(".tar.gz\n"), "\(url)")
            #expect(status["download_url"] as? String == url.trimmingCharacters(in: .newlines))
            #expect((status["archive_bytes"] as? Int ?? 0) > 0)

            let listed = try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -tz | sed 's|/$||' | sort")
            let expected = try Shell.check("cd \(Shell.quote(source)) && find . -mindepth 1 | sed 's|^\\./||' | sort")
            #expect(listed.stdout == expected.stdout)
            #expect(!listed.stdout.contains("status.json") && !listed.stdout.contains("download_url"))

            let extracted = try makeTemporaryDirectory(prefix: "mt-snap-x")
            defer { removeTree(extracted) }
            try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -xz -C \(Shell.quote(extracted))")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(extracted))")
            try Shell.check("gzip -t \"$(sed 's|^file://||' \(Shell.quote(version))/download_url)\"")
        }
    }

    /// A one-file change in a packed tree: the next snapshot copies the other files' compressed
    /// members (the daemon says how many bytes) and the archive still extracts to the tree.
    @Test func aOneFileChangeIsPackedIncrementallyAndTheArchiveStillMatches() throws {
        let source = try sourceTree()
        defer { removeTree(source) }
        try withMount { fs in
            let version = try fs.makeVersion()
            let status = "projects/p1/generations/g1/v1"
            try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(version))/")
            try waitForStatus(fs, status, "completed")
            try Shell.check("echo changed >> \(Shell.quote(version))/README.md && echo changed >> \(Shell.quote(source))/README.md")
            // "snapshot …: compressed C bytes, copied R compressed bytes from the previous archive"
            let incremental = { () -> (line: Substring, compressed: Int, copied: Int)? in
                for line in fs.logTail(1_000_000).split(separator: "\n").reversed() {
                    guard let match = line.firstMatch(of: /compressed (\d+) bytes, copied (\d+) compressed bytes/),
                        let compressed = Int(match.1), let copied = Int(match.2), copied > 0
                    else { continue }
                    return (line, compressed, copied)
                }
                return nil
            }
            try fs.waitForStatus(status, "the change packed", timeout: 20) { _ in incremental() != nil }
            try waitForStatus(fs, status, "completed")
            let (line, compressed, copied) = try #require(incremental())
            let archiveBytes = try #require(try fs.status(status)["archive_bytes"] as? Int)
            #expect(copied > archiveBytes / 2, "most of the archive copied: \(line)")
            #expect(compressed < 1 << 20, "one shared member compressed again, not the tree: \(line)")

            let extracted = try makeTemporaryDirectory(prefix: "mt-snap-incr")
            defer { removeTree(extracted) }
            try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -xz -C \(Shell.quote(extracted))")
            try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(extracted))")
        }
    }

    /// Files' user.* attributes are archived (pax SCHILY.xattr records, GNU tar restores them
    /// with --xattrs): changing only an attribute changes the file's entry, so the next
    /// (incremental) snapshot holds the new value; as on ext4 the change moves the file's ctime.
    @Test func anAttributeChangeAloneReachesTheNextSnapshot() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            let file = Shell.quote(version + "/a.txt")
            try Shell.check("echo a > \(file) && echo b > \(Shell.quote(version))/b.txt && setfattr -n user.tag -v one \(file)")
            func archivedTag() throws -> String {
                let extracted = try makeTemporaryDirectory(prefix: "mt-snap-xattr")
                defer { removeTree(extracted) }
                try Shell.check(
                    "curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar --xattrs --xattrs-include='user.*' -xz -C \(Shell.quote(extracted))")
                return try Shell.check("getfattr --only-values -n user.tag \(Shell.quote(extracted))/a.txt").stdout
            }
            #expect(try archivedTag() == "one")
            let ctime = { try Shell.check("python3 -c 'import os,sys; print(os.stat(sys.argv[1]).st_ctime_ns)' \(file)").stdout }
            let before = try ctime()
            usleep(20_000)
            try Shell.check("setfattr -n user.tag -v two \(file)")
            #expect(Int64(try ctime().trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                > Int64(before.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .max, "setxattr moves the ctime")
            #expect(try archivedTag() == "two", "download_url packs the attribute change first")
            try Shell.check("setfattr -x user.tag \(file)")
            let extracted = try makeTemporaryDirectory(prefix: "mt-snap-xattr")
            defer { removeTree(extracted) }
            try Shell.check(
                "curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar --xattrs --xattrs-include='user.*' -xz -C \(Shell.quote(extracted))")
            let left = try Shell.run("getfattr -d -m 'user\\.' \(Shell.quote(extracted))/a.txt").stdout
            #expect(!left.contains("user.tag"), "a removed attribute is gone from the next snapshot: \(left)")
        }
    }

    @Test func readingDownloadURLRightAfterAChangeSnapshotsFirst() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            try Shell.check("echo one > \(Shell.quote(version))/a.txt")
            try waitForStatus(fs, "projects/p1/generations/g1/v1", "completed")
            try Shell.check("echo two > \(Shell.quote(version))/a.txt && mkdir \(Shell.quote(version))/new && echo n > \(Shell.quote(version))/new/b")
            // No waiting: download_url must already name an archive with the change.
            let content = try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -xzO a.txt")
            #expect(content.stdout == "two\n")
            let listed = try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -tz")
            #expect(listed.stdout.contains("new/b"))
            #expect(try fs.status("projects/p1/generations/g1/v1")["status"] as? String == "completed")
            // The generation's download_url is that of its latest version.
            let generationURL = try Shell.check("cat \(Shell.quote(fs.path("projects/p1/generations/g1")))/download_url").stdout
            #expect(generationURL == (try Shell.check("cat \(Shell.quote(version))/download_url").stdout))
        }
    }

    @Test func anOpenWriterKeepsTheVersionWriting() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            let fd = try Sys.open(version + "/open.txt", O_WRONLY | O_CREAT).get()
            _ = Sys.writeAll(fd, Array("partial".utf8))
            usleep(2_500_000)  // longer than WRITE_BACK_DELAY=1
            #expect(try fs.status("projects/p1/generations/g1/v1")["status"] as? String == "writing")
            close(fd)
            try waitForStatus(fs, "projects/p1/generations/g1/v1", "completed")
        }
    }

    @Test func aNewVersionIsNotPackedBeforeItsQuietPeriodHasPassed() throws {
        try withMount(start: false) { fs in
            fs.environmentOverrides = ["WRITE_BACK_DELAY": "3"]
            try fs.start()
            let version = try fs.makeVersion()
            let archive = fs.dataDir + "/archives/projects/p1/generations/g1/v1.tar.gz"
            usleep(1_500_000)
            // Right after `mkdir`, the tool has not written yet: nothing is packed, let alone uploaded.
            #expect(try fs.status("projects/p1/generations/g1/v1")["status"] as? String == "writing")
            #expect(!FileManager.default.fileExists(atPath: archive))
            try Shell.check("echo late > \(Shell.quote(version))/late.txt")
            try waitForStatus(fs, "projects/p1/generations/g1/v1", "completed")
            let content = try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -xzO late.txt")
            #expect(content.stdout == "late\n")
        }
    }

    @Test func sealingTakesAFinalSnapshotThatSurvivesRemount() throws {
        try withMount { fs in
            let version = try fs.makeVersion()
            try Shell.check("echo sealed-content > \(Shell.quote(version))/f.txt")
            try fs.mkdirP("projects/p1/generations/g1/v2")
            try waitForStatus(fs, "projects/p1/generations/g1/v1", "completed", timeout: 5)
            _ = try fs.stop()
            try fs.start()
            let status = try fs.status("projects/p1/generations/g1/v1")
            #expect(status["status"] as? String == "completed")
            #expect(status["sealed"] as? Bool == true)
            let content = try Shell.check("curl -sf \"$(cat \(Shell.quote(version))/download_url)\" | tar -xzO f.txt")
            #expect(content.stdout == "sealed-content\n")
        }
    }
}
