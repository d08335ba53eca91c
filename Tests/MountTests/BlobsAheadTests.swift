// Empty blobs made ahead of creates (the daemon's blob maker): through a real mount, many creates
// get whole, distinct files while the pool refills under them, and neither a clean unmount nor a
// kill -9 leaves a spare blob behind in the data directory.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Blobs made ahead of creates")
struct BlobsAheadTests {
    /// 1500 files over several refills of the pool (512 numbers each), with directories and
    /// symlinks created between them.
    private static let script = """
        set -e
        for d in $(seq 0 4); do mkdir d$d; ln -s d$d l$d; done
        for i in $(seq 1 1500); do echo "file $i" > d$((i % 5))/f$i; done
        """

    private static func expectAllFiles(_ v1: String) throws {
        #expect(try Shell.check("cd \(Shell.quote(v1)) && cat d*/f* | sort | md5sum").stdout
            == (try Shell.check("for i in $(seq 1 1500); do echo \"file $i\"; done | sort | md5sum").stdout))
        #expect(try Shell.check("find \(Shell.quote(v1)) -type f -name 'f*' | wc -l").stdout == "1500\n")
        #expect(try Shell.check("find \(Shell.quote(v1)) -mindepth 1 -printf '%i\\n' | sort | uniq -d").stdout == "",
            "every entry has its own inode number")
    }

    @Test func manyCreatesAreWholeAndACleanUnmountLeavesNoSpareBlob() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            try Shell.check("cd \(Shell.quote(v1))\n" + Self.script)
            try Self.expectAllFiles(v1)
            #expect(try fs.contentBlobs().count == 1500)
            #expect(try fs.spareBlobs() > 0, "blobs were made ahead")
            #expect(!fs.logTail(1_000_000).contains("stopped making blobs ahead"))
            #expect(try fs.stop() == 0)
            #expect(try Shell.check("find \(Shell.quote(fs.dataDir))/blobs -type f | wc -l").stdout == "1500\n",
                "one blob per file, no spare left")
            #expect(!FileManager.default.fileExists(atPath: fs.dataDir + "/blobs-ahead"))
            try fs.start()
            try Self.expectAllFiles(v1)
        }
    }

    /// The spare blobs once the maker is idle: their count has not moved for half a second (a
    /// fixed wait was too short on a busy machine, where the maker was still making the last refill).
    static func settledSpareBlobs(_ fs: MountedFS) throws -> Int {
        var last = try fs.spareBlobs()
        var unchangedSince = Date()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, Date().timeIntervalSince(unchangedSince) < 0.5 {
            usleep(100_000)
            let now = try fs.spareBlobs()
            if now != last { (last, unchangedSince) = (now, Date()) }
        }
        return last
    }

    @Test func theMountAfterAKill9RemovesTheSpareBlobsAndKeepsEveryFile() throws {
        try withMount { fs in
            let v1 = try fs.makeVersion()
            try Shell.check("cd \(Shell.quote(v1))\n" + Self.script)
            let spare = try Self.settledSpareBlobs(fs)  // a refill the last creates asked for is done
            #expect(spare > 0, "blobs were made ahead")
            fs.kill9()
            try fs.start()
            try Self.expectAllFiles(v1)
            #expect(fs.logTail(1_000_000).contains("removed \(spare) empty blobs made ahead of creates by the last run"))
            #expect(try Shell.check("find \(Shell.quote(fs.dataDir))/blobs -type f | wc -l").stdout == "1500\n",
                "one blob per file, no spare left")
            // New files after the restart get numbers no earlier file has.
            try Shell.check("cd \(Shell.quote(v1)) && for i in $(seq 1 600); do echo \"new $i\" > d0/n$i; done")
            #expect(try Shell.check("find \(Shell.quote(v1)) -mindepth 1 -printf '%i\\n' | sort | uniq -d").stdout == "")
            #expect(try Shell.check("cat \(Shell.quote(v1))/d0/n600 \(Shell.quote(v1))/d1/f1").stdout == "new 600\nfile 1\n")
        }
    }
}
