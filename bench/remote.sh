#!/usr/bin/env bash
# Uploads and remote reads (issue 5), against the bundled server over loopback.
#
# (a) Upload time: `cp -r` of a ~2000-file, ~20 MB source tree into an open version, then the time
#     from the end of the copy until its status.json says "state": "uploaded" (polled every 50 ms).
#     It includes the WRITE_BACK_DELAY quiet period the mount waits for before packing (1 s here
#     unless WRITE_BACK_DELAY is set; 0 measures the pipeline alone: packing starts at the last close).
#     Baseline in the same run: `tar -czf` of the same tree plus one `curl -T` of the result to the
#     same server. Median of REPS runs; target: mount / baseline <= 1.5.
# (b) Cold read: a ~50 MB version (20 files of 2.5 MB from /dev/urandom and a 10 KB small.txt) is
#     uploaded, then made remote-only, the page cache is dropped, and `cat small.txt` is timed; the
#     server's access log gives the requests and body bytes it caused. Target: < 64 KB moved.
#     COLD_READ_MODE=local-copy (default): mount A is remounted (same data dir) with CACHE_TTL_HOURS=0
#       after (a), and the script waits (60 s) for the version's status.json to say "local_copy": false
#       (clean-up removes local copies of uploaded versions).
#     COLD_READ_MODE=second-mount: a second mount B on a fresh data dir and the same server must show
#       v1 (sealed, listed from the bucket); small.txt is read through B.
#
# Usage (as root): bash bench/remote.sh
# Environment: REPS=3  WRITE_BACK_DELAY=1  COLD_READ_MODE=local-copy|second-mount  SKIP_BUILD=1  CODEBEGENFS_BIN=<release binary>
#   BENCH_DIR=<work dir, default a new dir in /var/tmp>  KEEP=1 (keep it)  PARTS="a b" (a subset runs only those)
# The service key is read from the server's data dir and passed to the mount in its environment and to
# curl in a config file: it never appears on a command line.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DELAY=${WRITE_BACK_DELAY:-1}
REPS=${REPS:-3}
COLD_READ_MODE=${COLD_READ_MODE:-local-copy}
PARTS=${PARTS:-a b}
SWIFT_PACKAGES=${SWIFT_PACKAGES:-/opt/swift-packages/apple}
BUCKET=codebegen-projects
TREE_FILES=2000
TREE_BYTES=20000000

