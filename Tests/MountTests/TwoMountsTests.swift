// Many mounts, one bucket (DESIGN §5, §6): two mounts with their own data directories on one
// server. A version uploaded by one appears in the other, sealed and read on demand; when
// both create the same version, one publishes it and the other shows `conflict` and keeps its data.
import Foundation
import Testing

@Suite(.serialized) struct TwoMountsTests {
    static func environment(_ server: StorageServerProcess) -> [String: String] {
        server.environment.merging(["REMOTE_LIST_INTERVAL": "0"]) { $1 }
    }

    @Test func aVersionWrittenInOneMountIsReadOnlyAndIdenticalInTheOther() throws {
        let server = try StorageServerProcess()
        let source = try makeTemporaryDirectory(prefix: "mt-two-src")
        defer { removeTree(source) }
        try Shell.check("git -C /opt/swift-packages/apple/swift-log.git archive 1.16.2 | tar -x -C \(Shell.quote(source))")
        try withMount("TwoMountsA", start: false) { a in
            a.environmentOverrides = Self.environment(server)
            try a.start()
            let written = try a.makeVersion()
            try Shell.check("cp -a \(Shell.quote(source))/. \(Shell.quote(written))/")
            try Shell.check("setfattr -n user.model -v gpt-x \(Shell.quote(written))")
            try a.waitForStatus(RemoteReadTests.v1, "uploaded") { uploadState($0) == "uploaded" }

            try withMount("TwoMountsB", start: false) { b in
                b.environmentOverrides = Self.environment(server)
                try b.start()
                #expect(try Shell.check("ls \(Shell.quote(b.path("projects/p1/generations/g1")))").stdout
                    == "download_url\nlatest\nstatus.json\nv1\n")
                let seen = b.path(RemoteReadTests.v1)
                try Shell.check("diff -r \(Shell.quote(source)) \(Shell.quote(seen)) -x status.json -x download_url")
                let listing = "find . -mindepth 1 -not -name status.json -not -name download_url -printf '%p %y %s %m %T@\\n' | sort"
                #expect(try Shell.check("cd \(Shell.quote(seen)) && \(listing)").stdout
                    == (try Shell.check("cd \(Shell.quote(written)) && \(listing)").stdout))

                let status = try b.status(RemoteReadTests.v1)
                #expect(status["sealed"] as? Bool == true)
                #expect(status["origin"] as? String == "remote")
                #expect((status["metadata"] as? [String: Any])?["model"] as? String == "gpt-x")
                #expect(try Shell.check("getfattr --only-values -n user.model \(Shell.quote(seen))").stdout == "gpt-x")
                #expect(uploadState(status) == "uploaded")
                let url = try Shell.check("cat \(Shell.quote(seen))/download_url").stdout.trimmingCharacters(in: .newlines)
                #expect(url.hasPrefix("http://127.0.0.1:"), "\(url)")
                try Shell.check("curl -sf \(Shell.quote(url)) | tar -tz > /dev/null")

                // Read-only in B: every change is EROFS.
                for command in ["touch \(Shell.quote(seen))/new.txt", "echo x >> \(Shell.quote(seen))/README.md",
                                "rm \(Shell.quote(seen))/README.md", "mkdir \(Shell.quote(seen))/d"] {
                    let result = try Shell.run(command)
                    #expect(!result.succeeded && result.stderr.contains("Read-only file system"), "\(command): \(result.stderr)")
                }

                // A's next version shows up in B when the generation is listed again.
                let next = try a.makeVersion(version: 2)
                try Shell.check("echo two > \(Shell.quote(next))/two.txt")
                try a.waitForStatus("projects/p1/generations/g1/v2", "uploaded") {
                    uploadState($0) == "uploaded"
                }
                #expect(try Shell.check("ls \(Shell.quote(b.path("projects/p1/generations/g1")))").stdout
                    == "download_url\nlatest\nstatus.json\nv1\nv2\n")
                #expect(try Shell.check("cat \(Shell.quote(b.path("projects/p1/generations/g1/latest/two.txt")))").stdout == "two\n")
            }
        }
    }

    @Test func bothMountsCreatingOneVersionGiveOneUploadAndOneConflictThatKeepsItsData() throws {
        let server = try StorageServerProcess()
        // 3 s of quiet before a snapshot: both versions exist before either is uploaded. (Once one
        // is in the bucket, the other mount lists it and refuses the same name with EEXIST.)
        let slow = Self.environment(server).merging(["WRITE_BACK_DELAY": "3"]) { $1 }
        try withMount("ConflictA", start: false) { a in
            a.environmentOverrides = slow
            try a.start()
            try withMount("ConflictB", start: false) { b in
                b.environmentOverrides = slow
                try b.start()
                let inA = try a.makeVersion(project: "p2", generation: "g2")
                let inB = try b.makeVersion(project: "p2", generation: "g2")
                try Shell.check("echo from-a > \(Shell.quote(inA))/who.txt")
                try Shell.check("echo from-b > \(Shell.quote(inB))/who.txt")
                let version = "projects/p2/generations/g2/v1"
                let settled: ([String: Any]) -> Bool = { ["uploaded", "conflict"].contains(uploadState($0)) }
                try a.waitForStatus(version, "uploaded or conflict", settled)
                try b.waitForStatus(version, "uploaded or conflict", settled)
                let states = [uploadState(try a.status(version)), uploadState(try b.status(version))]
                #expect(states.sorted { ($0 ?? "") < ($1 ?? "") } == ["conflict", "uploaded"], "\(states)")

                // Each keeps what it wrote; the bucket holds the winner's.
                #expect(try Shell.check("cat \(Shell.quote(inA))/who.txt").stdout == "from-a\n")
                #expect(try Shell.check("cat \(Shell.quote(inB))/who.txt").stdout == "from-b\n")
                let (winner, loser) = states[0] == "uploaded" ? (a, b) : (b, a)
                let url = try Shell.check("cat \(Shell.quote(winner.path(version)))/download_url").stdout
                    .trimmingCharacters(in: .newlines)
                let inBucket = try Shell.check("curl -sf \(Shell.quote(url)) | tar -xzO who.txt").stdout
                #expect(inBucket == (winner === a ? "from-a\n" : "from-b\n"))
                let lost = try loser.status(version)
                #expect(((lost["upload"] as? [String: Any])?["last_error"] as? String)?.isEmpty == false)
                #expect(Sys.list(loser.path("active"))?.contains("g2") == true, "a conflict stays active")
            }
        }
    }
}

