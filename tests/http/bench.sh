#!/usr/bin/env bash
# Storage HTTP access vs nginx (sendfile on, tcp_nopush on, access log off),
# both serving the same 16 KiB and 1 MiB files from the same store path,
# measured with wrk at the same threads/connections/duration.
#
#   tests/http/bench.sh                 # builds target/release/ferrodfs if needed
#   FERRODFS_BIN=/path/ferrodfs CONNS=64 THREADS=2 DURATION=10s ROUNDS=2 tests/http/bench.sh
#
# Each row has wrk's requests/s, transfer/s and p99 latency, and the
# server's CPU time (user + system, all its threads or workers) per
# request over the run.
#
# Needs: nginx, wrk (Debian: apt-get install -y nginx wrk), python3.
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN=${FERRODFS_BIN:-${CARGO_TARGET_DIR:-target}/release/ferrodfs}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
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
ferro_pid=$!

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
nginx_pid=$!

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
# The storage creates its 256x256 data directories in the background after
# it starts serving; measuring before that ends would bill ferrodfs for it.
for _ in $(seq 600); do
    [ -d "$store/data/FF/FF" ] && break
    sleep 0.1
done
[ -d "$store/data/FF/FF" ] || { echo "bench.sh: the store path was never prepared" >&2; exit 1; }

# CPU time (user + system, in clock ticks) of a process and its children
# (nginx's workers), as /proc/PID/stat counts it.
cpu_ticks() {
    local p
    for p in "$1" $(pgrep -P "$1" || true); do
        # utime and stime are fields 14 and 15; the command name (field 2)
        # may hold spaces, so count from the ")" that closes it.
        sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'
    done | awk '{ t += $1 } END { print t }'
}
TICK=$(getconf CLK_TCK)

# Prints "requests/s transfer/s p99 cpu-µs-per-request" for one wrk run
# against the server whose process is $2.
measure() {
    local before after
    before=$(cpu_ticks "$2")
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1" >"$work/wrk.out"
    after=$(cpu_ticks "$2")
    awk -v ticks=$((after - before)) -v hz="$TICK" '
        /Requests\/sec:/ { rps = $2 }
        /Transfer\/sec:/ { tps = $2 }
        / requests in / { n = $1 }
        $1 == "99%" { p99 = $2 }
        END { printf "%s %s %s %.1f\n", rps, tps, p99, ticks / hz * 1e6 / n }' "$work/wrk.out"
}

printf 'wrk -t%s -c%s -d%s, %s core(s), %s round(s)\n' "$THREADS" "$CONNS" "$DURATION" "$(nproc)" "$ROUNDS"
printf '%-6s %-9s %12s %12s %10s %12s\n' size server requests/s transfer/s p99 "CPU µs/req"
# Each round measures ferrodfs then nginx back to back, so a noisy
# machine skews both sides of a ratio alike.
for _ in $(seq "$ROUNDS"); do
    for pair in "16KiB:$small" "1MiB:$large"; do
        label=${pair%%:*}
        name=${pair#*:}
        read -r f_rps f_tps f_p99 f_cpu < <(measure "http://127.0.0.1:$FERRO_PORT/group1/M00/00/00/$name" "$ferro_pid")
        read -r n_rps n_tps n_p99 n_cpu < <(measure "http://127.0.0.1:$NGINX_PORT/group1/M00/00/00/$name" "$nginx_pid")
        printf '%-6s %-9s %12s %12s %10s %12s\n' "$label" ferrodfs "$f_rps" "$f_tps" "$f_p99" "$f_cpu"
        printf '%-6s %-9s %12s %12s %10s %12s\n' "$label" nginx "$n_rps" "$n_tps" "$n_p99" "$n_cpu"
        python3 -c "import sys; a = [float(x) for x in sys.argv[2:]]; print('%-6s ferrodfs/nginx requests/s ratio: %.2f, CPU per request ratio: %.2f' % (sys.argv[1], a[0] / a[1], a[2] / a[3]))" \
            "$label" "$f_rps" "$n_rps" "$f_cpu" "$n_cpu"
    done
done
