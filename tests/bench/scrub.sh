#!/usr/bin/env bash
# What scrub costs, in one run against one tracker and one storage of our
# own: the store is filled with 64 KiB files, then a scrub pass is timed at
# the default scrub_rate (4M) and unpaced (scrub_rate = 0), and 4 KiB uploads
# run with no scrub and while a pass runs, interleaved.
# Usage: tests/bench/scrub.sh [seconds per upload run, default 5] [MiB to fill, default 40]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-5}"
fill_mib="${2:-40}"
bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
work="$(mktemp -d)"
pids=()
stop_pair() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop_pair; rm -rf "$work"' EXIT
secret="$("$bin" secret)"
export FERRODFS_CLUSTER_SECRET="$secret"
tracker=127.0.78.1:22122
storage=127.0.78.10:23000

report() { # label, then the bench JSON report on stdin
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-44s %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms  errors %d" % (sys.argv[1], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$1"
}

start_pair() { # scrub_rate
    local d="$work/pair-$1"
    mkdir -p "$d/tracker" "$d/store"
    printf 'bind = "127.0.78.1"\nport = 22122\nbase_path = "%s"\ncluster_secret = "%s"\nreserved_storage_space = "1%%"\n' \
        "$d/tracker" "$secret" >"$d/tracker.toml"
    printf 'group_name = "group1"\nbind = "127.0.78.10"\nport = 23000\nhttp_port = 0\nbase_path = "%s"\nstore_paths = ["%s"]\ntracker_servers = ["%s"]\nheart_beat_interval = 0.5\nreserved_storage_space = "1%%"\ncluster_secret = "%s"\nscrub_rate = "%s"\n' \
        "$d/store" "$d/store" "$tracker" "$secret" "$1" >"$d/storage.toml"
    RUST_LOG=warn "$bin" tracker -c "$d/tracker.toml" 2>"$d/tracker.log" &
    pids+=($!)
    RUST_LOG=warn "$bin" storage -c "$d/storage.toml" 2>"$d/storage.log" &
    pids+=($!)
    for _ in $(seq 1 100); do "$bin" monitor -t "$tracker" 2>/dev/null | grep -q ACTIVE && break; sleep 0.1; done
}

fill() {
    local n=$((fill_mib * 16))
    "$bin" bench -t "$tracker" --json --op upload --size 64K -j 8 --count "$n" --keep >/dev/null
}

timed_scrub() { # label
    local t0 t1 out
    t0=$(date +%s.%N)
    out="$("$bin" scrub -t "$tracker" --storage "$storage")"
    t1=$(date +%s.%N)
    python3 -c 'import re,sys; t=float(sys.argv[2])-float(sys.argv[1]); b=int(re.search(r"\((\d+) bytes read\)", sys.argv[3]).group(1)); print("%-44s %7.1f s  %7.1f MiB/s  (%s)" % (sys.argv[4], t, b/t/2**20, sys.argv[3].split(": ",1)[1]))' "$t0" "$t1" "$out" "$1"
}

start_pair 4M
fill
timed_scrub "scrub pass, scrub_rate = 4M (default)"
# Interleaved, twice: the machine's noise shows in the spread.
for round in 1 2; do
    "$bin" bench -t "$tracker" --json --duration "$secs" --op upload --size 4K -j 16 | report "upload 4K -j 16, no scrub ($round)"
    "$bin" scrub -t "$tracker" --storage "$storage" >/dev/null &
    scrub_pid=$!
    "$bin" bench -t "$tracker" --json --duration "$secs" --op upload --size 4K -j 16 | report "upload 4K -j 16, scrub at 4M running ($round)"
    kill "$scrub_pid" 2>/dev/null || true
    wait "$scrub_pid" 2>/dev/null || true
done
stop_pair

start_pair 0
fill
timed_scrub "scrub pass, scrub_rate = 0 (unpaced)"
"$bin" scrub -t "$tracker" --storage "$storage" >/dev/null &
scrub_pid=$!
"$bin" bench -t "$tracker" --json --duration "$secs" --op upload --size 4K -j 16 | report "upload 4K -j 16, unpaced scrub running"
wait "$scrub_pid" || true
stop_pair
