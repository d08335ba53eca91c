// ObjectStore over the Supabase Storage REST API, with libcurl on a pool of reused handles.
import Dispatch
import Foundation
import Logging

/// The Supabase Storage implementation of ``ObjectStore``.
///
/// Each call blocks a libcurl handle on a thread of its own, never the caller's executor or the width-limited
/// dispatch pool, so it is safe to use from many tasks at once (and next to an in-process server).
/// Connections are kept alive between requests through a handle pool.
public final class SupabaseObjectStore: ObjectStore {
    public let configuration: SupabaseConfiguration
    private let logger: Logger
    private let pool = CurlHandlePool()

    public init(configuration: SupabaseConfiguration, logger: Logger = Logger(label: "codebegenfs.storage")) {
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Transport

    /// TCP connections opened so far; stays low when keep-alive reuse works.
    var connectionsOpened: Int { pool.connectionsOpened }

    var authHeaders: [String] {
        ["apikey: \(configuration.serviceKey)", "Authorization: Bearer \(configuration.serviceKey)"]
    }

    func url(_ path: String) -> String { configuration.storageBase + path }

    var bucketPath: String { KeyEncoding.encodeSegment(configuration.bucket) }

    private func objectPath(_ key: String) -> String { "/object/\(bucketPath)/\(KeyEncoding.encodeKey(key))" }

    /// Runs a request on the dispatch queue. `logPath` is what gets logged (never headers).
    func send(_ request: HTTPRequest, logPath: String) async throws(StorageError) -> HTTPResponse {
        let limits = TransferLimits(
            connectTimeoutSeconds: configuration.connectTimeoutSeconds,
            lowSpeedLimitBytes: configuration.lowSpeedLimitBytes,
            lowSpeedTimeSeconds: configuration.lowSpeedTimeSeconds
        )
        let started = DispatchTime.now()
        if Task.isCancelled { throw .cancelled }
        let flag = CancellationFlag()
        var request = request
        request.cancellation = flag
        let result: Result<HTTPResponse, StorageError> = await withTaskCancellationHandler {
            await transfer(request, limits: limits)
        } onCancel: {
            flag.cancel()
        }
        let ms = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
        switch result {
        case .success(let r):
            logger.debug("\(request.method) \(logPath) -> \(r.status) in \(ms) ms")
            return r
        case .failure(let e):
            logger.debug("\(request.method) \(logPath) failed in \(ms) ms: \(e)")
            throw e
        }
    }

    /// Runs the blocking transfer on a new thread and resumes with its outcome.
    private func transfer(_ request: HTTPRequest, limits: TransferLimits) async -> Result<HTTPResponse, StorageError> {
        await withCheckedContinuation { continuation in
            let thread = Thread { [pool] in
                guard let handle = pool.checkOut() else {
                    continuation.resume(returning: .failure(.transient("libcurl: could not create a handle")))
                    return
                }
                do throws(StorageError) {
                    let response = try CurlTransfer.perform(request, on: handle, limits: limits)
                    pool.recordConnections(response.newConnections)
                    pool.checkIn(handle)
                    continuation.resume(returning: .success(response))
                } catch {
                    // A handle that failed mid-transfer is dropped rather than reused.
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "supabase-storage"
            thread.start()
        }
    }

    /// Sends and throws the decoded error for any non-2xx answer.
    private func call(
        _ method: String,
        _ path: String,
        headers: [String] = [],
        body: RequestBody = .none,
        sink: ResponseSink = .memory,
        progress: UploadProgress? = nil
    ) async throws(StorageError) -> HTTPResponse {
        let request = HTTPRequest(
            method: method,
            url: url(path),
            headers: authHeaders + headers,
            body: body,
            sink: sink,
            progress: progress
        )
        let response = try await send(request, logPath: path)
        guard (200..<300).contains(response.status) else {
            let error = StorageError.from(httpStatus: response.status, body: response.body)
            logger.debug("\(method) \(path) refused: \(error)")
            throw error
        }
        return response
    }

    private func json(_ object: [String: Any]) throws(StorageError) -> RequestBody {
        do {
            return .bytes(Array(try JSONSerialization.data(withJSONObject: object)))
        } catch {
            throw .permanent(statusCode: 0, code: "EncodingFailed", message: "\(error)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse) throws(StorageError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw .permanent(statusCode: response.status, code: "BadResponse", message: "unexpected answer: \(error)")
        }
    }

    private static let jsonHeader = "Content-Type: application/json"

    // MARK: ObjectStore

    public func put(
        key: String,
        fromFile path: String,
        contentType: String = "application/octet-stream",
        upsert: Bool = false,
        progress: UploadProgress? = nil
    ) async throws -> ObjectInfo {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StorageError.localFile(path: path, errno: errno) }
        let size = Int64(st.st_size)
        do {
            _ = try await call(
                "POST",
                objectPath(key),
                headers: [
                    "Content-Type: \(contentType)", "x-upsert: \(upsert ? "true" : "false")",
                    "Cache-Control: no-cache",
                ],
                body: .file(path: path, size: size),
                progress: progress
            )
        } catch StorageError.tooLarge(let message) {
            // The server's message does not name the limit: look it up for the caller.
            throw await tooLarge(length: size, serverMessage: message)
        }
        return ObjectInfo(key: key, size: size, etag: nil, contentType: contentType, lastModified: nil, createdAt: nil)
    }

    @discardableResult
    public func get(key: String, range: ByteRange? = nil, toFile path: String) async throws -> Int64 {
        let headers = range.map { ["Range: \($0.headerValue)"] } ?? []
        let r = try await call("GET", objectPath(key), headers: headers, sink: .file(path: path))
        return r.bytesWritten
    }

    public func get(key: String, range: ByteRange? = nil) async throws -> [UInt8] {
        let headers = range.map { ["Range: \($0.headerValue)"] } ?? []
        return try await call("GET", objectPath(key), headers: headers).body
    }

    public func info(key: String) async throws -> ObjectInfo {
        let r = try await call("GET", "/object/info/\(bucketPath)/\(KeyEncoding.encodeKey(key))")
        let wire = try decode(WireObjectInfo.self, r)
        return ObjectInfo(
            key: key,
            size: wire.size ?? 0,
            etag: wire.etag,
            contentType: wire.content_type,
            lastModified: WireDate.parse(wire.last_modified),
            createdAt: WireDate.parse(wire.created_at)
        )
    }

    public func exists(key: String) async throws -> Bool {
        let request = HTTPRequest(method: "HEAD", url: url(objectPath(key)), headers: authHeaders, sink: .discard)
        let r = try await send(request, logPath: objectPath(key))
        if (200..<300).contains(r.status) { return true }
        // HEAD has no body: a missing object is a bare HTTP 400 (storage-js treats 400 and 404 as "no").
        if r.status == 400 || r.status == 404 { return false }
        throw StorageError.from(httpStatus: r.status, body: r.body)
    }

    public func sign(key: String, expiresIn: Int) async throws -> SignedURL {
        let path = "/object/sign/\(bucketPath)/\(KeyEncoding.encodeKey(key))"
        let r = try await call("POST", path, headers: [Self.jsonHeader], body: json(["expiresIn": expiresIn]))
        let wire = try decode(WireSignedURL.self, r)
        guard let signed = wire.signedURL else {
            throw StorageError.permanent(statusCode: r.status, code: "BadResponse", message: "no signedURL in answer")
        }
        let url = SignedURLBuilder.absolute(base: configuration.storageBase, returnedPath: signed)
        let expires = SignedURLBuilder.expiry(ofReturnedPath: signed) ?? Date().addingTimeInterval(Double(expiresIn))
        return SignedURL(url: url, expiresAt: expires)
    }

    public func list(prefix: String, limit: Int = 100, offset: Int = 0) async throws -> [ListEntry] {
        let body = try json([
            "prefix": prefix, "limit": limit, "offset": offset, "sortBy": ["column": "name", "order": "asc"],
        ])
        let r = try await call("POST", "/object/list/\(bucketPath)", headers: [Self.jsonHeader], body: body)
        return try decode([WireListItem].self, r).map { $0.entry }
    }

    public func delete(key: String) async throws {
        _ = try await call("DELETE", objectPath(key))
    }

    @discardableResult
    public func delete(keys: [String]) async throws -> [String] {
        if keys.isEmpty { return [] }
        let r = try await call(
            "DELETE",
            "/object/\(bucketPath)",
            headers: [Self.jsonHeader],
            body: json(["prefixes": keys])
        )
        return try decode([WireListItem].self, r).map(\.name)
    }

    @discardableResult
    public func createBucketIfMissing(name: String, public isPublic: Bool = false) async throws -> Bool {
        do {
            _ = try await call(
                "POST",
                "/bucket",
                headers: [Self.jsonHeader],
                body: json(["id": name, "name": name, "public": isPublic])
            )
            return true
        } catch .conflict {
            return false
        }
    }

    // MARK: Beyond the protocol

    /// Names of all buckets.
    public func listBuckets() async throws -> [String] {
        try decode([WireBucket].self, try await call("GET", "/bucket")).map(\.name)
    }

    /// Copies `source` to `destination` in the bucket; `upsert` allows replacing the destination.
    public func copy(from source: String, to destination: String, upsert: Bool = false) async throws {
        let body = try json(["bucketId": configuration.bucket, "sourceKey": source, "destinationKey": destination])
        _ = try await call(
            "POST",
            "/object/copy",
            headers: [Self.jsonHeader, "x-upsert: \(upsert ? "true" : "false")"],
            body: body
        )
    }

    /// Renames `source` to `destination`; fails with ``StorageError/conflict(_:)`` when the destination exists.
    public func move(from source: String, to destination: String) async throws {
        let body = try json(["bucketId": configuration.bucket, "sourceKey": source, "destinationKey": destination])
        _ = try await call("POST", "/object/move", headers: [Self.jsonHeader], body: body)
    }
}
