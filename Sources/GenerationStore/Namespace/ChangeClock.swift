// The time stamped on every change to a node (its ctime), which incremental snapshots trust.

/// The wall clock, made to run forwards: each stamp is later than every stamp before it, and
/// later than every snapshot recorded before this mount started. A snapshot reuses the packed
/// bytes of an entry whose ctime is not after the version's previous snapshot, so a clock set
/// back must not make a later change look older than that snapshot.
struct ChangeClock {
    private var last: Int64

    /// `floor`: the latest time already handed out in an earlier run (snapshots, version changes).
    init(floor: Int64) { last = floor }

    /// Now, or just after the last stamp if the wall clock is behind it.
    mutating func now() -> Timespec { Timespec(totalNanoseconds: stamp(atLeast: Timespec.now().totalNanoseconds)) }

    /// `time`, or just after the last stamp if that is later (a write's time taken outside the lock).
    mutating func stamp(atLeast time: Int64) -> Int64 {
        last = max(time, last + 1)
        return last
    }
}
