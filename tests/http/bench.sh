#!/usr/bin/env bash
# Storage HTTP access vs nginx (sendfile on, tcp_nopush on, access log off),
# both serving the same 16 KiB and 1 MiB files from the same store path,
# measured with wrk at the same threads/connections/duration.
#
#   tests/http/bench.sh                 # builds target/release/ferrodfs if needed
#   FERRODFS_BIN=/path/ferrodfs CONNS=64 THREADS=2 DURATION=10s tests/http/bench.sh
#
# Needs: nginx, wrk (Debian: apt-get install -y nginx wrk), python3.
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN=${FERRODFS_BIN:-${CARGO_TARGET_DIR:-target}/release/ferrodfs}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
FERRO_PORT=${FERRO_PORT:-18888}
NGINX_PORT=${NGINX_PORT:-18889}

for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing (apt-get install -y nginx wrk)" >&2; exit 1; }
done
if [ ! -x "$BIN" ]; then
    cargo build --release -p ferrodfs
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

store="$work/store"
mkdir -p "$store/data/00/00" "$work/base" "$work/nginx/logs"

# FastDFS names: base64 (-_ alphabet) of source IP, time, size, CRC, then
# the 7-character extension segment.
name_for() {
    python3 - "$1" <<'PY'
import base64, struct, sys, time, random
size = int(sys.argv[1])
raw = bytes([127, 0, 0, 1]) + struct.pack(">IQI", int(time.time()),
    ((0x80000000 | random.getrandbits(23)) << 32) | size, random.getrandbits(32))
print(base64.urlsafe_b64encode(raw).decode().rstrip("=") + "%03d.bin" % random.randrange(1000))
PY
}
small=$(name_for 16384)
large=$(name_for 1048576)
head -c 16384 /dev/urandom >"$store/data/00/00/$small"
head -c 1048576 /dev/urandom >"$store/data/00/00/$large"
# nginx workers run as an unprivileged user when started as root.
chmod -R a+rX "$work"

cat >"$work/storage.toml" <<CONF
group_name = "group1"
bind = "127.0.0.1"
port = 0
http_port = $FERRO_PORT
base_path = "$work/base"
store_paths = ["$store"]
cluster_secret = "$("$BIN" secret)"
CONF
RUST_LOG=warn "$BIN" storage -c "$work/storage.toml" &
pids+=($!)

cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /group1/M00/ { alias $store/data/; }
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

wait_for() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" 2>/dev/null && return 0
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench.sh: $1 never answered" >&2
    exit 1
}
wait_for "http://127.0.0.1:$FERRO_PORT/group1/M00/00/00/$small"
wait_for "http://127.0.0.1:$NGINX_PORT/group1/M00/00/00/$small"

# Prints "requests/s transfer/s p99" for one wrk run.
measure() {
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1" | awk '
        /Requests\/sec:/ { rps = $2 }
        /Transfer\/sec:/ { tps = $2 }
        $1 == "99%" { p99 = $2 }
        END { print rps, tps, p99 }'
}

printf 'wrk -t%s -c%s -d%s, %s core(s)\n' "$THREADS" "$CONNS" "$DURATION" "$(nproc)"
printf '%-6s %-9s %12s %12s %10s\n' size server requests/s transfer/s p99
for pair in "16KiB:$small" "1MiB:$large"; do
    label=${pair%%:*}
    name=${pair#*:}
    read -r f_rps f_tps f_p99 < <(measure "http://127.0.0.1:$FERRO_PORT/group1/M00/00/00/$name")
    read -r n_rps n_tps n_p99 < <(measure "http://127.0.0.1:$NGINX_PORT/group1/M00/00/00/$name")
    printf '%-6s %-9s %12s %12s %10s\n' "$label" ferrodfs "$f_rps" "$f_tps" "$f_p99"
    printf '%-6s %-9s %12s %12s %10s\n' "$label" nginx "$n_rps" "$n_tps" "$n_p99"
    python3 -c "import sys; print('%-6s ferrodfs/nginx requests/s ratio: %.2f' % (sys.argv[1], float(sys.argv[2]) / float(sys.argv[3])))" "$label" "$f_rps" "$n_rps"
done
