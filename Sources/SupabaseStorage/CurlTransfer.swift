internal import CCurl
// Runs one HTTP request on a pooled easy handle: streams the body in from a file or memory and the
// answer out to a file or memory, through libcurl callbacks.
import Foundation

/// Where a request body comes from.
enum RequestBody: Sendable {
    case none
    case bytes([UInt8])
    /// Streamed from the file; `size` is sent as Content-Length.
    case file(path: String, size: Int64)
    /// Streamed from `length` bytes of the file starting at `offset` (a chunk of a resumable upload).
    case fileRange(path: String, offset: Int64, length: Int64)
}

/// Where a successful (2xx) response body goes. Error bodies always go to memory.
enum ResponseSink: Sendable {
    case memory
    case file(path: String)
    case discard
}

struct HTTPRequest: Sendable {
    var method: String
    var url: String
    var headers: [String]
    var body: RequestBody = .none
    var sink: ResponseSink = .memory
    var progress: UploadProgress? = nil
    /// Set from another thread to abort the transfer at libcurl's next progress check.
    var cancellation: CancellationFlag? = nil
}

/// A one-way flag, set by a task-cancellation handler and read by the transfer thread. `lock` protects `set`.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false

    func cancel() {
        lock.lock()
        set = true
        lock.unlock()
    }

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return set
    }
}

struct HTTPResponse: Sendable {
    var status: Int
    /// Lower-cased header names; the last value wins.
    var headers: [String: String]
    /// The body when the sink was memory, or any non-2xx body (capped).
    var body: [UInt8]
    /// Bytes written to the file sink.
    var bytesWritten: Int64
    /// New connections libcurl had to open for this request (0 when one was reused).
    var newConnections: Int = 0
}

/// State shared with the C callbacks of one transfer. Touched only by the thread running `curl_easy_perform`.
private final class TransferState {
    let handle: CurlEasyHandle
    var uploadBytes: [UInt8] = []
    var uploadOffset = 0
    var uploadFD: Int32 = -1
    var uploadTotal: Int64 = 0
    /// Bytes of the file still to send (a range stops before the end of the file).
    var uploadRemaining: Int64 = 0
    var sinkFD: Int32 = -1
    var sinkPath = ""
    var uploadPath = ""
    var toMemory = false
    var memory: [UInt8] = []
    var headers: [String: String] = [:]
    var bytesWritten: Int64 = 0
    var localError: StorageError?
    var progress: UploadProgress?
    var cancellation: CancellationFlag?
    static let errorBodyCap = 64 * 1024

    init(handle: CurlEasyHandle) { self.handle = handle }
}

private let writeCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data,
    size,
    count,
    user in
    guard let user, let data else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    let status = state.handle.responseCode
    let raw = UnsafeRawBufferPointer(start: data, count: n)
    if (200..<300).contains(status) && !state.toMemory {
        if state.sinkFD < 0 { return n }  // discard
        var done = 0
        while done < n {
            let w = write(state.sinkFD, data + done, n - done)
            if w < 0 {
                if errno == EINTR { continue }
                state.localError = .localFile(path: state.sinkPath, errno: errno)
                return 0
            }
            done += w
        }
        state.bytesWritten += Int64(n)
        return n
    }
    if (200..<300).contains(status) || state.memory.count < TransferState.errorBodyCap {
        state.memory.append(contentsOf: raw)
    }
    return n
}

private let readCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    buffer,
    size,
    count,
    user in
    guard let user, let buffer else { return Int(CURL_READFUNC_ABORT) }
    let state = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    let capacity = size * count
    if state.uploadFD >= 0 {
        let wanted = Int(min(Int64(capacity), state.uploadRemaining))
        if wanted == 0 { return 0 }
        while true {
            let r = read(state.uploadFD, buffer, wanted)
            if r >= 0 {
                state.uploadRemaining -= Int64(r)
                return r
            }
            if errno == EINTR { continue }
            state.localError = .localFile(path: state.uploadPath, errno: errno)
            return Int(CURL_READFUNC_ABORT)
        }
    }
    let n = min(capacity, state.uploadBytes.count - state.uploadOffset)
    if n > 0 {
        state.uploadBytes.withUnsafeBytes { src in
            guard let base = src.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + state.uploadOffset, byteCount: n)
        }
        state.uploadOffset += n
    }
    return n
}

private let headerCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data,
    size,
    count,
    user in
    guard let user, let data else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
    let n = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        state.headers.removeAll()  // a new response (after 100 Continue, for example)
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        state.headers[name] = value
    }
    return n
}

private let progressCallback:
    @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
        user,
        _,
        _,
        _,
        ulnow in
        guard let user else { return 0 }
        let state = Unmanaged<TransferState>.fromOpaque(user).takeUnretainedValue()
        if state.cancellation?.isCancelled == true { return 1 }  // non-zero aborts the transfer
        state.progress?(Int64(ulnow), state.uploadTotal)
        return 0
    }

/// Connection-level settings applied to every request.
struct TransferLimits: Sendable {
    var connectTimeoutSeconds: Int
    var lowSpeedLimitBytes: Int
    var lowSpeedTimeSeconds: Int
}

