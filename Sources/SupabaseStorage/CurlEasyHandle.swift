internal import CCurl
// Ownership of libcurl easy handles, and the pool that lets requests reuse them (and their connections).
import Foundation

/// One `CURL *`. Used by one thread at a time: either parked in `CurlHandlePool` (under its lock)
/// or checked out by exactly one transfer, which is why it may cross threads.
final class CurlEasyHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    init?() {
        guard let h = curl_easy_init() else { return nil }
        raw = h
    }

    deinit { curl_easy_cleanup(raw) }

    /// Clears options from the previous request; live connections and the DNS cache stay.
    func reset() { curl_easy_reset(raw) }

    func set(_ option: CURLoption, _ value: Int) { _ = ccurl_easy_setopt_long(raw, option, value) }
    func set(_ option: CURLoption, offset value: Int64) { _ = ccurl_easy_setopt_off(raw, option, curl_off_t(value)) }
    func set(_ option: CURLoption, _ value: String) { _ = ccurl_easy_setopt_string(raw, option, value) }
    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) {
        _ = ccurl_easy_setopt_ptr(raw, option, pointer)
    }

    var responseCode: Int {
        var code: Int = 0
        _ = ccurl_easy_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

/// A pool of idle easy handles. `lock` protects `idle` and `opened`; handles are checked out for one request.
final class CurlHandlePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [CurlEasyHandle] = []
    private var opened = 0
    private let maxIdle: Int

    init(maxIdle: Int = 8) {
        self.maxIdle = maxIdle
        // Thread-safe since libcurl 7.84; calling it here keeps its reference count above zero for our handles.
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    deinit {
        idle.removeAll()
        curl_global_cleanup()
    }

    func checkOut() -> CurlEasyHandle? {
        lock.lock()
        let h = idle.popLast()
        lock.unlock()
        return h ?? CurlEasyHandle()
    }

    /// Counts connections opened by finished requests (for tests of connection reuse).
    func recordConnections(_ n: Int) {
        lock.lock()
        opened += n
        lock.unlock()
    }

    var connectionsOpened: Int {
        lock.lock()
        defer { lock.unlock() }
        return opened
    }

    func checkIn(_ handle: CurlEasyHandle) {
        lock.lock()
        if idle.count < maxIdle { idle.append(handle) }
        lock.unlock()
    }
}
