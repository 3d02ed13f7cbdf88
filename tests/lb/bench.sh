#!/usr/bin/env bash
# Throughput of the HTTP read path on cache hits, ferrodfs lb against nginx
# configured like the classic FastDFS deployment, under the same wrk load:
#
#   ferrodfs:  wrk -> front /dfs/... -> edge (cache hit) -> origin
#   nginx:     wrk -> front /dfs/... -> edge (proxy_cache hit) -> origin
#
# The origin (a "storage") is a plain nginx serving static files.
# Everything listens on 127.0.0.1 only. Each side gets two worker threads in
# total (ferrodfs: threads = 1 per tier; nginx: worker_processes 2 for both
# tiers). The nginx pair follows the classic tracker/LB configs: no upstream
# keepalive (set NGINX_KEEPALIVE=1 for HTTP/1.1 keepalive to upstreams).
#
# MODE=edge measures the edge tier alone instead: wrk straight at a ferrodfs
# edge (threads = EDGE_THREADS) and at an nginx proxy_cache edge
# (worker_processes = EDGE_THREADS), both answering cache hits, RUNS times
# each, alternating, with the CPU each server spent per request (utime +
# stime from /proc over the run; nginx: master and workers).
#
# Needs: wrk, nginx (Debian: apt-get install -y wrk nginx), cargo.
# Env: BASE_PORT (47100; the next five ports are used), DUR (10s), CONNS (32),
#      THREADS (2, wrk's), SIZE (file size bytes, 16384), MODE (pair | edge),
#      EDGE_THREADS (2), RUNS (2; edge mode),
#      LB_BIN (a built lb example; default: build it in release).
set -euo pipefail

DUR=${DUR:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SIZE=${SIZE:-16384}
MODE=${MODE:-pair}
EDGE_THREADS=${EDGE_THREADS:-2}
RUNS=${RUNS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE_PORT:-47100}
P_ORIGIN=$((BASE + 1)) P_FEDGE=$((BASE + 2)) P_FFRONT=$((BASE + 3)) P_NEDGE=$((BASE + 4)) P_NFRONT=$((BASE + 5))

case "$MODE" in
pair | edge) ;;
*) echo "bench: MODE must be pair or edge, not $MODE" >&2; exit 1 ;;
esac
for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found; apt-get install -y wrk nginx curl" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ferrodfs-lb-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/origin/nginx.pid" ] && kill "$(cat "$WORK/origin/nginx.pid")" 2>/dev/null || true
    [ -f "$WORK/pair/nginx.pid" ] && kill "$(cat "$WORK/pair/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${LB_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    (cd "$ROOT" && cargo build --release -q -p ferrodfs-lb --example lb)
    LB_BIN=$CARGO_TARGET_DIR/release/examples/lb
fi

FILE=/group1/M00/00/00/bench.jpg
mkdir -p "$WORK/data/group1/M00/00/00" "$WORK/origin/logs" "$WORK/pair/logs" "$WORK/pair/cache" "$WORK/lbcache"
head -c "$SIZE" /dev/urandom >"$WORK/data$FILE"

cat >"$WORK/origin/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $WORK/origin/nginx.pid;
error_log $WORK/origin/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 127.0.0.1:$P_ORIGIN; root $WORK/data; }
}
EOF

if [ "${NGINX_KEEPALIVE:-0}" = 1 ]; then
    KA_UP="keepalive 32;"
    KA_LOC='proxy_http_version 1.1; proxy_set_header Connection "";'
else
    KA_UP=""
    KA_LOC=""
fi
if [ "$MODE" = edge ]; then
    NGINX_WORKERS=$EDGE_THREADS
    FRONT_SERVER=""
else
    NGINX_WORKERS=2
    FRONT_SERVER="
    # LB node: the front tier
    upstream fastdfs_tracker { server 127.0.0.1:$P_NEDGE weight=1 max_fails=2 fail_timeout=30s; $KA_UP }
    server {
        listen 127.0.0.1:$P_NFRONT;
        location /dfs/ {
            proxy_pass http://fastdfs_tracker/;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            $KA_LOC
            client_max_body_size 300m;
        }
    }"
fi
cat >"$WORK/pair/nginx.conf" <<EOF
user root;
worker_processes $NGINX_WORKERS;
pid $WORK/pair/nginx.pid;
error_log $WORK/pair/logs/error.log;
events { worker_connections 4096; }
http {
    access_log $WORK/pair/logs/access.log;
    proxy_cache_path $WORK/pair/cache levels=1:2 keys_zone=http-cache:64m max_size=1g inactive=30d;
    proxy_temp_path $WORK/pair/tmp;
    # tracker node: the edge tier
    upstream fdfs_group1 { server 127.0.0.1:$P_ORIGIN weight=1 max_fails=2 fail_timeout=30s; $KA_UP }
    server {
        listen 127.0.0.1:$P_NEDGE;
        location ~/group1/M00 {
            proxy_next_upstream http_502 http_504 error timeout invalid_header;
            proxy_cache http-cache;
            proxy_cache_valid 200 304 12h;
            proxy_cache_key \$uri\$is_args\$args;
            proxy_pass http://fdfs_group1;
            $KA_LOC
            expires 30d;
        }
    }$FRONT_SERVER
}
EOF

