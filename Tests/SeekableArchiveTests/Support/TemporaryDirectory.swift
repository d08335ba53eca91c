// A temporary directory per test, removed when the test is done.
import Foundation
import SystemPackage

final class TemporaryDirectory {
    let path: FilePath

    init(_ label: String = "archive") throws {
        let base = FileManager.default.temporaryDirectory.path
        let template = "\(base)/codebegenfs-\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw TestFailure("mkdtemp failed for \(template)") }
        path = FilePath(String(cString: made))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path.string)
    }

    func sub(_ name: String) -> FilePath { path.appending(name) }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
