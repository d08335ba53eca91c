// Blobs made ahead of creates (Storage/BlobPool.swift) on a real catalog and data directory: the
// maker's job is called by hand, as the daemon's loop calls it.
import Foundation
import GRDB
import SystemPackage
import Testing

@testable import GenerationStore

@Suite struct BlobPoolTests {
    /// A harness with an open version whose pool has been filled once; returns the version and
    /// the numbers reserved for it.
    func filledPool() throws -> (Harness, InodeNumber, ClosedRange<Int64>) {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        h.fileSystem.makeBlobsAhead()  // the maker's first run starts the pool
        _ = try h.writeFile(v1, "before", "made by its own create")  // the empty pool asks for a refill
        h.fileSystem.makeBlobsAhead()
        return (h, v1, try recordedRange(h))
    }

    func recordedRange(_ h: Harness) throws -> ClosedRange<Int64> {
        let text = try String(contentsOfFile: h.directory + "/blobs-ahead", encoding: .utf8)
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int64($0) }
        guard bounds.count == 2 else { throw CocoaError(.fileReadCorruptFile, userInfo: ["content": text]) }
        return bounds[0]...bounds[1]
    }

    func blobSize(_ h: Harness, _ id: Int64) -> Int64? { h.fileSystem.blobs.size(InodeNumber(id)) }

    @Test func createsTakeTheBlobsMadeAheadAndNoOtherEntryGetsTheirNumbers() throws {
        let (h, v1, range) = try filledPool()
        #expect(range.count == BlobPool.batchSize)
        #expect(range.allSatisfy { blobSize(h, $0) == 0 }, "an empty blob for every reserved number")
        let directory = try h.mkdir(v1, "d")
        let link = try h.fileSystem.symlink(target: Array("x".utf8), parent: v1, name: Array("l".utf8), caller: h.caller)
        #expect(Int64(directory) > range.upperBound && Int64(link.attributes.ino) > range.upperBound,
            "a directory or a symlink never takes a reserved number")

        var files: [InodeNumber] = []
        for i in 0..<300 { files.append(try h.writeFile(i % 2 == 0 ? v1 : directory, "f\(i)", "content \(i)")) }
        #expect(files.map { Int64($0) } == Array(range.prefix(300)), "files take the reserved numbers, lowest first")
        for (i, ino) in files.enumerated() {
            #expect(try h.readFile(ino) == "content \(i)")
            #expect(blobSize(h, Int64(ino)) == Int64("content \(i)".utf8.count))
        }

        // 212 left, under the low-water mark: the next run of the maker reserves and makes more.
        h.fileSystem.makeBlobsAhead()
        let next = try recordedRange(h)
        #expect(next.lowerBound == range.lowerBound + 300 && next.upperBound > Int64(link.attributes.ino),
            "the record covers the unused numbers and the new ones: \(next)")
        let more = try (0..<300).map { try h.writeFile(v1, "g\($0)", "g") }
        let newBatch = (next.upperBound - Int64(BlobPool.batchSize) + 1)...next.upperBound
        #expect(more.map { Int64($0) } == Array(range.suffix(212)) + Array(newBatch.prefix(88)),
            "the rest of the first batch, then the new one, each lowest first")
    }

    @Test func aCleanStopRemovesTheBlobsNoCreateTook() throws {
        let (h, v1, range) = try filledPool()
        let files = try (0..<10).map { try h.writeFile(v1, "f\($0)", "kept \($0)") }
        h.fileSystem.stopMakingBlobsAhead()
        #expect(files.allSatisfy { blobSize(h, Int64($0)) == 6 }, "the files' blobs stay")
        #expect(range.dropFirst(10).allSatisfy { blobSize(h, $0) == nil }, "the unused ones are gone")
        #expect(!FileManager.default.fileExists(atPath: h.directory + "/blobs-ahead"))
        let after = try h.writeFile(v1, "after", "own blob")
        #expect(Int64(after) > range.upperBound, "a stopped pool hands out nothing")
        #expect(try h.readFile(after) == "own blob")
    }

    /// A reopen without a stop stands for a killed daemon: the next mount removes the made blobs
    /// no file took, and keeps every file's content (the uncommitted ones come from the journal).
    @Test func theNextOpenAfterACrashRemovesTheBlobsNoCreateTook() throws {
        let (h, v1, range) = try filledPool()
        let files = try (0..<10).map { try h.writeFile(v1, "f\($0)", "kept \($0)") }
        try h.reopen()
        #expect(range.dropFirst(10).allSatisfy { blobSize(h, $0) == nil }, "the unused ones are gone")
        #expect(!FileManager.default.fileExists(atPath: h.directory + "/blobs-ahead"))
        for (i, ino) in files.enumerated() {
            #expect(try h.lookup(v1, "f\(i)").attributes.ino == ino)
            #expect(try h.readFile(ino) == "kept \(i)")
        }
        let after = try h.writeFile(v1, "after", "new")
        #expect(Int64(after) > range.upperBound, "no number is given out twice")
    }

    @Test func aDamagedRangeRecordIsIgnoredAndRemoved() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        let file = try h.writeFile(v1, "f", "kept")
        try Data("12 x\n".utf8).write(to: URL(fileURLWithPath: h.directory + "/blobs-ahead"))
        try h.reopen()
        #expect(!FileManager.default.fileExists(atPath: h.directory + "/blobs-ahead"))
        #expect(try h.readFile(file) == "kept")
    }

    @Test func aCreateThatFailsGivesItsNumberBack() throws {
        let (h, v1, range) = try filledPool()
        let first = try h.writeFile(v1, "f", "one")
        expectErrno(.fileExists) { _ = try h.writeFile(v1, "f", "two") }
        let second = try h.writeFile(v1, "g", "two")
        #expect([Int64(first), Int64(second)] == Array(range.prefix(2)), "the refused create's number went to the next one")
        #expect(try h.readFile(first) == "one" && h.readFile(second) == "two")
    }

    @Test func aMadeBlobRemovedByHandIsMadeAgainByItsCreate() throws {
        let (h, v1, range) = try filledPool()
        #expect(unlink(h.fileSystem.blobs.path(InodeNumber(range.lowerBound)).string) == 0)
        let file = try h.writeFile(v1, "f", "still written")
        #expect(Int64(file) == range.lowerBound)
        #expect(try h.readFile(file) == "still written")
    }

    /// The maker cannot record its range (a directory stands where it writes the record): the
    /// pool stops, without blobs made for the numbers it reserved, and creates make their own.
    @Test func aMakerThatFailsStopsThePoolAndCreatesMakeTheirOwnBlobs() throws {
        let h = try Harness()
        let v1 = try h.mkdir(try h.generation(), "v1")
        try FileManager.default.createDirectory(atPath: h.directory + "/blobs-ahead.new", withIntermediateDirectories: false)
        h.fileSystem.makeBlobsAhead()
        let first = try h.writeFile(v1, "first", "1")
        h.fileSystem.makeBlobsAhead()
        #expect(!FileManager.default.fileExists(atPath: h.directory + "/blobs-ahead"))
        #expect(blobSize(h, Int64(first) + 1) == nil, "no blob made for a reserved number")
        let files = try (0..<300).map { try h.writeFile(v1, "f\($0)", "content \($0)") }
        #expect(Int64(files[0]) > Int64(first) + Int64(BlobPool.batchSize), "numbers after the reserved ones")
        #expect(files.enumerated().allSatisfy { (try? h.readFile($0.element)) == "content \($0.offset)" })
        let count = try FileManager.default.subpathsOfDirectory(atPath: h.directory + "/blobs").filter { $0.contains("/") }.count
        #expect(count == 301, "one blob per file, nothing made ahead")
    }
}

