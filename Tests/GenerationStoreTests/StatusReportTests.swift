// Status at its interface: the documents StatusReport builds from the namespace's facts and from
// what open files and the upload queue report.
import Foundation
import Testing

@testable import GenerationStore

@Suite struct StatusReportTests {
    private func member(_ document: JSONValue, _ key: String) -> String? {
        guard case .object(let members) = document, let value = members.first(where: { $0.0 == key })?.1 else { return nil }
        return value.rendered().filter { !$0.isWhitespace }
    }

    @Test func aVersionIsWritingWhileChangedOrOpenForWritingAndAnswersItsLocalArchiveOnceSnapshotted() throws {
        let h = try Harness()
        let fs = h.fileSystem
        let version = try h.mkdir(try h.generation(), "v1")
        let (_, opened) = try fs.create(parent: version, name: Array("f".utf8), mode: 0o644, flags: O_WRONLY, caller: h.caller)
        func document() throws -> JSONValue {
            let namespace = fs.namespace
            return try namespace.withLock { () throws(FSError) -> JSONValue in
                guard let record = namespace.versions[Int64(version)] else { throw FSError.notFound() }
                return namespace.report.version(try namespace.versionFactsLocked(record))
            }
        }
        #expect(member(try document(), "status") == "\"writing\"")
        #expect(member(try document(), "download_url") == "null", "no archive before the first snapshot")
        fs.release(handle: opened.handle)
        #expect(try fs.snapshotIfDirty(versionID: Int64(version)))
        let snapshotted = try document()
        #expect(member(snapshotted, "status") == "\"completed\"")
        #expect(member(snapshotted, "files_count") == "1")
        #expect(member(snapshotted, "download_url")?.contains("file:///") == true)
        #expect(member(snapshotted, "download_url")?.contains("/archives/projects/p1/generations/g1/v1.tar.gz") == true)
        #expect(member(snapshotted, "upload")?.contains("\"state\":\"disabled\"") == true, "\(member(snapshotted, "upload") ?? "")")

        let (_, again) = try fs.create(parent: version, name: Array("g".utf8), mode: 0o644, flags: O_WRONLY, caller: h.caller)
        #expect(member(try document(), "status") == "\"writing\"", "a new file makes it writing again")
        fs.release(handle: again.handle)
    }

    @Test func theRootCountsEveryVersionAndNamesTheDaemon() throws {
        let h = try Harness()
        let generation = try h.generation()
        _ = try h.mkdir(generation, "v1")
        _ = try h.mkdir(generation, "v2")
        let root = try h.fileSystem.namespace.withLock { () throws(FSError) -> JSONValue in try h.fileSystem.namespace.rootStatusLocked() }
        #expect(member(root, "versions") == "2" && member(root, "generations") == "1" && member(root, "projects") == "1")
        #expect(member(root, "daemon")?.contains("\"pid\":\(getpid())") == true, "\(member(root, "daemon") ?? "")")
        #expect(member(root, "remote") == "null", "cloud storage is off")
    }
}
