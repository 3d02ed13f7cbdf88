#!/usr/bin/env bash
# What the cluster secret and fsync_after_write cost, in one run against
# `ferrodfs up`: a new connection per operation with and without the
# cluster handshake (what each internal connection pays once), then 4 KiB
# uploads with fsync_after_write off and on. Any further ferrodfs binary
# given (e.g. a build from before the cluster secret) gets the same 4 KiB
# upload run against its own `ferrodfs up`, for a side-by-side ratio.
# Usage: tests/bench/cluster_secret.sh [seconds per run, default 5] [ferrodfs binary ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-5}"
shift || true
bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
work="$(mktemp -d)"
pid=""
stop() { [[ -n "$pid" ]] && { kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$work"' EXIT

# Starts `$1 up` in a fresh directory.
up() {
    rm -rf "$work/cluster"
    "$1" up --dir "$work/cluster" >"$work/up.out" 2>"$work/up.err" &
    pid=$!
    for _ in $(seq 1 300); do grep -q "press Ctrl-C" "$work/up.out" && break; sleep 0.1; done
    grep -q "press Ctrl-C" "$work/up.out" || { cat "$work/up.out" "$work/up.err"; exit 1; }
}
report() { # label, then the JSON report on stdin
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-44s %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms  errors %d" % (sys.argv[1], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$1"
}
bench() { # binary, label, bench args...
    local b="$1" label="$2"
    shift 2
    "$b" bench -c "$work/cluster/client.conf" --json --duration "$secs" "$@" | report "$label"
}

up "$bin"
bench "$bin" "new connection + ACTIVE_TEST, -j 4" --op connect -j 4
bench "$bin" "new connection + handshake + ACTIVE_TEST, -j 4" --op auth-connect -j 4
bench "$bin" "upload 4K -j 16 (this build)" --op upload --size 4K -j 16
stop

# One tracker and one storage of our own, fsync_after_write off then on.
pids=()
stop_pair() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; stop_pair; rm -rf "$work"' EXIT
for fsync in false true; do
    d="$work/pair-$fsync"
    mkdir -p "$d/tracker" "$d/store"
    secret="$("$bin" secret)"
    printf 'bind = "127.0.77.1"\nport = 22122\nbase_path = "%s"\ncluster_secret = "%s"\n' \
        "$d/tracker" "$secret" >"$d/tracker.toml"
    printf 'group_name = "group1"\nbind = "127.0.77.10"\nport = 23000\nhttp_port = 0\nbase_path = "%s"\nstore_paths = ["%s"]\ntracker_servers = ["127.0.77.1:22122"]\nheart_beat_interval = 0.5\nreserved_storage_space = "1%%"\ncluster_secret = "%s"\nfsync_after_write = %s\n' \
        "$d/store" "$d/store" "$secret" "$fsync" >"$d/storage.toml"
    RUST_LOG=warn "$bin" tracker -c "$d/tracker.toml" 2>"$d/tracker.log" &
    pids+=($!)
    RUST_LOG=warn "$bin" storage -c "$d/storage.toml" 2>"$d/storage.log" &
    pids+=($!)
    for _ in $(seq 1 100); do "$bin" monitor -t 127.0.77.1:22122 2>/dev/null | grep -q ACTIVE && break; sleep 0.1; done
    "$bin" bench -t 127.0.77.1:22122 --json --duration "$secs" --op upload --size 4K -j 16 |
        report "upload 4K -j 16, one storage, fsync_after_write = $fsync"
    stop_pair
done

for other in "$@"; do
    up "$other"
    bench "$other" "upload 4K -j 16 ($other)" --op upload --size 4K -j 16
    stop
done
