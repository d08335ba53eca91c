// The naming and lifecycle rules and the errno a user gets for breaking each (DESIGN §1, §2, §8).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Rules and errnos")
struct RulesTests {
    @Test func badIdsAreEINVALAndCreateNothing() throws {
        try withMount { fs in
            let bad = ["bad id", ".hidden", "-dash", "a:b", "tab\there", String(repeating: "a", count: 129)]
            for id in bad {
                #expect(Sys.mkdir(fs.path("projects/" + id)) == .EINVAL, "project id \(id.debugDescription)")
            }
            #expect(Sys.list(fs.path("projects")) == [])
            try fs.mkdirP("projects/p1/generations")
            for id in bad {
                #expect(Sys.mkdir(fs.path("projects/p1/generations/" + id)) == .EINVAL, "generation id \(id.debugDescription)")
            }
            #expect(Sys.list(fs.path("projects/p1/generations")) == [])
            #expect(Sys.list(fs.path("generations")) == [])
            // The longest and the oddest valid ids are accepted.
            let longest = "A" + String(repeating: "z", count: 127)
            #expect(Sys.mkdir(fs.path("projects/" + longest)) == .ok)
            #expect(Sys.mkdir(fs.path("projects/p1/generations/9a._-b")) == .ok)
            #expect(Sys.list(fs.path("generations")) == ["9a._-b"])
        }
    }

    @Test func badVersionNamesAreEINVALAndCreateNothing() throws {
        try withMount { fs in
            let g = "projects/p1/generations/g1"
            try fs.mkdirP(g)
            #expect(Sys.list(fs.path(g))?.contains(where: { $0.hasPrefix("v") }) == false)
            for name in ["v0", "v01", "x1", "v", "V1", "v1a", "v-1", "v2"] {
                #expect(Sys.mkdir(fs.path(g + "/" + name)) == .EINVAL, "\(name) in a generation without versions")
            }
            #expect(Sys.mkdir(fs.path(g + "/v1")) == .ok)
            #expect(Sys.mkdir(fs.path(g + "/v3")) == .EINVAL)
            #expect(Sys.mkdir(fs.path(g + "/v1")) == .EEXIST)
            #expect(Sys.mkdir(fs.path(g + "/v2")) == .ok)
            #expect(Sys.mkdir(fs.path(g + "/v3")) == .ok)
            for name in ["v5", "v2", "v03", "v4x"] {
                #expect(Sys.mkdir(fs.path(g + "/" + name)) != .ok, "\(name) when v3 is the latest")
            }
            #expect(Sys.mkdir(fs.path(g + "/v5")) == .EINVAL)
            #expect(Sys.mkdir(fs.path(g + "/v03")) == .EINVAL)
            #expect(Sys.list(fs.path(g)) == ["download_url", "latest", "status.json", "v1", "v2", "v3"])
            #expect(Sys.readlink(fs.path(g + "/latest")) == "v3")
        }
    }

