# Shared by the benchmarks that mount codebegenfs beside its peers (daemon-probe.sh, tree-ops.sh):
# a work directory cleaned up on exit, the source tree they copy, codebegenfs mounts, and helpers.
# Source it after setting SWIFT_PACKAGES; it defines WORK, DISK, SRC, FILES, DEST and PID.

# A fresh work directory under /var/tmp; every mount in it and every daemon started is removed on exit.
bench_workdir() { # prefix
    WORK=$(mktemp -d "/var/tmp/codebegenfs-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT INT TERM
}
bench_cleanup() {
    set +e
    for mp in "$WORK"/mnt-*; do grep -q " $mp " /proc/self/mountinfo && fusermount3 -u -z "$mp"; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    mountpoint -q "$WORK/disk" && umount "$WORK/disk"
    rm -rf "$WORK"
}

# DISK: a fresh ext4 file system on a sparse loop file in WORK, dropped whole on exit. Plain ext4 and
# codebegenfs's data then start equal, and no run pays for another's deleted files: this machine's
# root file system has no journal, and after a big deletion ext4 skips the freed inodes for about a
# minute, which made creates there 20 times slower. Without loop devices, DISK is a directory of WORK.
bench_fresh_disk() { # size in MiB
    DISK="$WORK/disk"
    mkdir -p "$DISK"
    truncate -s "${1}M" "$WORK/disk.img"
    if mkfs.ext4 -q -F -i 4096 "$WORK/disk.img" && mount -o loop "$WORK/disk.img" "$DISK"; then return 0; fi
    echo "no loop device: measuring on the file system of $WORK instead of a fresh one" >&2
    rm -f "$WORK/disk.img"
}

# The tree every benchmark copies: 2174 files of swift-nio, swift-crypto and swift-certificates.
make_source_tree() {
    SRC="$WORK/src"
    mkdir -p "$SRC"
    for spec in swift-nio:2.101.2 swift-crypto:4.5.2 swift-certificates:1.21.1; do
        mkdir -p "$SRC/${spec%%:*}"
        git -C "$SWIFT_PACKAGES/${spec%%:*}.git" archive "${spec#*:}" | tar -x -C "$SRC/${spec%%:*}"
    done
    FILES=$(find "$SRC" -type f | wc -l)
}

declare -A DEST PID
# Mounts `binary` at $WORK/mnt-<label> (no cloud) and makes DEST[label] an open version in it.
mount_cbfs() { # label binary
    local mp="$WORK/mnt-$1"
    mkdir -p "$mp"
    USE_CLOUD_STORAGE=false "$2" mount "$mp" --foreground --data "$WORK/data-$1" >"$WORK/$1.log" 2>&1 &
    PID[$1]=$!
    PIDS+=($!)
    for _ in $(seq 500); do mountpoint -q "$mp" && break; sleep 0.02; done
    mountpoint -q "$mp" || { tail -20 "$WORK/$1.log" >&2; exit 1; }
    mkdir -p "$mp/projects/bench/generations/g1/v1"
    DEST[$1]="$mp/projects/bench/generations/g1/v1"
}

now() { date +%s.%N; }
# Whether the status.json at `file` says `status` (writing, completed, failed).
status_is() { grep -q "\"status\" *: *\"$2\"" "$1" 2>/dev/null; } # file status
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
