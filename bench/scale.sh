#!/usr/bin/env bash
# A version of N files (issue 13): N files of 100 bytes in N/1000 directories, created by one
# Python process in an open version of codebegenfs and on plain ext4, then packed, changed by one
# byte, remounted and searched. Prints, beside plain ext4 and GNU tar in the same run: files/s of
# the creates, the daemon's RSS (sampled five times a second: after creating, peak while packing, idle
# after it), packing time, archive and TOC sizes, the snapshot after a one-file change, remount
# time until the version is usable, and `find -type f` cold and hot. Then a second mount reads the
# version from a bundled server: one file cold, one directory, and `find` (bytes fetched, time, RSS).
# Last, the first mount uploads the version and clean-up leaves its content to the bucket (time, RSS).
# The plain tree and the daemon's data directory are on a fresh ext4 file system (bench_fresh_disk).
#
# Usage (root): bash bench/scale.sh [N]      (N defaults to 1000000; CI runs it with 100000 and MAX_RSS_MB=150)
# Environment: SKIP_BUILD=1 (use the existing release binary), CBFS_BIN=<binary to run>,
#   MAX_RSS_MB=<n>: exit 1 if the daemon's RSS went above n MB before the remount, the second
#   mount's while it read from the bucket, or the first's during upload and clean-up (CI: 150)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-1000000}
PER_DIR=1000
[[ $(id -u) -eq 0 ]] || { echo "scale.sh: run as root (drop_caches, FUSE mounts)" >&2; exit 1; }
(( N >= PER_DIR )) || { echo "scale.sh: N must be at least $PER_DIR" >&2; exit 1; }
if [[ -z ${CBFS_BIN:-} && ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && swift build -c release --product codebegenfs 2>&1 | tail -1)
fi
BIN=$(realpath "${CBFS_BIN:-$ROOT/.build/release/codebegenfs}")

source "$ROOT/bench/lib.sh"
bench_workdir scale
# Sized for two trees of N one-block files (plain and the daemon's blobs), the catalog and the archives.
bench_fresh_disk $((N * 12 / 1024 + 2048))
MP="$WORK/mnt-cbfs"
DATA="$DISK/data-cbfs"
VERSION_PATH=projects/bench/generations/g1/v1

start_daemon() {
    mkdir -p "$MP"
    USE_CLOUD_STORAGE=false WRITE_BACK_DELAY=1 "$BIN" mount "$MP" --foreground --data "$DATA" >>"$WORK/cbfs.log" 2>&1 &
    DAEMON=$!
    PIDS+=("$DAEMON")
}
wait_usable() { # path -> seconds until it answers in the mount
    local t0=$(now)
    for _ in $(seq 3000); do
        mountpoint -q "$MP" && [[ -e "$MP/$1" ]] && break
        sleep 0.01
    done
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
wait_status() { # status tries: until the version's status.json says it (tries of 0.1 s)
    for _ in $(seq "$2"); do
        status_is "$MP/$VERSION_PATH/status.json" "$1" && return 0
        sleep 0.1
    done
    return 1
}
wait_packed() { # until the archive holds everything
    wait_status completed 36000 || { echo "scale.sh: the version was not packed within an hour" >&2; exit 1; }
}
stop_daemon() {
    fusermount3 -u "$MP"
    wait "$DAEMON" || true
}

# RSS of the daemon, five times a second, with the phase the script is in.
echo start >"$WORK/phase"
sample_rss() {
    while kill -0 "$DAEMON" 2>/dev/null; do
        echo "$(cat "$WORK/phase") $(awk '/VmRSS/ { print $2 }' "/proc/$DAEMON/status" 2>/dev/null || echo 0)"
        sleep 0.2
    done >>"$WORK/rss"
}
phase() { echo "$1" >"$WORK/phase"; }
peak_mb() { awk -v p="$1" '$1 == p && $2 > m { m = $2 } END { printf "%.0f", m / 1024 }' "$WORK/rss"; }
last_mb() { awk -v p="$1" '$1 == p { m = $2 } END { printf "%.0f", m / 1024 }' "$WORK/rss"; }

create_tree() { # root -> files/s
    python3 - "$1" "$N" "$PER_DIR" <<'PY'
import os, sys, time
root, n, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = b"x" * 99 + b"\n"
start = time.perf_counter()
tenth, marks = max(n // 10, 1), []
last = start
for d in range(n // per_dir):
    directory = f"{root}/d{d:04d}"
    os.makedirs(directory, exist_ok=True)
    for i in range(per_dir):
        fd = os.open(f"{directory}/f{i:04d}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        done = d * per_dir + i + 1
        if done % tenth == 0:
            now = time.perf_counter()
            marks.append(f"{tenth / (now - last):.0f}")
            last = now
print(f"{n / (time.perf_counter() - start):.0f} {'/'.join(marks)}")
PY
}
timed() { local t0=$(now); "$@" >/dev/null; awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
peak_all_mb() { awk '$2 > m { m = $2 } END { printf "%.0f", m / 1024 }' "$WORK/rss"; }
snapshot_seconds() { # the last snapshot's packing time, from the daemon's log
    grep -o 'entries, [0-9]* bytes in [0-9.]* seconds' "$WORK/cbfs.log" | tail -1 | awk '{ printf "%.2f", $5 }'
}

echo "$N files of 100 bytes in $((N / PER_DIR)) directories, codebegenfs $BIN" >&2
start_daemon
sample_rss &
wait_usable projects >/dev/null
mkdir -p "$MP/$VERSION_PATH"
TREE="$MP/$VERSION_PATH/tree"
PLAIN="$DISK/plain/tree"

read -r CREATE_PLAIN TENTHS_PLAIN <<<"$(create_tree "$PLAIN")"  # first: the daemon's packing would compete with it
sync  # plain ext4's writeback would otherwise run during (and be charged to) codebegenfs's creates
phase create
read -r CREATE_CBFS TENTHS_CBFS <<<"$(create_tree "$TREE")"
phase create-done
sleep 1
RSS_CREATED=$(last_mb create-done)

phase pack
wait_packed
PACK_SECONDS=$(snapshot_seconds)
phase idle
sleep 5
ARCHIVE="$DATA/archives/$VERSION_PATH.tar.gz"
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
TOC_BYTES=$(stat -c %s "$DATA/archives/$VERSION_PATH.toc.json")
TAR_WARM=$(timed tar -czf "$WORK/plain.tar.gz" -C "$DISK/plain" tree)
TAR_BYTES=$(stat -c %s "$WORK/plain.tar.gz")
drop_caches
TAR_COLD=$(timed tar -czf "$WORK/plain.tar.gz" -C "$DISK/plain" tree)

phase change
echo x >>"$TREE/d0000/f0000"
wait_status writing 50 || true  # the close reaches the daemon after echo returns
wait_packed
CHANGE_SECONDS=$(snapshot_seconds)
phase changed-idle
sleep 3
CHANGE_BYTES=$(grep -o 'compressed [0-9]* bytes, copied [0-9]* compressed bytes' "$WORK/cbfs.log" | tail -1 | awk '{ print $2 " / " $5 }')

phase find
drop_caches
FIND_CBFS_COLD=$(timed find "$TREE" -type f)
FIND_CBFS_HOT=$(timed find "$TREE" -type f)
drop_caches
FIND_PLAIN_COLD=$(timed find "$PLAIN" -type f)
FIND_PLAIN_HOT=$(timed find "$PLAIN" -type f)
phase find-done
sleep 2

stop_daemon
start_daemon
REMOUNT_SECONDS=$(wait_usable "$VERSION_PATH/status.json")
sleep 1.5
REMOUNT_RSS=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$DAEMON/status")

stop_daemon

# The same version read from the bucket by a second mount on a fresh data directory: the archive
# and TOC go to a bundled server (its service key passes through a file and the environment only),
# then one file is read cold, one directory listed, and the whole version searched.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$WORK" && exec env -u SUPABASE_SERVICE_KEY "$BIN" serve-storage --port "$PORT" --data "$WORK/server" \
    --access-log "$WORK/access.log" >"$WORK/server.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 300); do [[ -s $WORK/server/service_key ]] && break; sleep 0.05; done
SERVICE_KEY=$(tr -d '\n' <"$WORK/server/service_key")
(umask 077 && printf 'header = "Authorization: Bearer %s"\n' "$SERVICE_KEY" >"$WORK/curl-auth.conf")
URL="http://127.0.0.1:$PORT"
for _ in $(seq 300); do curl -sf -K "$WORK/curl-auth.conf" "$URL/storage/v1/bucket" >/dev/null 2>&1 && break; sleep 0.05; done
REMOTE_VERSION=projects/remote/generations/g1/v1
for suffix in tar.gz toc.json; do
    curl -sf -K "$WORK/curl-auth.conf" -H "Content-Type: application/octet-stream" -T "$DATA/archives/$VERSION_PATH.$suffix" \
        "$URL/storage/v1/object/codebegen-projects/$REMOTE_VERSION.$suffix" -o /dev/null
done
MP_REMOTE="$WORK/mnt-remote"
mkdir -p "$MP_REMOTE"
(cd "$WORK" && exec env USE_CLOUD_STORAGE=true SUPABASE_URL="$URL" SUPABASE_SERVICE_KEY="$SERVICE_KEY" \
    "$BIN" mount "$MP_REMOTE" --foreground --data "$WORK/data-remote" >>"$WORK/remote.log" 2>&1) &
REMOTE_DAEMON=$!
PIDS+=("$REMOTE_DAEMON")
for _ in $(seq 3000); do [[ -e $MP_REMOTE/$REMOTE_VERSION ]] && break; sleep 0.01; done
rss_of() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
sent_since() { # access-log line -> bytes the server sent in GETs after it
    tail -n +"$(($1 + 1))" "$WORK/access.log" |
        awk -F'"bytes_sent":' '/"method":"GET"/ { split($2, a, ","); s += a[1] } END { print s + 0 }'
}
REMOTE_FILE="$MP_REMOTE/$REMOTE_VERSION/tree/d$(printf %04d $((N / PER_DIR / 2)))/f0500"
REMOTE_DIR=$(dirname "$REMOTE_FILE")
drop_caches
REMOTE_READ_SECONDS=$(timed cat "$REMOTE_FILE")
REMOTE_READ_BYTES=$(sent_since 0)  # discovery (the TOC's tail) included
REMOTE_READ_RSS=$(rss_of "$REMOTE_DAEMON")
LOG_LINES=$(wc -l <"$WORK/access.log")
REMOTE_LS_SECONDS=$(timed ls "$REMOTE_DIR")
REMOTE_LS_BYTES=$(sent_since "$LOG_LINES")
LOG_LINES=$(wc -l <"$WORK/access.log")
( peak=0; while kill -0 "$REMOTE_DAEMON" 2>/dev/null; do r=$(rss_of "$REMOTE_DAEMON"); (( r > peak )) && peak=$r; echo "$peak" >"$WORK/remote-peak"; sleep 0.2; done ) &
REMOTE_FIND_SECONDS=$(timed find "$MP_REMOTE/$REMOTE_VERSION/tree" -type f)
REMOTE_FIND_BYTES=$(sent_since "$LOG_LINES")
sleep 0.5
REMOTE_FIND_RSS=$(cat "$WORK/remote-peak")
fusermount3 -u "$MP_REMOTE"
wait "$REMOTE_DAEMON" || true

# The first mount again, now with the bucket: it uploads its version and, with CACHE_TTL_HOURS=0,
# clean-up then leaves the content to the bucket (checking every file against the TOC first).
(cd "$WORK" && exec env USE_CLOUD_STORAGE=true SUPABASE_URL="$URL" SUPABASE_SERVICE_KEY="$SERVICE_KEY" CACHE_TTL_HOURS=0 \
    "$BIN" mount "$MP" --foreground --data "$DATA" >>"$WORK/cbfs.log" 2>&1) &
DAEMON=$!
PIDS+=("$DAEMON")
T0=$(now)
( peak=0; while kill -0 "$DAEMON" 2>/dev/null; do r=$(rss_of "$DAEMON" 2>/dev/null || echo 0); (( r > peak )) && peak=$r; echo "$peak" >"$WORK/cleanup-peak"; sleep 0.2; done ) &
for _ in $(seq 18000); do grep -q '"local_copy" *: *false' "$MP/$VERSION_PATH/status.json" 2>/dev/null && break; sleep 0.2; done
grep -q '"local_copy" *: *false' "$MP/$VERSION_PATH/status.json" || { echo "scale.sh: clean-up did not remove the local copy within an hour" >&2; exit 1; }
CLEANUP_SECONDS=$(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
sleep 1
CLEANUP_RSS=$(cat "$WORK/cleanup-peak")
CLEANED_READ=$(cmp -s "$TREE/d0000/f0001" "$PLAIN/d0000/f0001" && echo same || echo DIFFERENT)
stop_daemon

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
cat <<EOF

| $N files of 100 bytes | codebegenfs | plain ext4 / GNU tar | ratio |
|---|---|---|---|
| create, one process (files/s) | $CREATE_CBFS | $CREATE_PLAIN | $(ratio "$CREATE_CBFS" "$CREATE_PLAIN") |
| the same per tenth of the files | $TENTHS_CBFS | $TENTHS_PLAIN | |
| daemon RSS after creating (MB) | $RSS_CREATED | — | |
| daemon RSS while packing, peak (MB) | $(peak_mb pack) | — | |
| daemon RSS idle after packing (MB) | $(last_mb idle) | — | |
| packing the snapshot (s) | $PACK_SECONDS | tar -czf warm $TAR_WARM, cold $TAR_COLD | $(ratio "$PACK_SECONDS" "$TAR_WARM") × warm |
| archive (bytes) | $ARCHIVE_BYTES | tar -czf $TAR_BYTES | $(ratio "$ARCHIVE_BYTES" "$TAR_BYTES") |
| TOC (bytes; per entry) | $TOC_BYTES; $((TOC_BYTES / (N + N / PER_DIR))) | — | |
| one-file change, next snapshot (s) | $CHANGE_SECONDS | — | $(ratio "$CHANGE_SECONDS" "$PACK_SECONDS") × full |
| one-file change: bytes compressed / compressed bytes copied | $CHANGE_BYTES | — | |
| daemon RSS around it, peak (MB) | $(peak_mb change) | — | |
| daemon RSS during find, peak (MB) | $(peak_mb find) | — | |
| daemon RSS, peak over the run before remount (MB) | $(peak_all_mb) | — | |
| remount until usable (s); RSS then (MB) | $REMOUNT_SECONDS; $REMOUNT_RSS | — | |
| find -type f cold (s) | $FIND_CBFS_COLD | $FIND_PLAIN_COLD | $(ratio "$FIND_CBFS_COLD" "$FIND_PLAIN_COLD") |
| find -type f hot (s) | $FIND_CBFS_HOT | $FIND_PLAIN_HOT | $(ratio "$FIND_CBFS_HOT" "$FIND_PLAIN_HOT") |
| from the bucket, second mount: cat one file cold (s; bytes fetched, TOC tail included; RSS MB) | $REMOTE_READ_SECONDS; $REMOTE_READ_BYTES; $REMOTE_READ_RSS | — | |
| from the bucket: ls of its directory (s; bytes fetched) | $REMOTE_LS_SECONDS; $REMOTE_LS_BYTES | — | |
| from the bucket: find -type f of the whole version (s; bytes fetched; RSS peak MB) | $REMOTE_FIND_SECONDS; $REMOTE_FIND_BYTES; $REMOTE_FIND_RSS | — | |
| first mount with the bucket: upload, then clean-up of the local copy (s from mount; RSS peak MB; a file read back) | $CLEANUP_SECONDS; $CLEANUP_RSS; $CLEANED_READ | — | |
EOF

if [[ -n ${MAX_RSS_MB:-} ]]; then
    PEAK=$(peak_all_mb)
    for other in "$REMOTE_FIND_RSS" "$CLEANUP_RSS"; do (( other > PEAK )) && PEAK=$other; done
    if (( PEAK > MAX_RSS_MB )); then
        echo "scale.sh: the daemon's RSS reached $PEAK MB, over MAX_RSS_MB=$MAX_RSS_MB" >&2
        exit 1
    fi
    echo "daemon RSS peak $PEAK MB: within MAX_RSS_MB=$MAX_RSS_MB"
fi
