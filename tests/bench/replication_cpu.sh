#!/usr/bin/env bash
# CPU cost of replication: one tracker and two storages of one group on
# loopback; N 4 KiB files are uploaded (the tracker spreads them over
# both members, so each is source of some and receiver of the others),
# then the script waits until both stores hold every file. It prints
# the two storages' CPU time (utime+stime from /proc/PID/stat) per
# uploaded-and-replicated file, and the CPU they burn idle afterwards.
#
# Usage: tests/bench/replication_cpu.sh [files, default 20000]
#        [clients, default 8] [ferrodfs binary]
# Builds nothing but `cargo build --release` (skipped when a binary is given).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
files="${1:-20000}"
clients="${2:-8}"
bin="${3:-}"
if [[ -z "$bin" ]]; then
    (cd "$root" && cargo build --release -q)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
fi
work="$(mktemp -d "${REPLICATION_CPU_DIR:-/tmp}/replication_cpu.XXXXXX")"
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

tracker=127.0.79.1:22122
secret="$("$bin" secret)"
mkdir -p "$work/tracker"
printf 'bind = "127.0.79.1"\nport = 22122\nbase_path = "%s"\ncluster_secret = "%s"\n' \
    "$work/tracker" "$secret" >"$work/tracker.toml"
RUST_LOG=warn "$bin" tracker -c "$work/tracker.toml" 2>"$work/tracker.log" &
pids+=($!)
storages=()
for i in 0 1; do
    mkdir -p "$work/s$i/base" "$work/s$i/store"
    printf 'group_name = "group1"\nbind = "127.0.79.1%d"\nip = "127.0.79.1%d"\nport = 23000\nhttp_port = 0\nbase_path = "%s"\nstore_paths = ["%s"]\ntracker_servers = ["%s"]\nheart_beat_interval = 0.5\nreserved_storage_space = "1%%"\ncluster_secret = "%s"\n' \
        "$i" "$i" "$work/s$i/base" "$work/s$i/store" "$tracker" "$secret" >"$work/s$i.toml"
    RUST_LOG=info "$bin" storage -c "$work/s$i.toml" 2>"$work/s$i.log" &
    storages+=($!)
    pids+=($!)
done
active() { "$bin" monitor -t "$tracker" 2>/dev/null | grep -c ACTIVE || true; }
for _ in $(seq 1 600); do [[ "$(active)" -ge 2 ]] && break; sleep 0.1; done
[[ "$(active)" -ge 2 ]] || { cat "$work"/s*.log; exit 1; }

clk="$(getconf CLK_TCK)"
# utime + stime of both storages, in clock ticks (fields 14 and 15).
ticks() { local t=0; for p in "${storages[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
count() { find "$work/s$1/store/data" -mindepth 3 -type f ! -name '.*' | wc -l; }

echo "ferrodfs replication CPU: $bin"
before=$(ticks)
t0=$(date +%s.%N)
"$bin" bench -t "$tracker" --json --op upload --size 4K -j "$clients" -n "$files" --keep >"$work/bench.json"
deadline=$((SECONDS + 300))
until [[ "$(count 0)" -ge "$files" && "$(count 1)" -ge "$files" ]]; do
    [[ $SECONDS -lt $deadline ]] || { echo "replication did not finish: $(count 0) / $(count 1) of $files"; exit 1; }
    sleep 0.2
done
t1=$(date +%s.%N)
used=$(($(ticks) - before))
idle_before=$(ticks)
sleep 5
idle=$(($(ticks) - idle_before))
python3 - "$work/bench.json" "$files" "$used" "$idle" "$clk" "$t0" "$t1" <<'PY'
import json, sys
path, files, used, idle, clk, t0, t1 = sys.argv[1:]
r = json.load(open(path))
files, clk = int(files), int(clk)
print("%d uploads of 4 KiB at %s ops/s, %d errors; replicated on both in %.1f s" % (files, round(r["ops_per_sec"]), r["errors"], float(t1) - float(t0)))
print("storage CPU (both members): %.2f s = %.3f CPU-ms per uploaded and replicated file" % (int(used) / clk, int(used) / clk * 1000 / files))
print("idle afterwards: %.2f CPU-s over 5 s" % (int(idle) / clk))
PY
