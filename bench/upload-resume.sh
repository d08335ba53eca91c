#!/usr/bin/env bash
# Uploads of a large version through a bucket that drops connections: the one-request path
# against the resumable (TUS) path, both through a real mount and the bundled server.
#
# For each path: a fresh `serve-storage --fault-reset-rate R`, a mount with cloud storage on, a
# version holding SIZE_MB of random bytes (so the archive is that large), sealed; the time from
# sealing until status.json says uploaded, and the body bytes the server received (its access log)
# divided by the archive's size. 1.0 means nothing was sent twice.
#
# The fault rate is per request: a one-request upload is hit (and resent whole) with the same odds
# as one 6 MiB chunk, so the difference shows over several rounds (REPS) and at higher rates.
#
# Usage: bash bench/upload-resume.sh            (200 MB, reset rate 0.1, 3 rounds)
#   SIZE_MB=50 RESET_RATE=0.3 REPS=5 CBFS_BIN=.build/release/codebegenfs SKIP_BUILD=1 bash bench/upload-resume.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
SIZE_MB=${SIZE_MB:-200}
RESET_RATE=${RESET_RATE:-0.1}
CBFS_BIN=${CBFS_BIN:-.build/release/codebegenfs}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then swift build -c release --product codebegenfs 2>&1 | tail -1; fi
CBFS_BIN=$(realpath "$CBFS_BIN")

WORK=$(mktemp -d /var/tmp/codebegenfs-upload-resume.XXXXXX)
SERVER=""
cleanup() {
    set +e
    for mp in "$WORK"/mnt-*; do grep -q " $mp " /proc/self/mountinfo && fusermount3 -u -z "$mp"; done
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
head -c $((SIZE_MB * 1000000)) /dev/urandom >"$WORK/payload.bin"

# One run: label, RESUMABLE_UPLOAD_MIN_BYTES. Prints "label seconds received/size requests".
run() {
    local label=$1 threshold=$2 key="bench-key-$RANDOM$RANDOM" run_id="$1-$RANDOM$RANDOM"
    local mp="$WORK/mnt-$run_id" data="$WORK/data-$run_id" log="$WORK/server-$run_id"
    mkdir -p "$mp" "$log"
    SUPABASE_SERVICE_KEY=$key "$CBFS_BIN" serve-storage --port 0 --data "$log/objects" \
        --fault-reset-rate "$RESET_RATE" --access-log "$log/access.log" >"$log/server.log" 2>&1 &
    SERVER=$!
    local port=""
    for _ in $(seq 200); do
        port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log/server.log" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
        [[ -n $port ]] && break
        sleep 0.05
    done
    [[ -n $port ]] || { cat "$log/server.log" >&2; exit 1; }
    # WRITE_BACK_DELAY: nothing is packed before the seal, so the one upload timed is the sealed archive's.
    USE_CLOUD_STORAGE=true SUPABASE_URL="http://127.0.0.1:$port" SUPABASE_SERVICE_KEY=$key WRITE_BACK_DELAY=3600 \
        RESUMABLE_UPLOAD_MIN_BYTES=$threshold "$CBFS_BIN" mount "$mp" --foreground --data "$data" >"$WORK/mount-$run_id.log" 2>&1 &
    local mount_pid=$!
    for _ in $(seq 500); do mountpoint -q "$mp" && break; sleep 0.02; done
    local v="$mp/projects/bench/generations/g1/v1"
    mkdir -p "$v"
    cp "$WORK/payload.bin" "$v/payload.bin"
    : >"$log/access.log"
    local start end
    start=$(date +%s.%N)
    chmod a-w "$v"
    local archive="$data/archives/projects/bench/generations/g1/v1.tar.gz"
    local deadline=$((SECONDS + 1800))
    until python3 - "$v/status.json" "$start" <<'EOF'
import datetime, json, sys
u = json.load(open(sys.argv[1])).get("upload", {})
at = u.get("uploaded_at")
done = u.get("state") == "uploaded" and at and datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() >= int(float(sys.argv[2]))
sys.exit(0 if done else 1)
EOF
    do
        ((SECONDS < deadline)) || { echo "$label: not uploaded after 30 min: $(cat "$v/status.json")" >&2; exit 1; }
        sleep 0.2
    done
    end=$(date +%s.%N)
    local size
    size=$(stat -c %s "$archive")
    python3 - "$log/access.log" "$size" "$label" "$start" "$end" <<'EOF'
import json, sys
received = requests = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["method"] in ("POST", "PUT", "PATCH") and ("/upload/resumable" in e["path"] or e["path"].endswith("v1.tar.gz")):
        received += e["bytes_received"]
        requests += 1
size = int(sys.argv[2])
print(f"{sys.argv[3]:<12} {float(sys.argv[5]) - float(sys.argv[4]):8.1f} s   received/archive {received / size:6.3f}   {requests:4d} requests   archive {size / 1e6:.1f} MB")
EOF
    fusermount3 -u "$mp"
    wait "$mount_pid" || true
    rm -rf "$data" "$log/objects"
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

REPS=${REPS:-3}
echo "upload of a ${SIZE_MB} MB version, connection resets at rate $RESET_RATE, $REPS rounds (same run, same server build)"
for _ in $(seq "$REPS"); do
    run one-request 999999999999
    run resumable 6291456
done
