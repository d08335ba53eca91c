// Hard links inside an open version behave as on ext4 (SEMANTICS § Inside an open version):
// names of one inode, link counts, writes and attribute changes seen through every name, the
// content kept while a descriptor is open, the errnos of the refused cases, real tools that
// make and keep links (ln, cp -al, rsync -aH, tar), and consistency across remounts and kill -9.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct HardLinkTests {
    /// The names in `v`, without a version root's virtual files (absent in a plain directory).
    static func names(_ v: String) -> [String]? {
        Sys.list(v)?.filter { !isVersionRootVirtual($0) }
    }

    @Test func twoNamesAreOneInodeAndChangesShowThroughBoth() throws {
        try withOpenVersion { _, v in
            var content = patternBytes(count: 150_000, seed: 11)
            #expect(Sys.writeFile(v + "/a", content) == .ok)
            #expect(NodeStat.of(v + "/a")?.nlink == 1)
            #expect(Sys.link(v + "/a", v + "/b") == .ok)
            let a = try #require(NodeStat.of(v + "/a"))
            let b = try #require(NodeStat.of(v + "/b"))
            #expect(a.inode == b.inode, "a \(a) / b \(b)")
            #expect(a.nlink == 2 && b.nlink == 2, "a \(a) / b \(b)")
            #expect(try Sys.readFile(v + "/b") == content)

            // Written through one name, read through the other.
            let fd = try Sys.open(v + "/b", O_WRONLY).get()
            #expect(Sys.pwriteAll(fd, Array("through b".utf8), at: 1000) == .ok)
            #expect(close(fd) == 0)
            content.replaceSubrange(1000..<1009, with: Array("through b".utf8))
            #expect(try Sys.readFile(v + "/a") == content, "a write through b is read through a")
            try Shell.check("echo tail >> a", cwd: v)
            content += Array("tail\n".utf8)
            #expect(try Sys.readFile(v + "/b") == content, "an append through a is read through b")
            #expect(NodeStat.of(v + "/b")?.size == Int64(content.count))

            // Attributes too: chmod through a, chown through b, truncate through b.
            #expect(Sys.chmod(v + "/a", 0o600) == .ok)
            #expect(NodeStat.of(v + "/b")?.perm == 0o600, "chmod through a, seen through b")
            #expect(LinkFacts.chown(v + "/b", 1234, 5678) == .ok)
            let owner = try #require(NodeStat.of(v + "/a"))
            #expect(owner.uid == 1234 && owner.gid == 5678, "chown through b, seen through a: \(owner)")
            #expect(Sys.truncate(v + "/b", 500) == .ok)
            #expect(try Sys.readFile(v + "/a") == Array(content.prefix(500)), "truncate through b, seen through a")
            content = Array(content.prefix(500))

            // The refused cases create nothing.
            #expect(Sys.link(v + "/a", v + "/b") == .EEXIST)
            #expect(Sys.link(v + "/missing", v + "/m") == .ENOENT)
            #expect(Sys.link(v + "/a", v + "/nodir/m") == .ENOENT)
            #expect(Sys.link(v + "/a", v + "/a/m") == .ENOTDIR)
            #expect(Sys.mkdir(v + "/sub") == .ok)
            #expect(Sys.link(v + "/sub", v + "/sub2") == .EPERM, "a directory cannot be hard-linked")
            #expect(Sys.link(v + "/a", v + "/sub") == .EEXIST)
            #expect(Self.names(v) == ["a", "b", "sub"])

            // A third name in a subdirectory.
            #expect(Sys.link(v + "/b", v + "/sub/c") == .ok)
            #expect(NodeStat.of(v + "/a")?.nlink == 3)
            #expect(NodeStat.of(v + "/sub/c")?.inode == a.inode)

            // Unlinking one name leaves the others with the content and one link less.
            #expect(Sys.unlink(v + "/a") == .ok)
            #expect(NodeStat.of(v + "/b")?.nlink == 2)
            #expect(NodeStat.of(v + "/sub/c")?.nlink == 2)
            #expect(try Sys.readFile(v + "/sub/c") == content)

            // Another file renamed over a link name replaces that name only.
            #expect(Sys.writeFile(v + "/other", "other") == .ok)
            let other = try #require(NodeStat.of(v + "/other"))
            #expect(Sys.rename(v + "/other", v + "/sub/c") == .ok)
            let c = try #require(NodeStat.of(v + "/sub/c"))
            #expect(c.inode == other.inode && c.nlink == 1, "sub/c is now the other file: \(c)")
            #expect(try Sys.readText(v + "/sub/c") == "other")
            #expect(NodeStat.of(v + "/b")?.nlink == 1, "b lost its name sub/c")
            #expect(try Sys.readFile(v + "/b") == content)

            // A link name renamed elsewhere stays a name of the same inode.
            #expect(Sys.link(v + "/b", v + "/b2") == .ok)
            #expect(Sys.rename(v + "/b2", v + "/sub/b3") == .ok)
            #expect(NodeStat.of(v + "/sub/b3")?.inode == b.inode)
            #expect(NodeStat.of(v + "/b")?.nlink == 2)

            // Renaming one name of a file over another name of the same file does nothing (POSIX).
            #expect(Sys.rename(v + "/b", v + "/sub/b3") == .ok)
            #expect(NodeStat.of(v + "/b")?.inode == b.inode, "b is still there")
            #expect(NodeStat.of(v + "/sub/b3")?.inode == b.inode)
            #expect(NodeStat.of(v + "/b")?.nlink == 2)

            // A symlink can have a second name too (link(2) does not follow it).
            #expect(Sys.symlink("b", v + "/sl") == .ok)
            #expect(Sys.link(v + "/sl", v + "/sl2") == .ok)
            #expect(Sys.readlink(v + "/sl2") == "b")
            let sl = try #require(NodeStat.of(v + "/sl"))
            #expect(sl.type == S_IFLNK && sl.nlink == 2 && NodeStat.of(v + "/sl2")?.inode == sl.inode, "\(sl)")

            #expect(Self.names(v) == ["b", "sl", "sl2", "sub"])
            #expect(Sys.list(v + "/sub") == ["b3", "c"])
            let problems = LinkFacts.linkCountProblems(try LinkFacts.walk(v))
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    @Test func anOpenDescriptorKeepsTheContentAfterEveryNameIsGone() throws {
        try withOpenVersion { fs, v in
            let content = patternBytes(count: 3 << 20, seed: 12)
            #expect(Sys.writeFile(v + "/a", content) == .ok)
            #expect(Sys.link(v + "/a", v + "/b") == .ok)
            let fd = try Sys.open(v + "/b", O_RDWR).get()
            var closed = false
            defer { if !closed { close(fd) } }
            #expect(Sys.unlink(v + "/a") == .ok)
            #expect(NodeStat.of(fd: fd)?.nlink == 1)
            #expect(Sys.unlink(v + "/b") == .ok)
            let open = try #require(NodeStat.of(fd: fd))
            #expect(open.nlink == 0, "no names left: \(open)")
            #expect(Self.names(v) == [])
            #expect(try Sys.readAll(fd) == content)
            #expect(Sys.pwriteAll(fd, Array("more".utf8), at: content.count) == .ok)
            #expect(try Sys.readAll(fd, from: content.count) == Array("more".utf8))
            // The names can be reused at once, independently of the open file.
            #expect(Sys.writeFile(v + "/a", "new a") == .ok)
            #expect(try Sys.readText(v + "/a") == "new a")
            #expect(try Sys.readAll(fd).count == content.count + 4)

            guard let fs else { return }  // a plain directory has no blobs to look at
            let blob = LinkFacts.blobPath(fs, open.inode)
            #expect(Sys.exists(blob), "the open file's content is kept in \(blob)")
            #expect(close(fd) == 0)
            closed = true
            let deadline = Date().addingTimeInterval(10)
            while Sys.exists(blob), Date() < deadline { usleep(100_000) }
            #expect(!Sys.exists(blob), "the content is gone once the last descriptor is closed: \(blob) is still there")
            #expect(try Sys.readText(v + "/a") == "new a")
        }
    }

    @Test func linksAcrossGenerationsAreEXDEVAndSealedVersionsAreEROFS() throws {
        try withMount { fs in
            let g1v1 = try fs.makeVersion(generation: "g1")
            let g2v1 = try fs.makeVersion(generation: "g2")
            #expect(Sys.writeFile(g1v1 + "/a", "a") == .ok)
            #expect(Sys.mkdir(g2v1 + "/dir") == .ok)
            #expect(Sys.writeFile(g2v1 + "/f", "f") == .ok)
            // Both open: another version is another file system, as far as links go.
            #expect(Sys.link(g1v1 + "/a", g2v1 + "/dir/a") == .EXDEV)
            #expect(Sys.link(g1v1 + "/a", g2v1 + "/a") == .EXDEV)
            #expect(Sys.link(g2v1 + "/f", g1v1 + "/f") == .EXDEV)
            let ln = try Shell.run("ln \(Shell.quote(g1v1 + "/a")) \(Shell.quote(g2v1 + "/dir/ln"))")
            #expect(!ln.succeeded && ln.stderr.contains("Invalid cross-device link"), "\(ln)")
            #expect(Sys.list(g2v1 + "/dir") == [])
            #expect(NodeStat.of(g1v1 + "/a")?.nlink == 1)

            // g2/v1 sealed with chmod a-w: no link into it, within it, or out of it.
            #expect(Sys.link(g2v1 + "/f", g2v1 + "/f2") == .ok)
            try Shell.check("chmod a-w \(Shell.quote(g2v1))")
            #expect(try fs.status("projects/p1/generations/g2/v1")["sealed"] as? Bool == true)
            #expect(Sys.link(g2v1 + "/f", g2v1 + "/f3") == .EROFS, "within a version sealed by chmod a-w")
            #expect(Sys.link(g2v1 + "/f", g2v1 + "/dir/f3") == .EROFS, "within a version sealed by chmod a-w")
            #expect(Sys.link(g1v1 + "/a", g2v1 + "/dir/a") == .EROFS, "into a sealed version")
            #expect(Sys.link(g2v1 + "/f", g1v1 + "/f") == .EROFS, "of a file of a sealed version")
            #expect(Sys.list(g2v1) == ["dir", "download_url", "f", "f2", "status.json"])
            #expect(Sys.list(g2v1 + "/dir") == [])

            // g1/v1 sealed by mkdir v2.
            let g1v2 = try fs.makeVersion(generation: "g1", version: 2)
            #expect(Sys.writeFile(g1v2 + "/new", "new") == .ok)
            #expect(Sys.link(g1v1 + "/a", g1v1 + "/b") == .EROFS, "within a version sealed by its successor")
            #expect(Sys.link(g1v1 + "/a", g1v2 + "/a") == .EROFS, "of a file of a sealed version")
            #expect(Sys.link(g1v2 + "/new", g1v1 + "/new") == .EROFS, "into a sealed version")
            #expect(Sys.list(g1v1) == ["a", "download_url", "status.json"])
            #expect(Sys.list(g1v2) == ["download_url", "new", "status.json"])
            #expect(Sys.link(g1v2 + "/new", g1v2 + "/new2") == .ok, "v2 is open")

            // The names made before sealing are still one inode.
            let f = try #require(NodeStat.of(g2v1 + "/f"))
            #expect(f.nlink == 2 && NodeStat.of(g2v1 + "/f2")?.inode == f.inode, "\(f)")
            #expect(NodeStat.of(g1v1 + "/a")?.nlink == 1)
        }
    }

    /// A tree with files of one, two and three names across directories, and a symlink.
    static func makeLinkedTree(_ dir: String) throws {
        try Shell.check(
            """
            set -e; mkdir -p \(Shell.quote(dir))/sub/deep; cd \(Shell.quote(dir))
            head -c 70000 /dev/urandom > one; head -c 5000 /dev/urandom > sub/two
            echo solo > solo; echo deep > sub/deep/solo2; : > empty
            ln one one.link; ln one sub/deep/one.again; ln sub/two sub/deep/two.link; ln empty sub/empty.link
            ln -s one sym; chmod 600 sub/two; chmod 755 solo
            """)
    }

    @Test func lnCpAlRsyncAndTarMakeAndKeepLinks() throws {
        try LinkFacts.requireTool("rsync")
        let outside = try makeTemporaryDirectory(prefix: "mt-links-out")
        defer { removeTree(outside) }
        try withOpenVersion(timeout: 300) { _, v in
            try Self.makeLinkedTree(v + "/src")
            #expect(try Shell.check("stat -c %h src/one src/sub/two src/solo", cwd: v).stdout == "3\n2\n1\n")
            let src = try LinkFacts.walk(v + "/src")
            let expectedGroups = [["empty", "sub/empty.link"], ["one", "one.link", "sub/deep/one.again"], ["sub/deep/two.link", "sub/two"]]
            #expect(LinkFacts.linkedGroups(src) == expectedGroups)

            // cp -al: every name in the copy is the same inode as in the source.
            try Shell.check("cp -al src copy", cwd: v)
            let copy = try LinkFacts.walk(v + "/copy")
            #expect(copy.keys.sorted() == src.keys.sorted())
            for (path, info) in src where !info.isDir {
                let copied = copy[path]
                #expect(copied?.inode == info.inode, "copy/\(path) is src/\(path)'s inode: \(String(describing: copied)) vs \(info)")
                #expect(copied?.nlink == 2 * info.nlink, "copy/\(path): \(String(describing: copied)), src had \(info.nlink) names")
            }
            var problems = LinkFacts.linkCountProblems(try LinkFacts.walk(v))
            #expect(problems.isEmpty, "after cp -al: \(problems)")

            // rsync -aH out of the mount and back into another directory: the same groups.
            try Shell.check("rsync -aH src/ \(Shell.quote(outside))/out/", cwd: v, timeout: 120)
            #expect(LinkFacts.linkedGroups(try LinkFacts.walk(outside + "/out")) == expectedGroups, "rsync out of the mount")
            try Shell.check("rsync -aH \(Shell.quote(outside))/out/ back/", cwd: v, timeout: 120)
            let back = try LinkFacts.walk(v + "/back")
            #expect(LinkFacts.linkedGroups(back) == expectedGroups, "rsync into the mount")
            #expect(back.keys.sorted() == src.keys.sorted())
            for direction in ["\(Shell.quote(outside))/out/ back/", "back/ \(Shell.quote(outside))/out/"] {
                let check = try Shell.check("rsync -aH --checksum --dry-run --itemize-changes \(direction)", cwd: v, timeout: 120)
                #expect(check.stdout.isEmpty, "rsync -aH --checksum --dry-run --itemize-changes \(direction) reports:\n\(check.stdout)")
            }
            try Shell.check("diff -r src back", cwd: v)

            // tar within the version.
            try Shell.check("mkdir tarred && (cd src && tar -cf - .) | tar -xf - -C tarred", cwd: v)
            let tarred = try LinkFacts.walk(v + "/tarred")
            #expect(LinkFacts.linkedGroups(tarred) == expectedGroups, "tar within the version")
            try Shell.check("diff -r src tarred", cwd: v)

            problems = LinkFacts.linkCountProblems(try LinkFacts.walk(v))
            #expect(problems.isEmpty, "at the end: \(problems)")
        }
    }

    static func nlink(_ v: String, _ relative: String) -> Int? {
        NodeStat.of(relative.isEmpty ? v : v + "/" + relative)?.nlink
    }

    @Test func linkCountsFollowSubdirectoriesAndNames() throws {
        try withOpenVersion { _, v in
            let h = { (relative: String) -> Int? in Self.nlink(v, relative) }
            #expect(h("") == 2, "an empty version directory")
            #expect(Sys.mkdir(v + "/d") == .ok)
            #expect(h("d") == 2, "a new directory")
            #expect(h("") == 3)
            for name in ["s1", "s2", "s3"] { #expect(Sys.mkdir(v + "/d/" + name) == .ok) }
            #expect(h("d") == 5, "with 3 subdirectories")
            #expect(try Shell.check("stat -c %h d", cwd: v).stdout == "5\n")
            #expect(Sys.rmdir(v + "/d/s3") == .ok)
            #expect(h("d") == 4, "after rmdir of one")
            #expect(Sys.writeFile(v + "/d/file", "x") == .ok)
            #expect(h("d") == 4, "files do not count")
            #expect(Sys.mkdir(v + "/e") == .ok)
            #expect(h("") == 4, "the version directory: 2 + d + e")
            #expect(Sys.rename(v + "/d/s2", v + "/e/s2") == .ok)
            #expect(h("d") == 3 && h("e") == 3, "after moving d/s2 to e: d \(String(describing: h("d"))), e \(String(describing: h("e")))")
            #expect(h("e/s2") == 2)
            // Renamed within its parent: no change. Renamed over an empty directory: the target goes.
            #expect(Sys.rename(v + "/d/s1", v + "/d/s9") == .ok)
            #expect(h("d") == 3)
            #expect(Sys.rename(v + "/e/s2", v + "/d/s9") == .ok)
            #expect(h("d") == 3 && h("e") == 2, "after e/s2 replaced d/s9: d \(String(describing: h("d"))), e \(String(describing: h("e")))")
            // A directory moved to the version root.
            #expect(Sys.rename(v + "/d/s9", v + "/top") == .ok)
            #expect(h("d") == 2 && h("") == 5)
            #expect(try Shell.check("stat -c %h .", cwd: v).stdout == "5\n")

            // Files: 1, then 2 after ln.
            #expect(Sys.writeFile(v + "/f", "f") == .ok)
            #expect(try Shell.check("stat -c %h f", cwd: v).stdout == "1\n")
            try Shell.check("ln f e/g", cwd: v)
            #expect(try Shell.check("stat -c %h f e/g", cwd: v).stdout == "2\n2\n")
            #expect(h("e") == 2, "a hard link is no subdirectory")
            try Shell.check("rm f", cwd: v)
            #expect(try Shell.check("stat -c %h e/g", cwd: v).stdout == "1\n")
            let problems = LinkFacts.linkCountProblems(try LinkFacts.walk(v))
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    /// A version with 40 files under a few directories, a dozen of them with extra names.
    static func makeLinkedVersion(_ v: String) throws {
        try Shell.check(
            """
            python3 - \(Shell.quote(v)) <<'PY'
            import os, random, sys
            root = sys.argv[1]; rng = random.Random(5)
            for d in ["d0", "d1", "d1/inner", "d2"]: os.makedirs(f"{root}/{d}")
            dirs = ["", "d0", "d1", "d1/inner", "d2"]
            names = []
            for i in range(40):
                p = f"{root}/{rng.choice(dirs)}/f{i}".replace("//", "/")
                with open(p, "wb") as f: f.write((f"id-{i}\\n" * rng.randint(1, 3000)).encode())
                names.append(p)
            for i in range(25):
                src = rng.choice(names); dst = f"{root}/{rng.choice(dirs)}/l{i}".replace("//", "/")
                os.link(src, dst); names.append(dst)
            PY
            """)
    }

    /// Each non-directory's content, by path.
    static func contents(_ root: String, _ entries: [String: NodeStat]) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (path, info) in entries where info.type == S_IFREG { out[path] = try Sys.readFile(root + "/" + path) }
        return out
    }

    @Test func linksAndCountsSurviveACleanRemount() throws {
        try withMount { fs in
            let v = try fs.makeVersion()
            try Self.makeLinkedVersion(v)
            let before = try LinkFacts.walk(v)
            #expect(LinkFacts.linkCountProblems(before).isEmpty, "\(LinkFacts.linkCountProblems(before))")
            #expect(LinkFacts.linkedGroups(before).count >= 10, "\(LinkFacts.linkedGroups(before))")
            let contentBefore = try Self.contents(v, before)

            #expect(try fs.stop() == 0)
            try fs.start()
            let after = try LinkFacts.walk(v)
            let problems = LinkFacts.linkCountProblems(after)
            #expect(problems.isEmpty, "after remount: \(problems)")
            #expect(LinkFacts.sharing(after) == LinkFacts.sharing(before), "the same names share inodes")
            #expect(after.keys.sorted() == before.keys.sorted())
            #expect(try Self.contents(v, after) == contentBefore)
            // Still links: a write through one name shows through the others.
            let group = try #require(LinkFacts.linkedGroups(after).first)
            #expect(Sys.writeFile(v + "/" + group[0], "rewritten") == .ok)
            for name in group { #expect(try Sys.readText(v + "/" + name) == "rewritten", "\(name) of \(group)") }
        }
    }

    /// Churns names until killed: link, unlink, rename and the odd new file on ~200 names in four
    /// directories; every file's content is `id-<n>\n` repeated. Counts operations in `progress`.
    static let churn = #"""
        import errno, os, random, sys
        root, progress = sys.argv[1], sys.argv[2]
        rng = random.Random(int(sys.argv[3]))
        dirs = ["c0", "c1", "c2", "c2/deep"]
        for d in dirs: os.makedirs(f"{root}/{d}", exist_ok=True)
        pool = [f"{d}/n{i}" for d in dirs for i in range(50)]
        present = set(); next_id = 0
        def create():
            global next_id
            name = rng.choice(pool)
            if name in present: return
            # Written under a name outside the pool, then renamed in: a kill between the create and
            # the write leaves an empty file (as on ext4), but never under a pool name.
            with open(f"{root}/tmp-{next_id}", "wb") as f: f.write((f"id-{next_id}\n" * 400).encode())
            os.rename(f"{root}/tmp-{next_id}", f"{root}/{name}")
            next_id += 1; present.add(name)
        for _ in range(60): create()
        ops = 0
        while True:
            try:
                r = rng.random()
                if r < 0.05 or not present: create()
                elif r < 0.45:
                    src = rng.choice(sorted(present)); dst = rng.choice(pool)
                    if dst not in present: os.link(f"{root}/{src}", f"{root}/{dst}"); present.add(dst)
                elif r < 0.75:
                    src = rng.choice(sorted(present)); dst = rng.choice(pool)
                    # Over another name of the same inode, rename does nothing (POSIX): both stay.
                    same = src == dst or (dst in present and os.lstat(f"{root}/{src}").st_ino == os.lstat(f"{root}/{dst}").st_ino)
                    os.rename(f"{root}/{src}", f"{root}/{dst}")
                    if not same: present.discard(src); present.add(dst)
                elif len(present) > 40:
                    name = rng.choice(sorted(present)); os.unlink(f"{root}/{name}"); present.discard(name)
            except OSError as e:
                print(f"stopped after {ops} operations: {e}", flush=True); sys.exit(0)
            ops += 1
            if ops % 25 == 0:
                with open(progress, "w") as f: f.write(str(ops))
        """#

    @Test func killDashNineDuringLinkChurnLeavesConsistentLinkCounts() throws {
        try withMount(timeout: 300) { fs in
            let v = try fs.makeVersion()
            let script = fs.root + "/churn.py"
            let progress = fs.root + "/progress"
            try Self.churn.write(toFile: script, atomically: true, encoding: .utf8)
            let started = try Shell.check(
                "nohup python3 \(Shell.quote(script)) \(Shell.quote(v)) \(Shell.quote(progress)) 17 > \(Shell.quote(fs.root))/churn.log 2>&1 & echo $!")
            let churner = try #require(pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            defer { if !processHasExited(churner) { kill(churner, SIGKILL) } }
            // Kill the daemon once the churn is well under way.
            let deadline = Date().addingTimeInterval(60)
            var done = 0
            while done < 1500, Date() < deadline, !processHasExited(churner) {
                usleep(50_000)
                done = Int((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "") ?? 0
            }
            let log = { (try? String(contentsOfFile: fs.root + "/churn.log", encoding: .utf8)) ?? "" }
            try #require(!processHasExited(churner), "the churn stopped before the kill: \(log())")
            try #require(done >= 200, "only \(done) operations in 60 s: \(log())")
            fs.kill9()
            let stopDeadline = Date().addingTimeInterval(30)
            while !processHasExited(churner), Date() < stopDeadline { usleep(50_000) }
            #expect(processHasExited(churner), "the churn did not stop once the daemon was killed")
            print("[kill -9 churn] \(log().trimmingCharacters(in: .whitespacesAndNewlines)) (\(done)+ counted)")
            fs.lazyUnmount()
            try fs.start()

            let after = try LinkFacts.walk(v)
            let problems = LinkFacts.linkCountProblems(after)
            #expect(problems.isEmpty, "after kill -9 and remount:\n\(problems.prefix(20).joined(separator: "\n"))")
            // Contents intact: each file holds one id, and one id belongs to one inode.
            var inodeOfId: [String: UInt64] = [:]
            var files = 0
            for (path, info) in after where info.type == S_IFREG && !path.hasPrefix("tmp-") {
                files += 1
                let text = try Sys.readText(v + "/" + path)
                let id = String(text.prefix(while: { $0 != "\n" }))
                #expect(id.hasPrefix("id-") && text == String(repeating: id + "\n", count: 400), "/\(path) holds \(text.count) bytes: \(text.prefix(40).debugDescription)")
                if let seen = inodeOfId[id] {
                    #expect(seen == info.inode, "\(id) is in two inodes (\(seen), \(info.inode)), e.g. /\(path)")
                } else {
                    inodeOfId[id] = info.inode
                }
            }
            #expect(files >= 40, "the churn keeps at least 40 names; found \(files)")
            #expect(after.values.allSatisfy { $0.isDir || $0.type == S_IFREG }, "only files and directories")

            // And it goes on working: a new link, then a clean remount keeps everything.
            let some = try #require(after.first { $0.value.type == S_IFREG }?.key)
            #expect(Sys.link(v + "/" + some, v + "/after-restart") == .ok)
            let before = try LinkFacts.walk(v)
            let contentBefore = try Self.contents(v, before)
            #expect(try fs.stop() == 0)
            try fs.start()
            let again = try LinkFacts.walk(v)
            #expect(LinkFacts.linkCountProblems(again).isEmpty, "\(LinkFacts.linkCountProblems(again).prefix(20))")
            #expect(LinkFacts.sharing(again) == LinkFacts.sharing(before))
            #expect(try Self.contents(v, again) == contentBefore)
        }
    }
}
