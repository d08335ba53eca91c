// A TUS client nobody here wrote (tuspy from PyPI, installed by .ci/install-dependencies.sh) uploads through
// the bundled server's resumable endpoint unchanged, in 6 MiB chunks as Supabase documents.
import Foundation
import Testing

/// Uploads FILE with tusclient, then reads the object back through the REST API and compares.
private let script = #"""
    import os, sys, urllib.request
    from tusclient import client

    endpoint, key, path = os.environ["TUS_ENDPOINT"], os.environ["SERVICE_KEY"], os.environ["FILE"]
    storage = os.environ["STORAGE_URL"]
    headers = {"Authorization": f"Bearer {key}", "apikey": key, "x-upsert": "true"}
    tus = client.TusClient(endpoint, headers=headers)
    uploader = tus.uploader(
        path,
        chunk_size=6 * 1024 * 1024,
        metadata={
            "bucketName": "codebegen-projects",
            "objectName": "tuspy/archive.bin",
            "contentType": "application/octet-stream",
            "cacheControl": "3600",
        },
    )
    uploader.upload()
    assert uploader.offset == os.path.getsize(path), uploader.offset
    assert uploader.url.startswith(endpoint + "/"), uploader.url

    request = urllib.request.Request(
        storage + "/object/authenticated/codebegen-projects/tuspy/archive.bin",
        headers={"Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request) as r, open(path, "rb") as f:
        assert r.read() == f.read(), "object differs from the file"
    print("TUSPY-OK", uploader.url)
    """#

@Suite struct TuspyCompatibilityTests {
    /// Debian's interpreter, where .ci/install-dependencies.sh installs tuspy.
    static let python = "/usr/bin/python3"

    @Test func tuspyUploadsInSixMiBChunks() async throws {
        let probe = try await runTool(Self.python, ["-c", "import tusclient"])
        let missing = probe.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(probe.status == 0, "tuspy is missing (\(missing)): run .ci/install-dependencies.sh to install it")
        let dir = try TemporaryDirectory()
        let log = dir.file("access.log")
        let h = try await Harness.resumable(directory: dir, accessLogPath: log)
        defer { Task { await h.stop() } }
        let size = 13 * 1024 * 1024 + 4321
        let file = try dir.write("archive.bin", patternBytes(size, seed: 30))
        let path = try dir.write("upload.py", Array(script.utf8))
        var env = ProcessInfo.processInfo.environment
        env["TUS_ENDPOINT"] = h.resumableEndpoint
        env["STORAGE_URL"] = h.storageURL
        env["SERVICE_KEY"] = h.server.serviceKey
        env["FILE"] = file
        let r = try await runTool(Self.python, [path], environment: env)
        #expect(r.status == 0, "tuspy script failed:\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("TUSPY-OK"))
        let info = try await h.store.info(key: "tuspy/archive.bin")
        #expect(info.size == Int64(size))
        try await Task.sleep(for: .milliseconds(200))
        let patches = try resumableLogLines(log, method: "PATCH").map { $0["bytes_received"] as? Int ?? 0 }
        #expect(patches == [6 << 20, 6 << 20, size - (12 << 20)])
    }
}
