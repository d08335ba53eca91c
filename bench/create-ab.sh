#!/usr/bin/env bash
# Alternated A/B of creating small files: each arm (a codebegenfs binary, with settings of its own)
# is mounted in turn on one fresh ext4 loop disk, and P Python processes at once each create N/P
# files of 100 bytes (open/write/close; 1000 a directory) in an open version after 500 to warm up; R rounds. Prints
# files/s and the daemon's CPU per file for every run, then the median of each arm and its ratio to
# the first arm. The machine's speed drifts within minutes, so only arms alternated in one run compare.
#
# Usage (root): bash bench/create-ab.sh N R label=binary[,VAR=value...] label=binary[,VAR=value...] ...
#   e.g. bash bench/create-ab.sh 50000 5 loop=.build/release/codebegenfs no-spin=.build/release/codebegenfs,REQUEST_SPIN_MICROSECONDS=0
# Environment: PROCESSES=<P> (default 1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(($# >= 3)) || { sed -n 2,11p "$0" >&2; exit 1; }
N=$1 ROUNDS=$2
shift 2
PROCESSES=${PROCESSES:-1}
[[ $(id -u) -eq 0 ]] || { echo "create-ab.sh: run as root (loop and FUSE mounts)" >&2; exit 1; }
source "$ROOT/bench/lib.sh"
bench_workdir create-ab
bench_fresh_disk $((N * 12 / 1024 * ROUNDS * $# + 2048))

create_files() { # root -> files/s over all processes
    python3 - "$1" "$N" "$PROCESSES" <<'PY'
import os, sys, time
from multiprocessing import Process
root, n, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = b"x" * 99 + b"\n"
def create(directory, count):  # 1000 files a directory, as bench/scale.sh
    for i in range(count):
        if i % 1000 == 0:
            os.makedirs(f"{directory}/d{i // 1000:04d}", exist_ok=True)
        fd = os.open(f"{directory}/d{i // 1000:04d}/f{i % 1000:04d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
create(f"{root}/warm", 500)
start = time.perf_counter()
if processes == 1:
    create(f"{root}/p0", n)
else:
    workers = [Process(target=create, args=(f"{root}/p{p}", n // processes)) for p in range(processes)]
    for worker in workers: worker.start()
    for worker in workers: worker.join()
print(f"{n // processes * processes / (time.perf_counter() - start):.0f}")
PY
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A RESULTS
LABELS=()
for round in $(seq "$ROUNDS"); do
    for spec in "$@"; do
        label=${spec%%=*} rest=${spec#*=}
        binary=$(realpath "${rest%%,*}") settings=()
        [[ $rest == *,* ]] && IFS=, read -ra settings <<<"${rest#*,}"
        ((round == 1)) && LABELS+=("$label")
        mp="$WORK/mnt-$label-$round"
        mkdir -p "$mp"
        env USE_CLOUD_STORAGE=false WRITE_BACK_DELAY=600 "${settings[@]}" \
            "$binary" mount "$mp" --foreground --data "$DISK/data-$label-$round" >"$WORK/$label-$round.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 500); do mountpoint -q "$mp" && break; sleep 0.02; done
        mountpoint -q "$mp" || { tail -20 "$WORK/$label-$round.log" >&2; exit 1; }
        mkdir -p "$mp/projects/bench/generations/g1/v1"
        ticks=$(cpu_ticks "$pid")
        rate=$(create_files "$mp/projects/bench/generations/g1/v1/tree")
        cpu=$(awk -v t="$(( $(cpu_ticks "$pid") - ticks ))" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
        echo "round $round $label: $rate files/s, daemon CPU $cpu µs/file" >&2
        RESULTS[$label]+="$rate "
        fusermount3 -u "$mp"
        wait "$pid" || true
    done
done

echo
echo "| $N files, $PROCESSES process(es), $ROUNDS rounds | files/s per round | median | × ${LABELS[0]} |"
echo "|---|---|---|---|"
first=$(median ${RESULTS[${LABELS[0]}]})
for label in "${LABELS[@]}"; do
    m=$(median ${RESULTS[$label]})
    echo "| $label | ${RESULTS[$label]% } | $m | $(awk -v a="$m" -v b="$first" 'BEGIN { printf "%.2f", a / b }') |"
done