say() { echo "remote.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (drop_caches, FUSE mounts, apt-get)"
[[ $COLD_READ_MODE == local-copy || $COLD_READ_MODE == second-mount ]] ||
    die "COLD_READ_MODE must be local-copy or second-mount, not $COLD_READ_MODE"

# --- tools and build ---------------------------------------------------------------------------
missing=()
for tool in jq curl python3 fusermount3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    packages=("${missing[@]/python3/python3-minimal}")
    packages=("${packages[@]/fusermount3/fuse3}")
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
if [[ -n ${CODEBEGENFS_BIN:-} ]]; then
    BIN=$CODEBEGENFS_BIN
else
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then (cd "$ROOT" && swift build -c release --product codebegenfs 2>&1 | tail -3); fi
    BIN="$ROOT/.build/release/codebegenfs"
fi
[[ -x $BIN ]] || die "$BIN was not built"

# --- work dir and clean-up ---------------------------------------------------------------------
WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/codebegenfs-remote.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
SERVER_PID="" MOUNT_A_PID="" MOUNT_B_PID=""
MNT_A="$WORK/mnt-a" MNT_B="$WORK/mnt-b"
cleanup() {
    set +e
    for mp in "$MNT_B" "$MNT_A"; do
        if grep -q " $mp " /proc/self/mountinfo 2>/dev/null; then fusermount3 -u "$mp" 2>/dev/null || fusermount3 -u -z "$mp"; fi
    done
    for pid in "$MOUNT_B_PID" "$MOUNT_A_PID" "$SERVER_PID"; do
        [[ -n $pid ]] || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

wait_mounted() { # mountpoint log
    for _ in $(seq 1 1000); do
        if awk -v mp="$1" '$5 == mp { for (i = 6; i <= NF; i++) if ($i == "-") { if ($(i+1) == "fuse.codebegenfs") found = 1; break } } END { exit !found }' /proc/self/mountinfo; then
            return 0
        fi
        sleep 0.02
    done
    tail -20 "$2" >&2
    die "$1 did not mount"
}

# --- server ------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ACCESS_LOG="$WORK/access.log"
(cd "$WORK" && exec env -u SUPABASE_SERVICE_KEY -u STORAGE_JWT_SECRET "$BIN" serve-storage --port "$PORT" \
    --data "$WORK/server" --access-log "$ACCESS_LOG" >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 300); do [[ -s $WORK/server/service_key ]] && break; sleep 0.05; done
[[ -s $WORK/server/service_key ]] || { cat "$WORK/server.log" >&2; die "the server did not start"; }
SERVICE_KEY=$(tr -d '\n' <"$WORK/server/service_key")
CURL_AUTH="$WORK/curl-auth.conf"
(umask 077 && printf 'header = "Authorization: Bearer %s"\n' "$SERVICE_KEY" >"$CURL_AUTH")
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
    curl -sf -K "$CURL_AUTH" "$URL/storage/v1/bucket/$BUCKET" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -sf -K "$CURL_AUTH" "$URL/storage/v1/bucket/$BUCKET" >/dev/null || { cat "$WORK/server.log" >&2; die "the server does not answer on $URL"; }

# mount <mountpoint> <data dir> <log> [VAR=value ...]: the key goes through the environment only.
mount_fs() {
    local mp=$1 data=$2 log=$3
    shift 3
    mkdir -p "$mp"
    (cd "$WORK" && exec env USE_CLOUD_STORAGE=true SUPABASE_URL="$URL" SUPABASE_SERVICE_KEY="$SERVICE_KEY" \
        SUPABASE_BUCKET="$BUCKET" WRITE_BACK_DELAY="$DELAY" "$@" "$BIN" mount "$mp" --foreground --data "$data" \
        >>"$log" 2>&1) &
    MOUNTED_PID=$!
    wait_mounted "$mp" "$log"
}
# unmount_a: a clean unmount of A, waiting for its daemon to exit.
unmount_a() {
    fusermount3 -u "$MNT_A"
    for _ in $(seq 1 300); do kill -0 "$MOUNT_A_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$MOUNT_A_PID" 2>/dev/null || true
    MOUNT_A_PID=""
}
# (a) runs with the default clean-up, so that removing earlier copies does not compete with packing.
# (b) in local-copy mode needs CACHE_TTL_HOURS=0: A is then (re)mounted on the same data dir with it.
COLD_ENV=()
if [[ $COLD_READ_MODE == local-copy ]]; then COLD_ENV=(CACHE_TTL_HOURS=0); fi
if [[ " $PARTS " == *" a "* ]]; then
    mount_fs "$MNT_A" "$WORK/data-a" "$WORK/mount-a.log"
else
    mount_fs "$MNT_A" "$WORK/data-a" "$WORK/mount-a.log" "${COLD_ENV[@]}"
fi
MOUNT_A_PID=$MOUNTED_PID

# upload_state <mountpoint> <version path>; local_copy likewise
upload_state() { jq -r '.upload.state // empty' "$1/$2/status.json" 2>/dev/null || true; }
local_copy() { jq -r 'if has("local_copy") then .local_copy | tostring else "absent" end' "$1/$2/status.json" 2>/dev/null || true; }

# snapshot_entries <version path>: entries of the version's latest snapshot, from the mount log line
# "snapshot <data>/archives/<version path>.tar.gz: N entries, B bytes in S seconds".
snapshot_entries() {
    { grep -F "archives/$1.tar.gz: " "$WORK/mount-a.log" || true; } | tail -1 | sed -n 's/.*: \([0-9]*\) entries,.*/\1/p'
}

# wait_uploaded <version path> <timeout s> <entries>: polls every 50 ms until the version is "uploaded"
# and its latest snapshot holds at least <entries> entries (an earlier snapshot of a partly written
# version is uploaded too, and its "uploaded" must not count); prints the end time.
wait_uploaded() {
    local deadline state entries
    deadline=$(awk -v t="$(now)" -v d="$2" 'BEGIN { printf "%.0f", t + d }')
    while :; do
        state=$(upload_state "$MNT_A" "$1")
        if [[ $state == uploaded ]]; then
            entries=$(snapshot_entries "$1")
            if ((${entries:-0} >= $3)); then now; return 0; fi
        fi
        if [[ $state == failed || $state == conflict ]]; then
            jq -c .upload "$MNT_A/$1/status.json" >&2
            die "$1: upload $state"
        fi
        (($(date +%s) < deadline)) || die "$1 not uploaded within $2 s (state: ${state:-none}, snapshot entries: ${entries:-?} of $3)"
        sleep 0.05
    done
}

# log_since <byte offset>: "<requests> <bytes_sent> <bytes_received>" of the access log after the offset.
log_since() {
    tail -c +"$(($1 + 1))" "$ACCESS_LOG" | jq -s -r '[length, (map(.bytes_sent) | add // 0), (map(.bytes_received) | add // 0)] | @tsv'
}

# --- (a) upload time ---------------------------------------------------------------------------
A_DONE=0
if [[ " $PARTS " == *" a "* ]]; then
    SRC="$WORK/src"
    mkdir -p "$SRC"
    for spec in swift-nio:2.101.2 swift-certificates:1.21.1 swift-argument-parser:1.8.2 swift-log:1.16.2 \
        swift-system:1.8.1; do
        name=${spec%%:*}
        mkdir -p "$SRC/$name"
        git -C "$SWIFT_PACKAGES/$name.git" archive "${spec#*:}" | tar -x -C "$SRC/$name"
    done
    # Top up with source text: small files to TREE_FILES files, then one file to TREE_BYTES bytes.
    find "$SRC" -name '*.swift' -type f -print0 | sort -z | xargs -0 cat >"$WORK/corpus.txt"
    mkdir -p "$SRC/topup"
    have=$(find "$SRC" -type f | wc -l)
    for i in $(seq 1 $((TREE_FILES - have - 1))); do
        dd if="$WORK/corpus.txt" of="$SRC/topup/part-$i.swift" bs=4096 skip="$i" count=1 status=none
    done
    have_bytes=$(du -sb --apparent-size "$SRC" | cut -f1)
    if ((have_bytes < TREE_BYTES)); then
        while (($(stat -c %s "$WORK/corpus.txt") < TREE_BYTES)); do cat "$WORK/corpus.txt" "$WORK/corpus.txt" >"$WORK/c2" && mv "$WORK/c2" "$WORK/corpus.txt"; done
        tail -c $((TREE_BYTES - have_bytes)) "$WORK/corpus.txt" >"$SRC/topup/all-sources.swift"
    fi
    FILES=$(find "$SRC" -type f | wc -l)
    BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
    ENTRIES=$(find "$SRC" -mindepth 1 | wc -l)
    say "tree: $FILES files, $BYTES bytes"

    mount_times=() base_times=() tar_times=() put_times=() archive_sizes=() base_sizes=() pack_times=()
    for rep in $(seq 1 "$REPS"); do
        version="projects/p1/generations/g$rep/v1"
        mkdir -p "$MNT_A/${version%/v1}"
        sync
        cp -r "$SRC" "$MNT_A/$version" # creates v1: no quiet empty version is packed before the copy
        t0=$(now)
        t1=$(wait_uploaded "$version" 600 "$ENTRIES")
        mount_times+=("$(elapsed "$t0" "$t1")")
        archive_sizes+=("$(jq -r '.archive_bytes // .upload.bytes_total // 0' "$MNT_A/$version/status.json")")
        # The mount logs "snapshot <archive>: N entries, B bytes in S seconds" for each pack.
        pack_times+=("$({ grep -F "archives/$version.tar.gz: " "$WORK/mount-a.log" || true; } | tail -1 |
            sed -n 's/.* in \([0-9.]*\) seconds.*/\1/p' | awk '{ printf "%.3f", $1 }')")

        sync
        t0=$(now)
        tar -czf "$WORK/baseline.tar.gz" -C "$SRC" .
        t1=$(now)
        curl -sS -f -K "$CURL_AUTH" -H "Content-Type: application/gzip" -T "$WORK/baseline.tar.gz" \
            "$URL/storage/v1/object/$BUCKET/bench/baseline-$rep.tar.gz" -o /dev/null
        t2=$(now)
        tar_times+=("$(elapsed "$t0" "$t1")")
        put_times+=("$(elapsed "$t1" "$t2")")
        base_times+=("$(elapsed "$t0" "$t2")")
        base_sizes+=("$(stat -c %s "$WORK/baseline.tar.gz")")
        say "rep $rep: mount ${mount_times[-1]} s (packing ${pack_times[-1]:-?} s, archive ${archive_sizes[-1]} B); tar -czf ${tar_times[-1]} s + curl -T ${put_times[-1]} s = ${base_times[-1]} s (${base_sizes[-1]} B)"
    done
    A_MOUNT=$(median "${mount_times[@]}")
    A_BASE=$(median "${base_times[@]}")
    A_TAR=$(median "${tar_times[@]}")
    A_PUT=$(median "${put_times[@]}")
    A_PACK=$(median "${pack_times[@]:-0}")
    A_DONE=1
fi

print_a() {
    ((A_DONE)) || return 0
    echo
    echo "(a) Upload time: $FILES files, $BYTES bytes; median of $REPS runs, seconds"
    echo
    echo "| measurement | seconds |"
    echo "|---|---|"
    echo "| mount: end of cp -r → \"uploaded\" (includes WRITE_BACK_DELAY=$DELAY) | $A_MOUNT |"
    echo "| of which packing the archive (mount log) | $A_PACK |"
    echo "| baseline: tar -czf ($A_TAR) + curl -T ($A_PUT) | $A_BASE |"
    echo "| ratio mount / baseline (target ≤ 1.5) | $(ratio "$A_MOUNT" "$A_BASE") |"
    echo "| ratio without the $DELAY s write-back delay | $(ratio "$(awk -v m="$A_MOUNT" -v d="$DELAY" 'BEGIN { print m - d }')" "$A_BASE") |"
    echo
    echo "runs: mount ${mount_times[*]}; baseline ${base_times[*]}; archive ${archive_sizes[*]} B vs tar.gz ${base_sizes[*]} B"
}

echo
echo "codebegenfs remote benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), load average:$(uptime | sed 's/.*load average://')"
print_a


# --- (b) cold read -----------------------------------------------------------------------------
B_STATUS="not run"
cold_read() {
    local version="projects/p1/generations/gcold/v1" reader state copy deadline
    local src="$WORK/cold-src"
    mkdir -p "$src"
    for i in $(seq -w 1 20); do head -c 2621440 /dev/urandom >"$src/random-$i.bin"; done
    dd if="$WORK/corpus.txt" of="$src/small.txt" bs=10240 count=1 status=none
    if (($(stat -c %s "$src/small.txt") < 10240)); then
        for i in $(seq 1 256); do printf 'line %04d of the small text file for the cold read\n' "$i"; done >"$src/small.txt"
        truncate -s 10240 "$src/small.txt"
    fi
    mkdir -p "$MNT_A/${version%/v1}"
    cp -r "$src" "$MNT_A/$version"
    wait_uploaded "$version" 600 21 >/dev/null
    B_ARCHIVE=$(jq -r '.archive_bytes // .upload.bytes_total // 0' "$MNT_A/$version/status.json")

    if [[ $COLD_READ_MODE == local-copy ]]; then
        reader=$MNT_A
        deadline=$(($(date +%s) + 60))
        while copy=$(local_copy "$MNT_A" "$version"); [[ $copy != false ]]; do
            if (($(date +%s) >= deadline)); then
                B_STATUS="TIMED OUT: $version still has local_copy=$copy 60 s after upload (the mount does not yet remove local copies of uploaded versions with CACHE_TTL_HOURS=0)"
                return 0
            fi
            sleep 0.2
        done
    else
        mount_fs "$MNT_B" "$WORK/data-b" "$WORK/mount-b.log"
        MOUNT_B_PID=$MOUNTED_PID
        reader=$MNT_B
        deadline=$(($(date +%s) + 60))
        while ! [[ -e $MNT_B/$version/small.txt ]]; do
            if (($(date +%s) >= deadline)); then
                B_STATUS="TIMED OUT: mount B does not show $version/small.txt 60 s after A uploaded it (listing the bucket is not implemented yet)"
                return 0
            fi
            ls "$MNT_B/projects/p1/generations/gcold" >/dev/null 2>&1 || true
            sleep 0.5
        done
        state=$(jq -r '.sealed' "$MNT_B/$version/status.json" 2>/dev/null || echo "?")
        [[ $state == true ]] || say "warning: v1 in mount B is not sealed (sealed: $state)"
    fi

    sync
    echo 3 >/proc/sys/vm/drop_caches
    sleep 0.5 # let background requests (listing, clean-up) settle before the window opens
    local offset t0 t1
    offset=$(stat -c %s "$ACCESS_LOG")
    t0=$(now)
    if ! cat "$reader/$version/small.txt" >"$WORK/small.out"; then
        B_STATUS="FAILED: cat of small.txt failed (mount log: $WORK/mount-*.log)"
        return 0
    fi
    t1=$(now)
    sleep 0.3 # a line is appended just after its response is written
    read -r B_REQUESTS B_SENT B_RECEIVED <<<"$(log_since "$offset")"
    B_TIME=$(elapsed "$t0" "$t1")
    if cmp -s "$WORK/small.out" "$src/small.txt"; then B_SAME=identical; else B_SAME=DIFFERENT; fi
    B_STATUS=done
    tail -c +"$((offset + 1))" "$ACCESS_LOG" >"$WORK/cold-read-requests.jsonl"
}
if [[ " $PARTS " == *" b "* ]]; then
    [[ -e $WORK/corpus.txt ]] || : >"$WORK/corpus.txt"
    if [[ " $PARTS " == *" a "* && ${#COLD_ENV[@]} -gt 0 ]]; then
        unmount_a
        mount_fs "$MNT_A" "$WORK/data-a" "$WORK/mount-a.log" "${COLD_ENV[@]}"
        MOUNT_A_PID=$MOUNTED_PID
    fi
    cold_read
    echo
    echo "(b) Cold read of a 10 KB file from a ~50 MB remote version (mode: $COLD_READ_MODE)"
    if [[ $B_STATUS == done ]]; then
        echo
        echo "| measurement | value |"
        echo "|---|---|"
        echo "| archive size | $B_ARCHIVE B |"
        echo "| cat small.txt | $B_TIME s, content $B_SAME |"
        echo "| requests to the server during the cat | $B_REQUESTS |"
        echo "| body bytes sent by the server (target < 65536) | $B_SENT |"
        echo
        jq -c '{method, path, range, status, bytes_sent}' "$WORK/cold-read-requests.jsonl" 2>/dev/null || true
        if ((B_REQUESTS == 0)); then
            echo "cold read: no request reached the server, so the file was served locally: not a remote read"
        elif [[ $B_SAME != identical ]] || ((B_SENT >= 65536)); then
            echo "cold read target: NOT met"
        else
            echo "cold read target: met"
        fi
    else
        echo "$B_STATUS"
    fi
fi
[[ " $PARTS " != *" b "* || $B_STATUS == done ]] || exit 3
[[ " $PARTS " != *" b "* || $B_REQUESTS -gt 0 ]] || exit 3
