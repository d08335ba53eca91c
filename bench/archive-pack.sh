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
(while :; do cat "$WORK/corpus"; done) | head -c $((200 * 1024 * 1024)) > "$BIG/source-text.txt" || true

now() { date +%s.%N; }

# Best of $RUNS wall-clock seconds for a command; prints "seconds".
best_time() {
    local best="" start end elapsed
    for _ in $(seq "$RUNS"); do
        start=$(now); "$@" >/dev/null; end=$(now)
        elapsed=$(echo "$end - $start" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$elapsed < $best" | bc -l)" = 1 ]; then best=$elapsed; fi
    done
    echo "$best"
}

report() {
    local label=$1 dir=$2 extra=${3:-}
    local ours="$WORK/ours.tar.gz" theirs="$WORK/theirs.tar.gz"
    # Warm the page cache so both sides read from memory.
    tar -cf /dev/null -C "$dir" .
    local t_tar t_ours
    t_tar=$(best_time tar -czf "$theirs" -C "$dir" .)
    # shellcheck disable=SC2086
    t_ours=$(best_time "$BIN" pack $extra "$dir" "$ours")
    local s_tar s_ours
    s_tar=$(stat -c %s "$theirs")
    s_ours=$(stat -c %s "$ours")
    printf '%-28s files=%-5s tar -czf: %10d B %6.2f s | pack: %10d B %6.2f s | size x%.3f time x%.3f\n' \
        "$label" "$(find "$dir" -type f | wc -l)" "$s_tar" "$t_tar" "$s_ours" "$t_ours" \
        "$(echo "$s_ours / $s_tar" | bc -l)" "$(echo "$t_ours / $t_tar" | bc -l)"
}

echo "machine: $(nproc) cores, $(uname -r); runs: best of $RUNS; gzip $(gzip --version | head -1 | awk '{print $2}')"
report "tree (one member per file)" "$TREE"
report "tree (--small-file-group-limit 32768)" "$TREE" "--small-file-group-limit 32768"
report "200 MiB source text" "$BIG"
