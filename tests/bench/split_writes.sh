#!/usr/bin/env bash
# Latency of split-write FastDFS clients (Nagle on vs TCP_NODELAY) against
# `ferrodfs up`, then `ferrodfs bench` 4 KiB upload/download, for each
# ferrodfs binary given (e.g. a build before and after a change), one
# after the other in the same run.
# Usage: tests/bench/split_writes.sh [ferrodfs binary ...]   (default: target/release/ferrodfs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bins=("$@")
((${#bins[@]})) || bins=("${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs")
work="$(mktemp -d)"
pid=""
stop() { [[ -n "$pid" ]] && { kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$work"' EXIT
for bin in "${bins[@]}"; do
    echo "== $bin"
    rm -rf "$work/cluster"
    "$bin" up --dir "$work/cluster" >"$work/up.out" 2>"$work/up.err" &
    pid=$!
    for _ in $(seq 1 300); do grep -q "press Ctrl-C" "$work/up.out" && break; sleep 0.1; done
    grep -q "press Ctrl-C" "$work/up.out" || { cat "$work/up.out" "$work/up.err"; exit 1; }
    python3 "$here/split_writes.py" "$work/cluster/client.conf" 200
    for op in upload download; do
        "$bin" bench -c "$work/cluster/client.conf" --op "$op" --size 4K -j 16 --duration 5 --files 512 --json |
            python3 -c 'import json,sys; r=json.load(sys.stdin); print("ferrodfs bench %-8s 4K -j16: %8.0f ops/s  p50 %.2f ms  p99 %.2f ms  errors %d" % (sys.argv[1], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$op"
    done
    stop
done
