#!/usr/bin/env bash
# Browsing and tree operations (issue 12): ls -lR cold and hot, find, stat of every file, cat of
# every file cold and hot, rm -rf, and small-file creates, on a plain directory, bindfs and an open
# version of codebegenfs (and of a second codebegenfs binary, to compare before and after a change),
# and the read-only steps on a sealed version of the same mount ("sealed": the tree is copied into
# v<rep>, then mkdir v<rep+1> seals it), the targets taking turns within each rep. Prints medians in
# seconds and ratios to bindfs, `ls -lR` against plain, and the p50/p99 latency of create+write+close
# of 10 000 files of 4 KiB from one process. Each rep's steps and the latency run start once the
# daemons have packed their versions (wait_packed): the steps measure the file system, not the
# background compression competing for the CPU (docs/benchmarks.md has both).
#
# Usage (root): bash bench/tree-ops.sh          (builds the release binary unless SKIP_BUILD=1)
# Environment: REPS=3  BASE_BIN=<another codebegenfs to compare>  SMALL_FILES=5000  LATENCY_FILES=10000
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
SMALL_FILES=${SMALL_FILES:-5000}
LATENCY_FILES=${LATENCY_FILES:-10000}
SWIFT_PACKAGES=${SWIFT_PACKAGES:-/opt/swift-packages/apple}
[[ $(id -u) -eq 0 ]] || { echo "tree-ops.sh: run as root (drop_caches, FUSE mounts)" >&2; exit 1; }
command -v bindfs >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bindfs >/dev/null; }
if [[ ${SKIP_BUILD:-0} != 1 ]]; then (cd "$ROOT" && swift build -c release --product codebegenfs 2>&1 | tail -1); fi
NEW_BIN=${NEW_BIN:-$ROOT/.build/release/codebegenfs}

source "$ROOT/bench/lib.sh"
bench_workdir treeops
make_source_tree

TARGETS=(plain bindfs new)
mkdir -p "$WORK/plain" "$WORK/backing-bindfs" "$WORK/mnt-bindfs"
DEST[plain]="$WORK/plain"
bindfs "$WORK/backing-bindfs" "$WORK/mnt-bindfs"
DEST[bindfs]="$WORK/mnt-bindfs"
mount_cbfs new "$NEW_BIN"
if [[ -n ${BASE_BIN:-} ]]; then mount_cbfs base "$BASE_BIN"; TARGETS=(plain bindfs base new); fi
TARGETS+=(sealed)
SEALED_GENERATION="$WORK/mnt-new/projects/bench/generations/g2"
mkdir -p "$SEALED_GENERATION/v1"

# Waits until every version of the codebegenfs mounts is packed (status "completed"), so a step is
# not measured while the daemon compresses in the background (bindfs and plain have no such work).
wait_packed() {
    local f
    for f in "$WORK"/mnt-{new,base}/projects/bench/generations/*/v*/status.json; do
        [[ -e $f ]] || continue
        for _ in $(seq 600); do status_is "$f" writing || break; sleep 0.1; done
    done
}

declare -A T
timed() { # key command...
    local key=$1; shift
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    T[$key]+=" $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}
small_files() { # dir: SMALL_FILES files of 4-16 KiB, one process
    python3 - "$1" "$SMALL_FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
rng = random.Random(7)
for i in range(n):
    with open(f"{root}/f{i}", "wb") as f:
        f.write(os.urandom(rng.randint(4096, 16384)))
PY
}
OPS=(ls_cold ls_hot find_cold stat_all cat_cold cat_hot rm_rf small_create small_read)
for rep in $(seq "$REPS"); do
    for t in "${TARGETS[@]}"; do
        if [[ $t == sealed ]]; then
            d="$SEALED_GENERATION/v$rep/tree"
            cp -r "$SRC" "$d"
            mkdir "$SEALED_GENERATION/v$((rep + 1))"
            touch "$d/x" 2>/dev/null && { echo "tree-ops.sh: v$rep is not sealed" >&2; exit 1; }
        else
            d="${DEST[$t]}/tree-$rep"
            cp -r "$SRC" "$d"
        fi
        wait_packed
        drop_caches; timed "$t,ls_cold" ls -lR "$d"
        timed "$t,ls_hot" ls -lR "$d"
        drop_caches; timed "$t,find_cold" find "$d" -type f
        timed "$t,stat_all" find "$d" -type f -exec stat -c %s {} +
        drop_caches; timed "$t,cat_cold" find "$d" -type f -exec cat {} +
        timed "$t,cat_hot" find "$d" -type f -exec cat {} +
        if [[ $t == sealed ]]; then echo "  rep $rep $t done" >&2; continue; fi
        timed "$t,rm_rf" rm -rf "$d"
        timed "$t,small_create" small_files "${DEST[$t]}/small-$rep"
        drop_caches; timed "$t,small_read" find "${DEST[$t]}/small-$rep" -type f -exec cat {} +
        rm -rf "${DEST[$t]}/small-$rep"
        echo "  rep $rep $t done" >&2
    done
done

latency() { # dir -> "p50_us p99_us files_per_s"
    python3 - "$1" "$LATENCY_FILES" <<'PY'
import os, sys, time
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
data = b"x" * 4096
samples = []
start = time.perf_counter()
for i in range(n):
    t0 = time.perf_counter()
    fd = os.open(f"{root}/l{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    samples.append(time.perf_counter() - t0)
total = time.perf_counter() - start
samples.sort()
print(f"{samples[n // 2] * 1e6:.0f} {samples[int(n * 0.99)] * 1e6:.0f} {n / total:.0f}")
PY
}

echo
echo "Tree: $FILES files (swift-nio, swift-crypto, swift-certificates); small files: $SMALL_FILES of 4-16 KiB."
echo "Median of $REPS runs, seconds (ratio to bindfs)."
printf '%-14s' op; for t in "${TARGETS[@]}"; do printf '%-18s' "$t"; done; echo
for op in "${OPS[@]}"; do
    b=$(median ${T[bindfs,$op]})
    printf '%-14s' "$op"
    for t in "${TARGETS[@]}"; do
        if [[ -z ${T[$t,$op]:-} ]]; then printf '%-18s' "-"; continue; fi
        m=$(median ${T[$t,$op]})
        printf '%-18s' "$m ($(awk -v a="$m" -v b="$b" 'BEGIN { printf "%.2f", a / b }'))"
    done
    echo
done
echo
echo "ls -lR against plain (targets: at most 2 x cold, 3 x hot):"
for t in "${TARGETS[@]}"; do
    [[ $t == plain || $t == bindfs ]] && continue
    printf '  %-8s cold %s x, hot %s x\n' "$t" \
        "$(awk -v a="$(median ${T[$t,ls_cold]})" -v b="$(median ${T[plain,ls_cold]})" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$(median ${T[$t,ls_hot]})" -v b="$(median ${T[plain,ls_hot]})" 'BEGIN { printf "%.2f", a / b }')"
done
echo
echo "create+write+close of $LATENCY_FILES files of 4 KiB, one process: p50 us, p99 us, files/s"
for t in "${TARGETS[@]}"; do
    [[ $t == sealed ]] && continue
    wait_packed
    echo "  $t: $(latency "${DEST[$t]}/latency")"
done
