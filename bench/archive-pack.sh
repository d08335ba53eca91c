#!/usr/bin/env bash
# Archive packing benchmark: `codebegenfs pack` against `tar -czf` on a ~2000-file source tree
# and on one 200 MiB file of source text, measured in the same run. Prints size and time ratios.
# Usage: bench/archive-pack.sh [runs]   (needs the root command to list Pack.self)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}

swift build -c release --product codebegenfs >/dev/null
BIN="$(swift build -c release --show-bin-path)/codebegenfs"
WORK=$(mktemp -d /tmp/archive-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# ~2170 files: swift-nio, swift-nio-ssl (with vendored BoringSSL) and swift-nio-http2 sources.
TREE="$WORK/tree"
mkdir -p "$TREE"
for spec in swift-nio:2.101.2 swift-nio-ssl:2.37.6 swift-nio-http2:1.46.0; do
    repo=${spec%%:*} tag=${spec##*:}
    mkdir "$TREE/$repo"
    git -C "/opt/swift-packages/apple/$repo.git" archive "$tag" | tar -x -C "$TREE/$repo"
done

# 200 MiB of real source text: the tree's .swift/.c/.h files concatenated, repeated as needed.
BIG="$WORK/big"
mkdir -p "$BIG"
find "$TREE" -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) -print0 | sort -z | xargs -0 cat > "$WORK/corpus"
(while cat "$WORK/corpus"; do :; done) | head -c $((200 * 1024 * 1024)) > "$BIG/source-text.txt"

# One timed run: prints "wall cpu" seconds (cpu = user + sys, children included).
timed() {
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >/dev/null
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$WORK/time"
}

min() { echo "$1 $2" | awk '{print ($1 < $2) ? $1 : $2}'; }

# Runs tar -czf and pack alternately $RUNS times (the machine is shared: alternating spreads
# load changes over both), keeps the best wall and cpu time of each, prints one line.
report() {
    local label=$1 dir=$2
    shift 2
    local ours="$WORK/ours.tar.gz" theirs="$WORK/theirs.tar.gz"
    tar -cf /dev/null -C "$dir" .  # warm the page cache
    local tw=999999 tc=999999 ow=999999 oc=999999 wall cpu
    for _ in $(seq "$RUNS"); do
        read -r wall cpu < <(timed tar -czf "$theirs" -C "$dir" .)
        tw=$(min "$tw" "$wall"); tc=$(min "$tc" "$cpu")
        read -r wall cpu < <(timed "$BIN" pack "$@" "$dir" "$ours")
        ow=$(min "$ow" "$wall"); oc=$(min "$oc" "$cpu")
    done
    local st so
    st=$(stat -c %s "$theirs")
    so=$(stat -c %s "$ours")
    printf '%s (%s files)\n  tar -czf: %10d B  wall %6.2f s  cpu %6.2f s\n  pack:     %10d B  wall %6.2f s  cpu %6.2f s\n  ratio:    size x%.3f  wall x%.3f  cpu x%.3f\n' \
        "$label" "$(find "$dir" -type f | wc -l)" "$st" "$tw" "$tc" "$so" "$ow" "$oc" \
        "$(echo "$so / $st" | bc -l)" "$(echo "$ow / $tw" | bc -l)" "$(echo "$oc / $tc" | bc -l)"
}

echo "machine: $(nproc) cores, $(uname -r); runs: best of $RUNS, alternating; gzip $(gzip --version | head -1 | awk '{print $2}')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
report "tree, default (level 7, one member per file)" "$TREE"
report "tree, --compression-level 6" "$TREE" --compression-level 6
report "tree, --small-file-group-limit 32768" "$TREE" --small-file-group-limit 32768
report "200 MiB source text, default" "$BIG"
report "200 MiB source text, --compression-level 6" "$BIG" --compression-level 6