if [ "$MODE" = edge ]; then EDGE_LB_THREADS=$EDGE_THREADS; else EDGE_LB_THREADS=1; fi
cat >"$WORK/edge.toml" <<EOF
role = "edge"
listen = "127.0.0.1:$P_FEDGE"
threads = $EDGE_LB_THREADS
[edge.groups]
group1 = ["127.0.0.1:$P_ORIGIN"]
[cache]
path = "$WORK/lbcache"
max_size = "1G"
EOF
cat >"$WORK/front.toml" <<EOF
role = "front"
listen = "127.0.0.1:$P_FFRONT"
threads = 1
[front]
upstreams = [{ addr = "127.0.0.1:$P_FEDGE" }]
EOF

nginx -c "$WORK/origin/nginx.conf" -p "$WORK/origin"
nginx -c "$WORK/pair/nginx.conf" -p "$WORK/pair"
"$LB_BIN" --config "$WORK/edge.toml" >"$WORK/edge.log" 2>&1 &
LB_PID=$!
PIDS+=("$LB_PID")
if [ "$MODE" = pair ]; then
    "$LB_BIN" --config "$WORK/front.toml" >"$WORK/front.log" 2>&1 &
    PIDS+=($!)
fi

wait_ok() {
    for _ in $(seq 1 100); do
        if curl -sf -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "bench: $1 never answered 200" >&2
    exit 1
}
# Warm both caches (the first GET is a miss that fills the cache).
if [ "$MODE" = pair ]; then
    wait_ok "http://127.0.0.1:$P_FFRONT/dfs$FILE"
    wait_ok "http://127.0.0.1:$P_NFRONT/dfs$FILE"
    curl -s -o /dev/null "http://127.0.0.1:$P_FFRONT/dfs$FILE"
    curl -s -o /dev/null "http://127.0.0.1:$P_NFRONT/dfs$FILE"
else
    wait_ok "http://127.0.0.1:$P_FEDGE$FILE"
    wait_ok "http://127.0.0.1:$P_NEDGE$FILE"
    curl -s -o /dev/null "http://127.0.0.1:$P_NEDGE$FILE"
fi
curl -s -D - -o /dev/null "http://127.0.0.1:$P_FEDGE$FILE" | grep -qi "x-cache-status: HIT" \
    || { echo "bench: ferrodfs edge is not serving from cache" >&2; exit 1; }

run() {
    wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$1" >"$WORK/$2.wrk"
    local rps p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$2.wrk")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/$2.wrk")
    local errs
    errs=$(awk '/Non-2xx|Socket errors/' "$WORK/$2.wrk")
    printf '%-16s %12s req/s   p99 %-10s %s\n' "$2" "$rps" "$p99" "$errs" >&2
    echo "$rps"
}

if [ "$MODE" = pair ]; then
    echo "load: wrk -t$THREADS -c$CONNS -d$DUR, file ${SIZE} B" >&2
    echo "front -> edge (cache hit):" >&2
    FERRO=$(run "http://127.0.0.1:$P_FFRONT/dfs$FILE" ferrodfs)
    NGINX=$(run "http://127.0.0.1:$P_NFRONT/dfs$FILE" nginx)
    awk -v f="$FERRO" -v n="$NGINX" 'BEGIN { printf "ratio ferrodfs/nginx, front -> edge: %.2f\n", f / n }'
    echo "edge alone (cache hit):" >&2
    FERRO=$(run "http://127.0.0.1:$P_FEDGE$FILE" ferrodfs-edge)
    NGINX=$(run "http://127.0.0.1:$P_NEDGE$FILE" nginx-edge)
    awk -v f="$FERRO" -v n="$NGINX" 'BEGIN { printf "ratio ferrodfs/nginx, edge alone: %.2f\n", f / n }'
    exit 0
fi

NGINX_PIDS=("$(cat "$WORK/pair/nginx.pid")")
mapfile -t -O 1 NGINX_PIDS < <(ps --ppid "${NGINX_PIDS[0]}" -o pid= | tr -d ' ')
TCK=$(getconf CLK_TCK)
# CPU ticks (user + system, all threads) the given processes have used.
ticks() {
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
# One wrk run against the server made of the given pids; prints
# "requests/s microseconds-of-server-CPU-per-request".
measure() {
    local url=$1 name=$2
    shift 2
    local t0 t1 rps n
    t0=$(ticks "$@")
    rps=$(run "$url" "$name")
    t1=$(ticks "$@")
    n=$(awk '/requests in/ {print $1}' "$WORK/$name.wrk")
    awk -v r="$rps" -v t=$((t1 - t0)) -v n="$n" -v hz="$TCK" \
        'BEGIN { printf "%s %.1f\n", r, t / hz * 1e6 / n }'
}
echo "load: wrk -t$THREADS -c$CONNS -d$DUR, file ${SIZE} B, edge alone (cache hit), $EDGE_THREADS threads / workers each" >&2
for i in $(seq 1 "$RUNS"); do
    read -r f_rps f_cpu < <(measure "http://127.0.0.1:$P_FEDGE$FILE" "ferrodfs-edge-$i" "$LB_PID")
    read -r n_rps n_cpu < <(measure "http://127.0.0.1:$P_NEDGE$FILE" "nginx-edge-$i" "${NGINX_PIDS[@]}")
    awk -v f="$f_rps" -v n="$n_rps" -v fc="$f_cpu" -v nc="$n_cpu" -v i="$i" 'BEGIN {
        printf "run %d: ratio ferrodfs/nginx %.2f; CPU per request: ferrodfs %.1f us, nginx %.1f us\n", i, f / n, fc, nc }'
done
