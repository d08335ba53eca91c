#!/usr/bin/env bash
# What FUSE itself costs on this machine for the two per-file workloads of issue 13: creating small
# files one by one, and `find -type f` cold and hot. The same N files (N/1000 directories of 1000
# files of 100 bytes, one Python process doing open/write/close) on plain ext4, through bindfs (a C
# passthrough, single- and multi-threaded) over a directory of the same disk, and in an open version
# of codebegenfs. The data of all four is on a fresh ext4 loop file, so no run pays for another's
# deleted inodes. Prints files/s and seconds with ratios against plain ext4 and against bindfs -o
# multithreaded, all measured in this run.
#
# Usage (root): bash bench/fuse-floor.sh [N]      (N defaults to 200000)
# Environment: SKIP_BUILD=1 (use the existing release binary), CBFS_BIN=<binary to run>,
# BASE_BIN=<another codebegenfs, measured too, as codebegenfs-base>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-200000}
PER_DIR=1000
[[ $(id -u) -eq 0 ]] || { echo "fuse-floor.sh: run as root (loop mounts, FUSE mounts)" >&2; exit 1; }
command -v bindfs >/dev/null || apt-get install -y bindfs >/dev/null
if [[ -z ${CBFS_BIN:-} && ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && swift build -c release --product codebegenfs 2>&1 | tail -1)
fi
BIN=$(realpath "${CBFS_BIN:-$ROOT/.build/release/codebegenfs}")

source "$ROOT/bench/lib.sh"
bench_workdir fuse-floor
# Four trees of N one-block files; an inode per 4 KiB (a sparse file: only what is written is used).
bench_fresh_disk $((N * 20 / 1024 + 2048))

create_tree() { # root -> files/s
    python3 - "$1" "$N" "$PER_DIR" <<'PY'
import os, sys, time
root, n, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = b"x" * 99 + b"\n"
start = time.perf_counter()
for d in range(n // per_dir):
    os.makedirs(f"{root}/d{d:04d}", exist_ok=True)
    for i in range(per_dir):
        fd = os.open(f"{root}/d{d:04d}/f{i:04d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
print(f"{n / (time.perf_counter() - start):.0f}")
PY
}
timed() { local t0=$(now); "$@" >/dev/null; awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
declare -A CREATE COLD HOT

measure() { # label tree-root
    CREATE[$1]=$(create_tree "$2")
    drop_caches
    COLD[$1]=$(timed find "$2" -type f)
    HOT[$1]=$(timed find "$2" -type f)
    echo "fuse-floor.sh: $1: ${CREATE[$1]} files/s, find cold ${COLD[$1]} s, hot ${HOT[$1]} s" >&2
}

echo "$N files of 100 bytes in $((N / PER_DIR)) directories, codebegenfs $BIN" >&2
measure plain "$DISK/plain"
for mode in bindfs bindfs-mt; do
    mkdir -p "$DISK/$mode" "$WORK/mnt-$mode"
    if [[ $mode == bindfs ]]; then bindfs "$DISK/$mode" "$WORK/mnt-$mode"; else bindfs --multithreaded "$DISK/$mode" "$WORK/mnt-$mode"; fi
    measure "$mode" "$WORK/mnt-$mode/tree"
    fusermount3 -u "$WORK/mnt-$mode"
done
measure_cbfs() { # label binary
    mkdir -p "$WORK/mnt-$1"
    USE_CLOUD_STORAGE=false WRITE_BACK_DELAY=600 "$2" mount "$WORK/mnt-$1" --foreground --data "$DISK/$1" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 500); do mountpoint -q "$WORK/mnt-$1" && break; sleep 0.02; done
    mkdir -p "$WORK/mnt-$1/projects/bench/generations/g1/v1"
    measure "$1" "$WORK/mnt-$1/projects/bench/generations/g1/v1/tree"
    fusermount3 -u "$WORK/mnt-$1"
}
LABELS=(plain bindfs bindfs-mt codebegenfs)
if [[ -n ${BASE_BIN:-} ]]; then measure_cbfs codebegenfs-base "$(realpath "$BASE_BIN")"; LABELS+=(codebegenfs-base); fi
measure_cbfs codebegenfs "$BIN"

cat <<EOF

| $N files | create (files/s) | × plain | × bindfs-mt | find cold (s) | × plain | × bindfs-mt | find hot (s) | × plain |
|---|---|---|---|---|---|---|---|---|
EOF
for label in "${LABELS[@]}"; do
    echo "| $label | ${CREATE[$label]} | $(ratio "${CREATE[$label]}" "${CREATE[plain]}") | $(ratio "${CREATE[$label]}" "${CREATE[bindfs-mt]}") | ${COLD[$label]} | $(ratio "${COLD[$label]}" "${COLD[plain]}") | $(ratio "${COLD[$label]}" "${COLD[bindfs-mt]}") | ${HOT[$label]} | $(ratio "${HOT[$label]}" "${HOT[plain]}") |"
done
