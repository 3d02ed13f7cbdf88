#!/usr/bin/env bash
# Replication delay under upload load: one tracker and two storages of
# one group on loopback (the tracker spreads uploads over both, so each
# is the source of some files and receives the others). For 1, 4 and 16
# uploading clients it runs a timed 4 KiB upload wave and prints, from
# the storages' ferrodfs_storage_sync_delay_seconds histograms (the time
# from logging a change, when its client was answered, to the peer's
# acknowledgement of it), the p50 / p99 / max bucket of that wave, with
# the upload rate and the storages' CPU per uploaded and replicated file.
#
# Usage: tests/bench/replication_lag.sh [seconds per wave, default 10]
#        [client counts, default "1 4 16"] [ferrodfs binary]
# SIZE=4M (any `ferrodfs bench --size`) uploads files of that size instead.
# Builds nothing but `cargo build --release` (skipped when a binary is given).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-10}"
size="${SIZE:-4K}"
waves="${2:-1 4 16}"
bin="${3:-}"
if [[ -z "$bin" ]]; then
    (cd "$root" && cargo build --release -q)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
fi
work="$(mktemp -d "${REPLICATION_LAG_DIR:-/tmp}/replication_lag.XXXXXX")"
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

tracker=127.0.77.1:22122
secret="$("$bin" secret)"
mkdir -p "$work/tracker"
printf 'bind = "127.0.77.1"\nport = 22122\nbase_path = "%s"\ncluster_secret = "%s"\n' \
    "$work/tracker" "$secret" >"$work/tracker.toml"
RUST_LOG=warn "$bin" tracker -c "$work/tracker.toml" 2>"$work/tracker.log" &
pids+=($!)
storages=()
for i in 0 1; do
    mkdir -p "$work/s$i/base" "$work/s$i/store"
    printf 'group_name = "group1"\nbind = "127.0.77.1%d"\nip = "127.0.77.1%d"\nport = 23000\nhttp_port = 0\nmetrics_listen = "127.0.77.1%d:9100"\nbase_path = "%s"\nstore_paths = ["%s"]\ntracker_servers = ["%s"]\nheart_beat_interval = 0.5\nreserved_storage_space = "16M"\ncluster_secret = "%s"\n' \
        "$i" "$i" "$i" "$work/s$i/base" "$work/s$i/store" "$tracker" "$secret" >"$work/s$i.toml"
    RUST_LOG=info "$bin" storage -c "$work/s$i.toml" 2>"$work/s$i.log" &
    storages+=($!)
    pids+=($!)
done
active() { "$bin" monitor -t "$tracker" 2>/dev/null | grep -c ACTIVE || true; }
for _ in $(seq 1 600); do [[ "$(active)" -ge 2 ]] && break; sleep 0.1; done
[[ "$(active)" -ge 2 ]] || { cat "$work"/s*.log; exit 1; }
# A new store creates its 256x256 data directories in the background
# first; a wave measured meanwhile would measure that.
for i in 0 1; do
    for _ in $(seq 1 1200); do grep -q "data directories ready" "$work/s$i.log" && break; sleep 0.1; done
    grep -h "data directories ready" "$work/s$i.log" | sed 's/^.*data directories/  storage '"$i"': data directories/'
done

clk="$(getconf CLK_TCK)"
# utime + stime of both storages, in clock ticks (fields 14 and 15).
ticks() { local t=0; for p in "${storages[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# Both storages' delay histograms, summed over peers.
scrape() {
    for i in 0 1; do
        python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
            "http://127.0.77.1$i:9100/metrics"
    done | grep '^ferrodfs_storage_sync_delay_seconds_bucket' >"$1" || true
}
# Waits until neither storage has records pending for its peer.
settled() {
    local deadline=$((SECONDS + 120))
    while [[ $SECONDS -lt $deadline ]]; do
        local pending=0
        for i in 0 1; do
            pending=$((pending + $(python3 -c 'import sys, urllib.request
t = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
print(sum(int(float(l.split()[-1])) for l in t.splitlines() if l.startswith("ferrodfs_storage_sync_pending_records")))' \
                "http://127.0.77.1$i:9100/metrics")))
        done
        [[ $pending -eq 0 ]] && return 0
        sleep 0.2
    done
    echo "replication did not settle within 120 s" >&2
    return 1
}

echo "ferrodfs replication delay: $bin (2 storages, $size uploads, ${secs} s per wave)"
printf '%-8s %10s %9s %9s %11s %11s %11s %12s\n' clients uploads/s uploads changes p50 p99 max "CPU-ms/file"
for c in $waves; do
    scrape "$work/before"
    before=$(ticks)
    "$bin" bench -t "$tracker" --json --op upload --size "$size" -j "$c" -d "$secs" --keep >"$work/bench.json"
    settled
    # The lag counter runs once a second; the histogram is already final.
    scrape "$work/after"
    used=$(($(ticks) - before))
    python3 - "$work/before" "$work/after" "$work/bench.json" "$used" "$clk" "$c" <<'PY'
import json, re, sys
before, after, bench, used, clk, clients = sys.argv[1:]
def buckets(path):
    out = {}
    for line in open(path):
        m = re.search(r'le="([^"]+)"\}\s+(\S+)$', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            out[le] = out.get(le, 0) + float(m.group(2))
    return out
b, a = buckets(before), buckets(after)
cum = sorted((le, a[le] - b.get(le, 0)) for le in a)
total = cum[-1][1] if cum else 0
def q(f):
    for le, n in cum:
        if n >= f * total:
            return "inf" if le == float("inf") else ("<= %g ms" % (le * 1000))
    return "-"
hi = next((le for le, n in cum if n >= total), None)
r = json.load(open(bench))
files = max(1, int(total))
print("%-8s %10d %9d %9d %11s %11s %11s %12.3f" % (
    clients, round(r["ops_per_sec"]), r["ops"], total, q(0.5), q(0.99),
    "-" if hi is None else ("inf" if hi == float("inf") else "%g ms" % (hi * 1000)),
    int(used) / int(clk) * 1000 / files))
PY
done
