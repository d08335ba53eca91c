// What the mount looks like (DESIGN §1) and what its virtual files say (DESIGN §3).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Layout and virtual files")
struct LayoutTests {
    @Test func rootListsStatusProjectsGenerationsActive() throws {
        try withMount { fs in
            #expect(Sys.list(fs.mountpoint) == ["active", "generations", "projects", "status.json"])
            #expect(Sys.lstat(fs.path("status.json"))?.isFile == true)
            for dir in ["projects", "generations", "active"] {
                #expect(Sys.lstat(fs.path(dir))?.isDir == true, "\(dir) is a directory")
                #expect(Sys.list(fs.path(dir)) == [], "\(dir) starts empty")
            }
            let ls = try Shell.run("ls -la \(Shell.quote(fs.mountpoint))")
            #expect(ls.succeeded, "\(ls)")
        }
    }

    @Test func mkdirPCreatesProjectGenerationAndFirstVersion() throws {
        try withMount { fs in
            try Shell.check("mkdir -p \(Shell.quote(fs.path("projects/p1/generations/g1/v1")))")
            #expect(Sys.list(fs.path("projects")) == ["p1"])
            #expect(Sys.list(fs.path("projects/p1")) == ["generations"])
            #expect(Sys.list(fs.path("projects/p1/generations")) == ["g1"])
            let g = "projects/p1/generations/g1"
            #expect(Sys.list(fs.path(g)) == ["download_url", "latest", "status.json", "v1"])
            #expect(Sys.lstat(fs.path(g + "/latest"))?.isSymlink == true)
            #expect(Sys.readlink(fs.path(g + "/latest")) == "v1")
            #expect(Sys.stat(fs.path(g + "/latest"))?.isDir == true, "latest resolves to the version directory")
            #expect(Sys.lstat(fs.path(g + "/v1"))?.isDir == true)
            #expect(Sys.list(fs.path(g + "/v1")) == ["download_url", "status.json"])
            #expect(Sys.lstat(fs.path(g + "/v1/status.json"))?.isFile == true)
            #expect(Sys.lstat(fs.path(g + "/v1/download_url"))?.isFile == true)

            // The id-keyed views are symlinks into projects/.
            for view in ["generations", "active"] {
                #expect(Sys.list(fs.path(view)) == ["g1"], "\(view)/ lists g1")
                #expect(Sys.lstat(fs.path("\(view)/g1"))?.isSymlink == true)
                #expect(Sys.readlink(fs.path("\(view)/g1")) == "../projects/p1/generations/g1")
                #expect(Sys.list(fs.path("\(view)/g1/")) == ["download_url", "latest", "status.json", "v1"])
            }
            // A file written through the view is the same file.
            #expect(Sys.writeFile(fs.path("generations/g1/v1/hello.txt"), "hi\n") == .ok)
            #expect(try Sys.readText(fs.path(g + "/v1/hello.txt")) == "hi\n")
            #expect(try Sys.readText(fs.path("active/g1/latest/hello.txt")) == "hi\n")
        }
    }

    @Test func newVersionMovesLatestAndActiveListsOnlyUnsealed() throws {
        try withMount { fs in
            try fs.makeVersion(project: "p1", generation: "g1")
            try fs.makeVersion(project: "p1", generation: "g2")
            try fs.makeVersion(project: "p2", generation: "g3")
            #expect(Sys.list(fs.path("generations")) == ["g1", "g2", "g3"])
            #expect(Sys.list(fs.path("active")) == ["g1", "g2", "g3"])
            #expect(Sys.readlink(fs.path("generations/g3")) == "../projects/p2/generations/g3")

            let g1 = "projects/p1/generations/g1"
            #expect(Sys.mkdir(fs.path(g1 + "/v2")) == .ok)
            #expect(Sys.readlink(fs.path(g1 + "/latest")) == "v2")
            #expect(Sys.list(fs.path(g1)) == ["download_url", "latest", "status.json", "v1", "v2"])
            #expect(Sys.list(fs.path("active"))?.contains("g1") == true, "v2 of g1 is open")

            // Sealing the only open version takes the generation out of active/, not out of generations/.
            #expect(Sys.chmod(fs.path("projects/p1/generations/g2/v1"), 0o555) == .ok)
            #expect(Sys.list(fs.path("active")) == ["g1", "g3"])
            #expect(Sys.list(fs.path("generations")) == ["g1", "g2", "g3"])
            #expect(Sys.lstatOutcome(fs.path("active/g2")) == .ENOENT)
        }
    }

    @Test func versionStatusJson() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion(project: "p1", generation: "gen-123")
            #expect(Sys.writeFile(v1 + "/a.txt", "hello") == .ok)
            #expect(Sys.writeFile(v1 + "/b.txt", "0123456789") == .ok)
            let rel = "projects/p1/generations/gen-123/v1"
            let s = try fs.status(rel)
            #expect(s["id"] as? String == "gen-123")
            #expect(s["project_id"] as? String == "p1")
            #expect((s["version"] as? NSNumber)?.intValue == 1)
            #expect(["writing", "completed", "failed"].contains(s["status"] as? String ?? "?"), "status: \(s["status"] ?? "nil")")
            #expect(s["sealed"] as? Bool == false)
            #expect((s["files_count"] as? NSNumber)?.intValue == 2)
            #expect((s["bytes"] as? NSNumber)?.intValue == 15)
            let upload = s["upload"] as? [String: Any]
            #expect(upload?["state"] as? String == "disabled", "USE_CLOUD_STORAGE=false: \(upload ?? [:])")
            #expect(s["metadata"] as? [String: Any] != nil, "metadata is an object")
            #expect((s["metadata"] as? [String: Any])?.isEmpty == true)
            #expect(s["created_at"] is String)
            #expect(s["updated_at"] is String)