@Suite final class ReservedIDTests {
    let directory = NSTemporaryDirectory() + "reserve-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func openCatalog() throws -> Catalog {
        try Catalog(path: directory + "/catalog.sqlite", journalPath: FilePath(directory + "/catalog.creates"), owner: Caller(uid: 0, gid: 0))
    }

    func insert(_ catalog: Catalog, _ name: String, id: Int64? = nil) throws -> Int64 {
        try catalog.writeBatched { db in
            var node = Node(
                id: id, parentID: Catalog.projectsID, name: Data(name.utf8), role: .dir, mode: 0o755, uid: 0, gid: 0,
                size: 0, atimeNs: 1, mtimeNs: 1, ctimeNs: 1, linkTarget: nil, versionID: nil)
            try node.insertRow(db)
            return (node.id ?? 0, [node])
        }
    }

    @Test func reservedIDsGoToNoOtherInsertInThisRunOrTheNext() throws {
        let reserved: ClosedRange<Int64>
        do {
            let catalog = try openCatalog()
            let before = try insert(catalog, "a")
            reserved = try catalog.reserveIDs(100)
            #expect(reserved == (before + 1)...(before + 100))
            #expect(try insert(catalog, "c", id: reserved.lowerBound) == reserved.lowerBound, "the holder gives one out")
        }  // dropped without a commit, as by kill -9: the reservation was committed at once
        let reopened = try openCatalog()
        let after = try insert(reopened, "d")
        #expect(after == reserved.upperBound + 1)
        #expect(try reopened.reserveIDs(10) == (after + 1)...(after + 10))
        #expect(try insert(reopened, "e") == after + 11, "in the same run too")
    }

    @Test func aCatalogWithoutANodeSequenceRefusesToReserve() throws {
        let catalog = try openCatalog()
        try catalog.write { db in try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'node'") }
        #expect(throws: DatabaseError.self) { try catalog.reserveIDs(10) }
        #expect(try insert(catalog, "still") > Catalog.projectsID, "and keeps working")
    }
}
