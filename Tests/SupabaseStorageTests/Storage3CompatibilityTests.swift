// The official Python client (storage3 from PyPI) works against the bundled server unchanged.
import Foundation
import Testing

/// The script storage3 runs: upload, download, list, sign (one and batch) + fetch, info/exists, errors, remove.
private let script = #"""
    import os, sys, urllib.request
    from storage3 import create_client
    from storage3.exceptions import StorageApiError

    url, key = os.environ["STORAGE_URL"], os.environ["SERVICE_KEY"]
    client = create_client(url, {"apikey": key, "Authorization": f"Bearer {key}"}, is_async=False)

    names = [b.name for b in client.list_buckets()]
    assert "codebegen-projects" in names, names
    assert client.get_bucket("codebegen-projects").public is False
    client.create_bucket("py-bucket")
    try:
        client.create_bucket("py-bucket")
        raise SystemExit("duplicate bucket accepted")
    except StorageApiError as e:
        assert str(e.status) == "409", e.status

    b = client.from_("codebegen-projects")
    payload = b"hello from storage3\n" * 1000
    b.upload("py/dir/a b.txt", payload, {"content-type": "text/plain"})
    try:
        b.upload("py/dir/a b.txt", b"again", {"content-type": "text/plain"})
        raise SystemExit("duplicate upload accepted")
    except StorageApiError as e:
        assert str(e.status) == "409" and e.code == "Duplicate", (e.status, e.code)
    b.upload("py/dir/a b.txt", payload, {"content-type": "text/plain", "upsert": "true"})
    b.upload("py/dir/sub/x.bin", b"\x00\x01\x02", {"content-type": "application/octet-stream"})
    assert b.download("py/dir/a b.txt") == payload

    listed = b.list("py/dir")
    assert [i["name"] for i in listed] == ["a b.txt", "sub"], listed
    assert listed[0]["metadata"]["size"] == len(payload), listed[0]
    assert listed[0]["metadata"]["mimetype"] == "text/plain", listed[0]

    info = b.info("py/dir/a b.txt")
    assert b.exists("py/dir/a b.txt") and not b.exists("py/dir/nothing.txt")

    signed = b.create_signed_url("py/dir/a b.txt", 60)["signedURL"]
    with urllib.request.urlopen(signed) as r:
        assert r.read() == payload
    many = b.create_signed_urls(["py/dir/a b.txt", "py/missing"], 60)
    assert many[0]["signedURL"] and many[1]["error"], many
    with urllib.request.urlopen(many[0]["signedURL"]) as r:
        assert r.read() == payload

    try:
        b.download("py/nothing")
        raise SystemExit("download of a missing object succeeded")
    except StorageApiError as e:
        assert str(e.status) == "404", e.status

    removed = b.remove(["py/dir/a b.txt", "py/dir/sub/x.bin"])
    assert len(removed) == 2, removed
    assert not b.exists("py/dir/a b.txt")
    print("STORAGE3-OK")
    """#

@Suite struct Storage3CompatibilityTests {
    static let venv = "/tmp/codebegenfs-storage3-venv"

    /// Creates the venv and installs storage3 from PyPI; throws with pip's output when that fails.
    private func python() async throws -> String {
        let py = Self.venv + "/bin/python"
        if !FileManager.default.fileExists(atPath: py) {
            let made = try await runTool("/usr/bin/env", ["python3", "-m", "venv", Self.venv])
            try #require(made.status == 0, "python3 -m venv failed: \(made.stderr)")
        }
        let pip = try await runTool(py, ["-m", "pip", "install", "-q", "storage3"])
        try #require(pip.status == 0, "pip install storage3 failed: \(pip.stdout)\(pip.stderr)")
        return py
    }

    @Test func storage3RoundTrip() async throws {
        let py = try await python()
        let h = try await Harness.start()
        defer { Task { await h.stop() } }
        let path = try h.directory.write("check.py", Array(script.utf8))
        var env = ProcessInfo.processInfo.environment
        env["STORAGE_URL"] = h.storageURL
        env["SERVICE_KEY"] = h.server.serviceKey
        let r = try await runTool(py, [path], environment: env)
        #expect(r.status == 0, "storage3 script failed:\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("STORAGE3-OK"))
    }
}
