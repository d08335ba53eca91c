// The request loop: reads requests from /dev/fuse and has libfuse dispatch them, on a fixed set of
// threads of which one, the leader, reads at a time and serves what it reads itself.
//
// Why not libfuse's multithreaded loop: there every request wakes a sleeping worker, and on a
// virtual machine whose idle CPUs halt, the wake-up (an interrupt between CPUs, and the halted
// CPU's return) cost more than the request: a process creating small files waits for three such
// round trips per file. Here the leader, after serving a request, keeps reading for a short
// `spin` before it sleeps, so the next request of a busy client finds it awake. A leader that
// serves one request for longer than `stallLimit` (a fetch from the bucket, a wait for a snapshot)
// is replaced by the deputy, a follower that watches it, so one slow request never holds the
// others up for long; the replaced leader becomes a follower when its request is done.
internal import CFuse
import Foundation
import Logging

final class RequestLoop: @unchecked Sendable {
    private let session: OpaquePointer
    private let descriptor: Int32
    private let threadCount: Int
    private let spin: Duration
    private let stallLimit: Duration
    private let logger: Logger

    private enum LeaderState { case reading, sleeping, serving }
    /// Guards everything below; the deputy and the followers wait on their own conditions of it.
    private let state = WaitingRoom()
    private var hasLeader = false
    private var hasDeputy = false
    /// Bumped when a leader is replaced: a leader whose term is over stops leading after its request.
    private var term: UInt64 = 0
    private var leaderState = LeaderState.reading
    /// Requests begun by leaders so far: the deputy's way to tell a stuck request from a busy leader.
    private var served: UInt64 = 0
    private var exited = false
    private var failure: Int32 = 0

    init(session: OpaquePointer, threads: Int, spin: Duration, stallLimit: Duration = .milliseconds(10), logger: Logger) {
        self.session = session
        descriptor = fuse_session_fd(session)
        threadCount = max(threads, 2)
        self.spin = spin
        self.stallLimit = stallLimit
        self.logger = logger
    }

    /// Serves until the file system is unmounted; returns 0, or the negative errno that ended it.
    func run() -> Int32 {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            logger.error("cannot make /dev/fuse non-blocking (errno \(errno)); serving stopped")
            return -EIO
        }
        let finished = DispatchGroup()
        for index in 0..<threadCount {
            finished.enter()
            let thread = Thread { [self] in
                work()
                finished.leave()
            }
            thread.name = "fuse-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        finished.wait()
        return state.locked { failure }
    }

    // MARK: - Roles

    private func work() {
        var buffer = fuse_buf()
        defer { free(buffer.mem) }
        state.lock()
        while !exited {
            if !hasLeader {
                hasLeader = true
                leaderState = .reading
                let myTerm = term
                state.unlock()
                lead(term: myTerm, buffer: &buffer)
                state.lock()
            } else if !hasDeputy {
                hasDeputy = true
                watchLeaderLocked()
            } else {
                state.wait(.follower)
            }
        }
        state.unlock()
    }

    /// Reads and serves requests until the file system goes away or the deputy replaced it.
    private func lead(term myTerm: UInt64, buffer: inout fuse_buf) {
        var readUntil = ContinuousClock.now + spin
        while true {
            guard requestWaiting(sleep: ContinuousClock.now >= readUntil) else { continue }
            let result = fuse_session_receive_buf(session, &buffer)
            if result > 0 {
                state.locked {
                    leaderState = .serving
                    served &+= 1
                }
                fuse_session_process_buf(session, &buffer)
                let leads = state.locked {
                    guard term == myTerm else { return false }
                    leaderState = .reading
                    return true
                }
                guard leads else { return }
                readUntil = ContinuousClock.now + spin
            } else if result != -EAGAIN && result != -EINTR {
                finish(result)
                return
            }
        }
    }

    /// Whether the device has something to read (a request, or an error or hang-up that the read
    /// reports). Without `sleep` it asks and returns at once (a poll is not a read: /proc/<pid>/io
    /// counts only requests); with it, it sleeps in poll(2) as the one thread waiting on the
    /// device, and wakes the deputy on its way out.
    private func requestWaiting(sleep: Bool) -> Bool {
        if sleep { state.locked { leaderState = .sleeping } }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, sleep ? -1 : 0)
        if sleep {
            state.locked {
                leaderState = .reading
                state.signal(.deputy)
            }
        }
        return entry.revents != 0
    }

    /// The deputy: while the leader serves, checks every `stallLimit` that it moved on to another
    /// request, and takes its place if not. Sleeps while the leader sleeps. Called and returns locked.
    private func watchLeaderLocked() {
        var lastSeen: UInt64?
        while !exited {
            switch leaderState {
            case .serving where lastSeen == served:
                term &+= 1  // the stuck leader becomes a follower once its request is done
                hasLeader = false
                hasDeputy = false
                state.signal(.follower)  // the next deputy
                logger.debug("a request has been served for over \(stallLimit); another thread reads the next ones")
                return
            case .serving:
                lastSeen = served
                state.wait(.deputy, for: stallLimit)
            case .reading:
                lastSeen = nil
                state.wait(.deputy, for: stallLimit)
            case .sleeping:
                lastSeen = nil
                state.wait(.deputy)
            }
        }
    }

    private func finish(_ result: Int32) {
        if result < 0 { logger.error("reading /dev/fuse failed: errno \(-result)") }
        fuse_session_exit(session)
        state.locked {
            exited = true
            if result < 0 { failure = result }
            state.broadcast(.deputy)
            state.broadcast(.follower)
        }
    }
}

/// A mutex with two conditions (the deputy's and the followers'), timed waits on the monotonic clock.
private final class WaitingRoom: @unchecked Sendable {
    enum Waiter: Int { case deputy = 0, follower = 1 }
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let conditions = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        for index in 0..<2 { pthread_cond_init(conditions + index, &attributes) }
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        for index in 0..<2 { pthread_cond_destroy(conditions + index) }
        pthread_mutex_destroy(mutex)
        conditions.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func locked<T>(_ body: () -> T) -> T {
        lock()
        defer { unlock() }
        return body()
    }

    /// Waits (locked) until signalled, or at most `limit`.
    func wait(_ waiter: Waiter, for limit: Duration? = nil) {
        guard let limit else {
            pthread_cond_wait(conditions + waiter.rawValue, mutex)
            return
        }
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = limit.components
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_cond_timedwait(conditions + waiter.rawValue, mutex, &deadline)
    }

    func signal(_ waiter: Waiter) { pthread_cond_signal(conditions + waiter.rawValue) }
    func broadcast(_ waiter: Waiter) { pthread_cond_broadcast(conditions + waiter.rawValue) }
}