/// What a mount skips when it lists the bucket, and why it says so.
@Suite(.serialized) struct BucketListingErrorTests {
    @Test func anUnreadableTOCAndAGenerationIdTakenByAnotherProjectAreSkippedWithAReason() throws {
        let server = try StorageServerProcess()
        let garbage = try makeTemporaryDirectory(prefix: "mt-bucket-bad") + "/toc.json"
        defer { removeTree((garbage as NSString).deletingLastPathComponent) }
        try Data("{not a toc".utf8).write(to: URL(fileURLWithPath: garbage))
        try server.upload(garbage, as: "projects/p9/generations/g9/v1.toc.json", contentType: "application/json")
        try withMount("ListingA", start: false) { a in
            a.environmentOverrides = TwoMountsTests.environment(server)
            try a.start()
            let written = try a.makeVersion(project: "p1", generation: "shared")
            try Shell.check("echo a > \(Shell.quote(written))/a.txt")
            try a.waitForStatus("projects/p1/generations/shared/v1", "uploaded") { uploadState($0) == "uploaded" }

            try withMount("ListingB", start: false) { b in
                // B already has a generation "shared", under project p2, from a run without the bucket.
                b.environmentOverrides = ["USE_CLOUD_STORAGE": "false"]
                try b.start()
                try b.mkdirP("projects/p2/generations/shared")
                #expect(try b.stop() == 0)
                b.environmentOverrides = TwoMountsTests.environment(server)
                try b.start()
                #expect(try Shell.check("ls \(Shell.quote(b.path("projects")))").stdout.contains("p9") == false)
                #expect(Sys.list(b.path("projects/p1/generations"))?.contains("shared") != true)
                #expect(try Shell.check("readlink \(Shell.quote(b.path("generations/shared")))").stdout
                    == "../projects/p2/generations/shared\n")
                let log = b.logTail(1_000_000)
                #expect(log.contains("skipping projects/p9/generations/g9/v1.toc.json in the bucket: not a readable TOC"), "\(log)")
                #expect(log.contains("the bucket has generation shared under project p1, but here it belongs to p2"), "\(log)")
            }
        }
    }
}

