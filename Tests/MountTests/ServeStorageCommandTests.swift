// `codebegenfs serve-storage` run as a user would: options that cannot work are refused at startup.
import Foundation
import Testing

@Suite struct ServeStorageCommandTests {
    @Test func anAccessLogPathThatIsADirectoryStopsTheServerWithAClearError() throws {
        let dir = try makeTemporaryDirectory(prefix: "mt-serve")
        defer { removeTree(dir) }
        let result = try Shell.run(
            "\(Shell.quote(try MountedFS.binaryPath())) serve-storage --port 0 --data \(Shell.quote(dir + "/data")) "
                + "--access-log \(Shell.quote(dir))",
            timeout: 30)
        #expect(result.status != 0, "\(result)")
        #expect(result.stderr.contains("cannot open the access log \(dir)"), "\(result)")
        #expect(result.stderr.contains("Is a directory"), "\(result)")
        #expect(!result.stderr.contains("Fatal error"), "\(result)")
    }
}
