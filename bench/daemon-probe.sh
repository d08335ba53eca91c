#!/usr/bin/env bash
# Daemon cost of a tree copy: wall time, daemon CPU and futex calls per `cp -r` of ~2000 source
# files, for two codebegenfs binaries (e.g. before and after a change) beside bindfs, in one run
# with the targets taking turns within each rep. Futex calls are counted in a separate pass under
# `strace -f -c` (strace slows the daemon, so its pass is not timed).
#
# Usage (root): BASE_BIN=/path/to/old/codebegenfs NEW_BIN=.build/release/codebegenfs bash bench/daemon-probe.sh
# Environment: REPS=5  SWIFT_PACKAGES=/opt/swift-packages/apple
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-5}
SWIFT_PACKAGES=${SWIFT_PACKAGES:-/opt/swift-packages/apple}
BASE_BIN=${BASE_BIN:?set BASE_BIN to the codebegenfs binary to compare against}
NEW_BIN=${NEW_BIN:-$ROOT/.build/release/codebegenfs}
[[ $(id -u) -eq 0 ]] || { echo "daemon-probe.sh: run as root" >&2; exit 1; }
for tool in bindfs strace; do
    command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bindfs strace >/dev/null; }
done

source "$ROOT/bench/lib.sh"
bench_workdir probe
make_source_tree

mkdir -p "$WORK/backing-bindfs" "$WORK/mnt-bindfs"
bindfs "$WORK/backing-bindfs" "$WORK/mnt-bindfs"
PID[bindfs]=$(pgrep -n -x bindfs)
DEST[bindfs]="$WORK/mnt-bindfs"
mount_cbfs base "$BASE_BIN"
mount_cbfs new "$NEW_BIN"
TARGETS=(bindfs base new)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

declare -A WALL CPU FUTEX
for rep in $(seq "$REPS"); do
    for t in "${TARGETS[@]}"; do
        sync
        c0=$(cpu_ticks "${PID[$t]}"); t0=$(now)
        cp -r "$SRC" "${DEST[$t]}/tree-$rep"
        t1=$(now); c1=$(cpu_ticks "${PID[$t]}")
        [[ $(find "${DEST[$t]}/tree-$rep" -type f | wc -l) -eq $FILES ]] || { echo "$t: copy incomplete" >&2; exit 1; }
        WALL[$t]+=" $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
        CPU[$t]+=" $(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')"
    done
done
for t in "${TARGETS[@]}"; do # the futex pass
    strace -f -c -e trace=futex -p "${PID[$t]}" -o "$WORK/strace-$t" &
    tracer=$!
    sleep 0.5
    cp -r "$SRC" "${DEST[$t]}/traced"
    sleep 0.2
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    FUTEX[$t]=$(awk '$NF == "futex" { print $4 }' "$WORK/strace-$t")
done

echo "tree copy of $FILES files, $REPS reps (medians); futex calls from one traced copy"
printf '%-8s %9s %9s %9s %12s\n' target wall_s cpu_s futex "wall/bindfs"
b=$(median ${WALL[bindfs]})
for t in "${TARGETS[@]}"; do
    w=$(median ${WALL[$t]})
    printf '%-8s %9s %9s %9s %12s\n' "$t" "$w" "$(median ${CPU[$t]})" "${FUTEX[$t]:-0}" "$(awk -v a="$w" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
done
echo "all walls:"; for t in "${TARGETS[@]}"; do echo "  $t:${WALL[$t]}"; done