            // `cat` reads the whole document (computed on open, never a stale size).
            let cat = try Shell.check("cat \(Shell.quote(v1 + "/status.json"))")
            let parsed = try JSONSerialization.jsonObject(with: Data(cat.stdout.utf8)) as? [String: Any]
            #expect((parsed?["files_count"] as? NSNumber)?.intValue == 2)

            // It follows changes, and sealing.
            #expect(Sys.writeFile(v1 + "/c.txt", "abc") == .ok)
            #expect((try fs.status(rel)["files_count"] as? NSNumber)?.intValue == 3)
            #expect((try fs.status(rel)["bytes"] as? NSNumber)?.intValue == 18)
            #expect(Sys.mkdir(fs.path("projects/p1/generations/gen-123/v2")) == .ok)
            #expect(try fs.status(rel)["sealed"] as? Bool == true)
            #expect(try fs.status("projects/p1/generations/gen-123/v2")["sealed"] as? Bool == false)
            #expect((try fs.status("projects/p1/generations/gen-123/v2")["version"] as? NSNumber)?.intValue == 2)

            // stat and ls -l give the document's length (listings and lookups leave the size to getattr).
            try fs.waitForStatus(rel, "completed") { $0["status"] as? String == "completed" }
            let file = Shell.quote(v1 + "/status.json")
            let sizes = try Shell.check("stat -c %s \(file); wc -c < \(file); ls -l \(file) | awk '{ print $5 }'").stdout
            let lines = sizes.split(separator: "\n")
            #expect(lines.count == 3 && Set(lines).count == 1 && (Int(lines[0]) ?? 0) > 100, "stat, wc -c, ls -l: \(sizes)")
        }
    }

    @Test func generationAndRootStatusJson() throws {
        try withMount { fs in
            try fs.makeVersion(project: "p1", generation: "g1")
            #expect(Sys.mkdir(fs.path("projects/p1/generations/g1/v2")) == .ok)
            try fs.makeVersion(project: "p1", generation: "g2")
            try fs.makeVersion(project: "p2", generation: "g3")
            #expect(Sys.mkdir(fs.path("projects/p2/generations/g3/v2")) == .ok)
            #expect(Sys.mkdir(fs.path("projects/p2/generations/g3/v3")) == .ok)

            let g = try fs.status("projects/p1/generations/g1")
            #expect(g["id"] as? String == "g1")
            #expect(g["project_id"] as? String == "p1")
            #expect((g["latest_version"] as? NSNumber)?.intValue == 2)
            let versions = g["versions"] as? [[String: Any]] ?? []
            #expect(versions.compactMap { ($0["version"] as? NSNumber)?.intValue } == [1, 2])
            #expect(versions.first?["sealed"] as? Bool == true)
            #expect(versions.last?["sealed"] as? Bool == false)

            // Read through the id-keyed view too.
            let viaView = try JSONSerialization.jsonObject(
                with: Data(try Sys.readFile(fs.path("generations/g3/status.json")))) as? [String: Any]
            #expect((viaView?["latest_version"] as? NSNumber)?.intValue == 3)

            let root = try fs.status("")
            #expect(intValue(named: "projects", in: root) == 2, "root status.json: \(root)")
            #expect(intValue(named: "generations", in: root) == 3, "root status.json: \(root)")
            #expect(intValue(named: "versions", in: root) == 6, "root status.json: \(root)")
        }
    }

    @Test func extendedAttributesOfVersionAreItsMetadata() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            try Shell.check("setfattr -n user.model -v gpt-x \(Shell.quote(v1))")
            let s = try fs.status("projects/p1/generations/g1/v1")
            let metadata = s["metadata"] as? [String: Any]
            #expect(metadata?["model"] as? String == "gpt-x", "metadata: \(metadata ?? [:])")
            #expect(metadata?.count == 1)
            try Shell.check("setfattr -n user.temperature -v 0.2 \(Shell.quote(v1)) && setfattr -x user.model \(Shell.quote(v1))")
            let after = try fs.status("projects/p1/generations/g1/v1")["metadata"] as? [String: Any]
            #expect(after?["temperature"] as? String == "0.2")
            #expect(after?["model"] == nil)
        }
    }

    @Test func downloadUrlIsOneLocalUrlLine() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            #expect(Sys.writeFile(v1 + "/main.py", "print('hi')\n") == .ok)
            for file in [v1 + "/download_url", fs.path("projects/p1/generations/g1/download_url")] {
                let text = try Sys.readText(file)
                #expect(text.hasPrefix("file://"), "\(file): \(text)")
                #expect(text.hasSuffix("\n"))
                #expect(text.filter { $0 == "\n" }.count == 1)
                let cat = try Shell.check("cat \(Shell.quote(file))")
                #expect(cat.stdout == text)
            }
        }
    }

    /// Finds an integer field `name` at the top level or in any nested object (the root
    /// status.json's exact grouping of its counts is not fixed by the design).
    private func intValue(named name: String, in object: [String: Any]) -> Int? {
        if let n = object[name] as? NSNumber { return n.intValue }
        for value in object.values {
            if let nested = value as? [String: Any], let n = intValue(named: name, in: nested) { return n }
        }
        return nil
    }
}