    @Test func newVersionSealsThePreviousOne() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/a", "kept") == .ok)
            #expect(Sys.mkdir(v1 + "/d") == .ok)
            #expect(Sys.writeFile(v1 + "/d/b", "also kept") == .ok)
            #expect(Sys.symlink("a", v1 + "/ln") == .ok)
            let early = try Sys.open(v1 + "/a", O_WRONLY).get()  // opened before sealing
            defer { close(early) }
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
            #expect(Sys.pwriteAll(early, Array("late".utf8), at: 0) == .EROFS, "write through a descriptor opened before sealing")
            try expectSealed(v1)
            // The new version is open.
            #expect(Sys.writeFile(fs.path("projects/p1/generations/g1/v2/a"), "new") == .ok)
        }
    }

    @Test func chmodAMinusWSealsExplicitly() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/a", "kept") == .ok)
            #expect(Sys.mkdir(v1 + "/d") == .ok)
            #expect(Sys.writeFile(v1 + "/d/b", "also kept") == .ok)
            #expect(Sys.symlink("a", v1 + "/ln") == .ok)
            try Shell.check("chmod a-w \(Shell.quote(v1))")
            #expect(try fs.status("projects/p1/generations/g1/v1")["sealed"] as? Bool == true)
            try expectSealed(v1)
            // Sealed is final: making it writable again is refused too.
            #expect(Sys.chmod(v1, 0o755) == .EROFS)
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
        }
    }

    /// Every kind of change inside `v` is EROFS, and its content is unchanged.
    private func expectSealed(_ v: String) throws {
        #expect(Sys.openOutcome(v + "/a", O_WRONLY) == .EROFS)
        #expect(Sys.openOutcome(v + "/a", O_RDWR) == .EROFS)
        #expect(Sys.openOutcome(v + "/a", O_WRONLY | O_TRUNC) == .EROFS)
        #expect(Sys.openOutcome(v + "/a", O_WRONLY | O_APPEND) == .EROFS)
        #expect(Sys.openOutcome(v + "/new", O_WRONLY | O_CREAT) == .EROFS)
        #expect(Sys.openOutcome(v + "/d/new", O_WRONLY | O_CREAT) == .EROFS)
        #expect(Sys.mkdir(v + "/e") == .EROFS)
        #expect(Sys.mkdir(v + "/d/e") == .EROFS)
        #expect(Sys.unlink(v + "/a") == .EROFS)
        #expect(Sys.unlink(v + "/d/b") == .EROFS)
        #expect(Sys.unlink(v + "/ln") == .EROFS)
        #expect(Sys.rmdir(v + "/d") == .EROFS)
        #expect(Sys.rename(v + "/a", v + "/a2") == .EROFS)
        #expect(Sys.rename(v + "/d/b", v + "/b") == .EROFS)
        #expect(Sys.chmod(v + "/a", 0o600) == .EROFS)
        #expect(Sys.truncate(v + "/a", 1) == .EROFS)
        #expect(Sys.setMtime(v + "/a", seconds: 1) == .EROFS)
        #expect(Sys.setxattr(v + "/a", "user.k", "v") == .EROFS)
        #expect(Sys.setxattr(v, "user.model", "late") == .EROFS)
        #expect(Sys.symlink("a", v + "/ln2") == .EROFS)
        let shell = try Shell.run("echo more >> \(Shell.quote(v + "/a"))")
        #expect(!shell.succeeded && shell.stderr.contains("Read-only file system"), "\(shell)")

        // Reading still works and nothing changed.
        #expect(try Sys.readText(v + "/a") == "kept")
        #expect(try Sys.readText(v + "/d/b") == "also kept")
        #expect(Sys.readlink(v + "/ln") == "a")
        #expect(Sys.list(v) == ["a", "d", "download_url", "ln", "status.json"])
        #expect(Sys.list(v + "/d") == ["b"])
    }

    @Test func virtualFilesAreReadOnly() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let g = fs.path("projects/p1/generations/g1")
            let virtual = [
                v1 + "/status.json", v1 + "/download_url", g + "/status.json", g + "/download_url",
                fs.path("status.json"),
            ]
            for file in virtual {
                #expect(Sys.openOutcome(file, O_WRONLY) == .EACCES, "open \(file) for writing")
                #expect(Sys.openOutcome(file, O_RDWR) == .EACCES, "open \(file) read-write")
                #expect(Sys.openOutcome(file, O_WRONLY | O_CREAT | O_TRUNC) == .EACCES, "create over \(file)")
                #expect(try !Sys.readFile(file).isEmpty, "\(file) is still readable")
            }
            let shell = try Shell.run("echo '{}' > \(Shell.quote(v1 + "/status.json"))")
            #expect(!shell.succeeded && shell.stderr.contains("Permission denied"), "\(shell)")
            #expect(try fs.status("projects/p1/generations/g1/v1")["id"] as? String == "g1")

            // The names are reserved only at a version's (and generation's) root.
            #expect(Sys.mkdir(v1 + "/sub") == .ok)
            #expect(Sys.writeFile(v1 + "/sub/status.json", "{\"mine\": true}") == .ok)
            #expect(Sys.writeFile(v1 + "/sub/download_url", "mine") == .ok)
            #expect(try Sys.readText(v1 + "/sub/status.json") == "{\"mine\": true}")
            #expect(try Sys.readText(v1 + "/sub/download_url") == "mine")
            #expect(Sys.unlink(v1 + "/sub/status.json") == .ok)
        }
    }

    @Test func unlinkAndRenameOfVirtualAndStructuralEntriesIsEPERM() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/f", "x") == .ok)
            let g = "projects/p1/generations/g1"
            for file in [v1 + "/status.json", v1 + "/download_url", fs.path(g + "/status.json"),
                fs.path(g + "/download_url"), fs.path(g + "/latest"), fs.path("status.json"),
                fs.path("generations/g1"), fs.path("active/g1")]
            {
                #expect(Sys.unlink(file) == .EPERM, "unlink \(file)")
            }
            #expect(Sys.rename(v1 + "/status.json", v1 + "/s.json") == .EPERM)
            #expect(Sys.rename(v1 + "/download_url", v1 + "/u") == .EPERM)
            #expect(Sys.rename(fs.path(g + "/latest"), fs.path(g + "/newest")) == .EPERM)
            #expect(Sys.rename(fs.path("generations/g1"), fs.path("generations/g9")) == .EPERM)

            // Structural directories cannot be removed or renamed, empty or not.
            try fs.mkdirP("projects/p2/generations/g2")
            for dir in [v1, fs.path(g), fs.path("projects/p1"), fs.path("projects/p1/generations"),
                fs.path("projects/p2/generations/g2"), fs.path("projects"), fs.path("generations"), fs.path("active")]
            {
                #expect(Sys.rmdir(dir) == .EPERM, "rmdir \(dir)")
            }
            #expect(Sys.rename(v1, fs.path(g + "/v9")) == .EPERM)
            #expect(Sys.rename(fs.path(g), fs.path("projects/p1/generations/g7")) == .EPERM)
            #expect(Sys.rename(fs.path("projects/p1"), fs.path("projects/p3")) == .EPERM)
            #expect(Sys.rename(fs.path("projects"), fs.path("projects2")) == .EPERM)
            // A file cannot be moved onto a virtual file, nor a user file out to a structural level.
            #expect(Sys.rename(v1 + "/f", fs.path(g + "/f")) == .EPERM)

            // All still there.
            #expect(Sys.list(fs.path(g)) == ["download_url", "latest", "status.json", "v1"])
            #expect(Sys.list(v1) == ["download_url", "f", "status.json"])
            #expect(Sys.list(fs.path("projects")) == ["p1", "p2"])
            #expect(Sys.list(fs.path("generations")) == ["g1", "g2"])
        }
    }

    @Test func filesAndDirectoriesAtTheWrongLevelAreEPERM() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/user", "u") == .ok)
            let g = "projects/p1/generations/g1"
            let levels = ["", "projects", "projects/p1", "projects/p1/generations", g, "generations", "active"]
            for level in levels {
                let dir = fs.path(level)
                #expect(Sys.openOutcome(dir + "/file", O_WRONLY | O_CREAT) == .EPERM, "create a file in /\(level)")
                #expect(Sys.symlink("x", dir + "/link") == .EPERM, "symlink in /\(level)")
                #expect(Sys.link(fs.path(g + "/status.json"), dir + "/hard") == .EPERM, "hard link in /\(level)")
                #expect(Sys.link(fs.path(g + "/v1/user"), dir + "/hard") == .EPERM, "hard link of a user file in /\(level)")
                #expect(LinkFacts.mkfifo(dir + "/fifo", 0o644) == .EPERM, "mkfifo in /\(level)")
            }
            #expect(Sys.mkdir(fs.path("newdir")) == .EPERM)
            #expect(Sys.mkdir(fs.path("projects/p1/other")) == .EPERM)
            #expect(Sys.mkdir(fs.path("generations/g5")) == .EPERM)
            #expect(Sys.mkdir(fs.path("active/g5")) == .EPERM)
            let shell = try Shell.run("touch \(Shell.quote(fs.path("notes.txt")))")
            #expect(!shell.succeeded && shell.stderr.contains("Operation not permitted"), "\(shell)")
            // Nothing appeared.
            #expect(Sys.list(fs.mountpoint) == ["active", "generations", "projects", "status.json"])
            #expect(Sys.list(fs.path("projects/p1")) == ["generations"])
            #expect(Sys.list(fs.path(g)) == ["download_url", "latest", "status.json", "v1"])
            #expect(Sys.list(fs.path("generations")) == ["g1"])
            #expect(Sys.list(fs.path("active")) == ["g1"])
        }
    }

    @Test func reservedNamesAtVersionRootAreEACCES() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/other", "x") == .ok)
            #expect(Sys.openOutcome(v1 + "/status.json", O_WRONLY | O_CREAT | O_EXCL) != .ok)
            #expect(Sys.mkdir(v1 + "/status.json") != .ok)
            #expect(Sys.rename(v1 + "/other", v1 + "/download_url") != .ok)
            #expect(try Sys.readText(v1 + "/other") == "x")
            #expect(try fs.status("projects/p1/generations/g1/v1")["id"] as? String == "g1")
        }
    }

    @Test func generationIdIsUniqueAcrossProjects() throws {
        try withMount { fs in
            try fs.makeVersion(project: "p1", generation: "shared-id")
            try fs.mkdirP("projects/p2/generations")
            #expect(Sys.mkdir(fs.path("projects/p2/generations/shared-id")) == .EEXIST)
            #expect(Sys.list(fs.path("projects/p2/generations")) == [])
            #expect(Sys.readlink(fs.path("generations/shared-id")) == "../projects/p1/generations/shared-id")
            let shell = try Shell.run("mkdir -p \(Shell.quote(fs.path("projects/p3/generations/shared-id/v1")))")
            #expect(!shell.succeeded, "mkdir -p under a third project: \(shell)")
            #expect(Sys.list(fs.path("generations")) == ["shared-id"])
        }
    }

    @Test func namesLongerThan255BytesAreENAMETOOLONG() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let long = String(repeating: "n", count: 256)
            let max = String(repeating: "m", count: 255)
            #expect(Sys.openOutcome(v1 + "/" + long, O_WRONLY | O_CREAT) == .ENAMETOOLONG)
            #expect(Sys.mkdir(v1 + "/" + long) == .ENAMETOOLONG)
            #expect(Sys.symlink("x", v1 + "/" + long) == .ENAMETOOLONG)
            #expect(Sys.lstatOutcome(v1 + "/" + long) == .ENAMETOOLONG)
            #expect(Sys.writeFile(v1 + "/" + max, "ok") == .ok)
            #expect(Sys.rename(v1 + "/" + max, v1 + "/" + long) == .ENAMETOOLONG)
            #expect(Sys.list(v1) == ["download_url", max, "status.json"])
            // Multi-byte characters count in bytes: 128 × 2 bytes = 256.
            #expect(Sys.openOutcome(v1 + "/" + String(repeating: "é", count: 128), O_WRONLY | O_CREAT) == .ENAMETOOLONG)
        }
    }

    /// Hard links are allowed between user entries of one version (HardLinkTests); a directory,
    /// a virtual file or an entry of the fixed layout cannot have a second name.
    @Test func hardLinksOfDirectoriesVirtualFilesAndTheLayoutAreEPERM() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            let g = "projects/p1/generations/g1"
            #expect(Sys.writeFile(v1 + "/a", "x") == .ok)
            #expect(Sys.mkdir(v1 + "/d") == .ok)
            #expect(Sys.link(v1 + "/d", v1 + "/d2") == .EPERM, "a user directory")
            for virtual in [v1 + "/status.json", v1 + "/download_url", fs.path(g + "/status.json"),
                fs.path(g + "/download_url"), fs.path("status.json")]
            {
                #expect(Sys.link(virtual, v1 + "/copy") == .EPERM, "link of the virtual file \(virtual)")
                #expect(Sys.link(virtual, v1 + "/d/copy") == .EPERM, "link of the virtual file \(virtual)")
            }
            for structural in [v1, fs.path(g), fs.path("projects/p1"), fs.path("projects/p1/generations"),
                fs.path("projects"), fs.path("generations"), fs.path("active"), fs.path(g + "/latest"),
                fs.path("generations/g1"), fs.path("active/g1")]
            {
                #expect(Sys.link(structural, v1 + "/copy") == .EPERM, "link of the layout entry \(structural)")
            }
            let shell = try Shell.run("ln \(Shell.quote(v1 + "/status.json")) \(Shell.quote(v1 + "/s"))")
            #expect(!shell.succeeded && shell.stderr.contains("Operation not permitted"), "\(shell)")
            // Nothing appeared, and the user file still has one name.
            #expect(Sys.list(v1) == ["a", "d", "download_url", "status.json"])
            #expect(Sys.list(v1 + "/d") == [])
            #expect(Sys.list(fs.path(g)) == ["download_url", "latest", "status.json", "v1"])
            #expect(NodeStat.of(v1 + "/a")?.nlink == 1)
        }
    }

    @Test func renameToAnotherVersionFailsAndLosesNothing() throws {
        try withMount { fs in
            let a = try fs.makeVersion(project: "p1", generation: "g1")
            let b = try fs.makeVersion(project: "p1", generation: "g2")
            #expect(Sys.writeFile(a + "/f", "payload") == .ok)
            #expect(Sys.mkdir(a + "/d") == .ok)
            #expect(Sys.writeFile(a + "/d/inner", "deep") == .ok)
            var outcomes: [Outcome] = []
            for (from, to) in [(a + "/f", b + "/f"), (a + "/d", b + "/d")] {
                let outcome = Sys.rename(from, to)
                outcomes.append(outcome)
                #expect(outcome == .EXDEV || outcome == .EPERM, "rename \(from) → \(to): \(outcome)")
            }
            #expect(try Sys.readText(a + "/f") == "payload")
            #expect(try Sys.readText(a + "/d/inner") == "deep")
            #expect(Sys.list(b) == ["download_url", "status.json"])
            if outcomes.first == .EXDEV {
                // `mv` falls back to copy + delete on EXDEV, as across file systems.
                try Shell.check("mv \(Shell.quote(a + "/f")) \(Shell.quote(b + "/f"))")
                #expect(try Sys.readText(b + "/f") == "payload")
                #expect(!Sys.exists(a + "/f"))
            }
        }
    }
}