enum CurlTransfer {
    /// Performs `request` on `handle` (blocking). Throws `StorageError` for local and connection failures;
    /// HTTP error statuses are returned, not thrown.
    static func perform(_ request: HTTPRequest, on handle: CurlEasyHandle, limits: TransferLimits) throws(StorageError)
        -> HTTPResponse
    {
        handle.reset()
        let state = TransferState(handle: handle)
        defer {
            if state.uploadFD >= 0 { close(state.uploadFD) }
            if state.sinkFD >= 0 { close(state.sinkFD) }
        }
        let user = Unmanaged.passUnretained(state).toOpaque()

        handle.set(CURLOPT_URL, request.url)
        handle.set(CURLOPT_NOSIGNAL, 1)
        handle.set(CURLOPT_CONNECTTIMEOUT, limits.connectTimeoutSeconds)
        handle.set(CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedLimitBytes)
        handle.set(CURLOPT_LOW_SPEED_TIME, limits.lowSpeedTimeSeconds)
        handle.set(CURLOPT_TCP_KEEPALIVE, 1)
        // Larger buffers than the 16/64 KiB defaults: fewer callbacks and syscalls per GiB.
        handle.set(CURLOPT_BUFFERSIZE, 256 * 1024)
        handle.set(CURLOPT_UPLOAD_BUFFERSIZE, 256 * 1024)
        _ = ccurl_easy_setopt_write_function(handle.raw, writeCallback)
        handle.set(CURLOPT_WRITEDATA, pointer: user)
        _ = ccurl_easy_setopt_header_function(handle.raw, headerCallback)
        handle.set(CURLOPT_HEADERDATA, pointer: user)

        switch request.body {
        case .none:
            break
        case .bytes(let bytes):
            state.uploadBytes = bytes
            state.uploadTotal = Int64(bytes.count)
        case .file(let path, let size):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .localFile(path: path, errno: errno) }
            state.uploadFD = fd
            state.uploadPath = path
            state.uploadTotal = size
            state.uploadRemaining = size
        case .fileRange(let path, let offset, let length):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .localFile(path: path, errno: errno) }
            state.uploadFD = fd
            guard lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else {
                throw .localFile(path: path, errno: errno)
            }
            state.uploadPath = path
            state.uploadTotal = length
            state.uploadRemaining = length
        }
        if case .none = request.body {
            if request.method == "HEAD" {
                handle.set(CURLOPT_NOBODY, 1)
            } else if request.method != "GET" {
                handle.set(CURLOPT_CUSTOMREQUEST, request.method)
            }
        } else {
            // UPLOAD streams through the read callback with a known Content-Length; the method is then set explicitly.
            handle.set(CURLOPT_UPLOAD, 1)
            handle.set(CURLOPT_INFILESIZE_LARGE, offset: state.uploadTotal)
            _ = ccurl_easy_setopt_read_function(handle.raw, readCallback)
            handle.set(CURLOPT_READDATA, pointer: user)
            handle.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        if request.progress != nil || request.cancellation != nil {
            state.progress = request.progress
            state.cancellation = request.cancellation
            handle.set(CURLOPT_NOPROGRESS, 0)
            _ = ccurl_easy_setopt_xferinfo_function(handle.raw, progressCallback)
            handle.set(CURLOPT_XFERINFODATA, pointer: user)
        }

        switch request.sink {
        case .memory:
            state.toMemory = true
        case .discard:
            break
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .localFile(path: path, errno: errno) }
            state.sinkFD = fd
            state.sinkPath = path
        }

        // An empty Expect: stops libcurl from waiting for 100 Continue before large bodies.
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        for h in request.headers + ["Expect:"] {
            headerList = curl_slist_append(headerList, h)
        }
        defer { curl_slist_free_all(headerList) }
        _ = ccurl_easy_setopt_slist(handle.raw, CURLOPT_HTTPHEADER, headerList)

        let code = curl_easy_perform(handle.raw)
        if let local = state.localError { throw local }
        if code == CURLE_ABORTED_BY_CALLBACK, state.cancellation?.isCancelled == true { throw .cancelled }
        guard code == CURLE_OK else {
            throw classify(code)
        }
        // No fsync here: callers that need the download durable sync it themselves (they rename it into place).
        var connects: Int = 0
        _ = ccurl_easy_getinfo_long(handle.raw, CURLINFO_NUM_CONNECTS, &connects)
        return HTTPResponse(
            status: handle.responseCode,
            headers: state.headers,
            body: state.memory,
            bytesWritten: state.bytesWritten,
            newConnections: connects
        )
    }

    /// libcurl failures: network-level ones are transient, the rest (bad URL, TLS verification) are not.
    private static func classify(_ code: CURLcode) -> StorageError {
        let message = "libcurl: " + String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_OPERATION_TIMEDOUT,
            CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_SSL_CONNECT_ERROR, CURLE_AGAIN,
            // A reused connection died while the body was being sent and libcurl cannot rewind a streamed body to
            // resend it on a new one: the request failed on the network, a retry can succeed.
            CURLE_SEND_FAIL_REWIND:
            return .transient(message)
        default:
            return .permanent(statusCode: 0, code: "curl\(code.rawValue)", message: message)
        }
    }
}