/// TOCs already in buckets (format 1, JSON) still read, and `pack` / `toc` give and show format 2.
@Suite(.serialized) struct TOCFormatTests {
    /// A version uploaded by an earlier release (JSON TOC, paths in plain byte order) is listed and read.
    @Test func aVersionWithAFormat1TOCInTheBucketReadsThroughAMount() throws {
        let server = try StorageServerProcess()
        let work = try makeTemporaryDirectory(prefix: "mt-toc1")
        defer { removeTree(work) }
        let binary = Shell.quote(try MountedFS.binaryPath())
        try Shell.check(
            "mkdir -p \(work)/tree/src/a.b \(work)/tree/src/a && echo one > \(work)/tree/src/a/one.txt"
                + " && echo dot > \(work)/tree/src/a.b/dot.txt && ln -s a/one.txt \(work)/tree/src/link"
                + " && head -c 300000 /dev/urandom > \(work)/tree/big.bin")
        try Shell.check("\(binary) pack \(work)/tree \(work)/v1.tar.gz")
        // What an earlier release uploaded: the same archive with its TOC as format-1 JSON.
        let json = try Shell.check("\(binary) toc \(work)/v1.toc.json").stdout
        #expect(json.contains("\"format_version\":1"), "\(json)")
        try json.write(toFile: "\(work)/old.toc.json", atomically: true, encoding: .utf8)
        try server.upload("\(work)/v1.tar.gz", as: "projects/old/generations/g7/v1.tar.gz", contentType: "application/gzip")
        try server.upload("\(work)/old.toc.json", as: "projects/old/generations/g7/v1.toc.json", contentType: "application/json")
        try withMount("TOCFormat1", start: false) { fs in
            fs.environmentOverrides = TwoMountsTests.environment(server)
            try fs.start()
            let version = "projects/old/generations/g7/v1"
            #expect(try Sys.readText(fs.path("\(version)/src/a/one.txt")) == "one\n")
            #expect(try Sys.readText(fs.path("\(version)/src/a.b/dot.txt")) == "dot\n")
            #expect(try Shell.check("readlink \(Shell.quote(fs.path("\(version)/src/link")))").stdout == "a/one.txt\n")
            #expect(try Shell.check("cmp \(Shell.quote(fs.path("\(version)/big.bin"))) \(work)/tree/big.bin").succeeded)
        }
    }

    @Test func packWritesAFormat2TOCThatTocPrintsAndTarAgrees() throws {
        let work = try makeTemporaryDirectory(prefix: "mt-pack")
        defer { removeTree(work) }
        let binary = Shell.quote(try MountedFS.binaryPath())
        try Shell.check("mkdir -p \(work)/tree/d && echo hi > \(work)/tree/d/hi.txt && echo top > \(work)/tree/top.txt")
        #expect(try Shell.check("\(binary) pack \(work)/tree \(work)/v1.tar.gz").stdout == "\(work)/v1.toc.json\n")
        let header = try Shell.check("tail -c 8 \(work)/v1.toc.json").stdout
        #expect(header == "CBFSTOC2", "a format-2 trailer")
        let json = try Shell.check("\(binary) toc \(work)/v1.toc.json").stdout
        for path in ["\"path\":\"d\"", "\"path\":\"d/hi.txt\"", "\"path\":\"top.txt\""] { #expect(json.contains(path), "\(json)") }
        #expect(try Shell.check("tar -tzf \(work)/v1.tar.gz").stdout == "d/\nd/hi.txt\ntop.txt\n")

        try Data("{not a toc".utf8).write(to: URL(fileURLWithPath: "\(work)/bad.toc.json"))
        let bad = try Shell.run("\(binary) toc \(work)/bad.toc.json")
        #expect(!bad.succeeded && bad.stderr.contains("invalid archive TOC"), "\(bad)")
        let missing = try Shell.run("\(binary) toc \(work)/missing.toc.json")
        #expect(!missing.succeeded && missing.stderr.contains("cannot read"), "\(missing)")
    }
}
