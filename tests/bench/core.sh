#!/usr/bin/env bash
# Upload and download figures of `ferrodfs bench` against `ferrodfs up`,
# for 4 KiB, 64 KiB and 1 MiB files at concurrency 16, as a table.
# Usage: tests/bench/core.sh [seconds per run, default 10]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
secs="${1:-10}"
cd "$root"
cargo build --release --bin ferrodfs >/dev/null
bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
work="$(mktemp -d)"
"$bin" up --dir "$work/cluster" >"$work/up.out" 2>"$work/up.err" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q "press Ctrl-C" "$work/up.out" && break; sleep 0.1; done
grep -q "press Ctrl-C" "$work/up.out" || { cat "$work/up.out" "$work/up.err"; exit 1; }

dl1m=""
printf "%-9s %-6s %10s %10s %9s %9s %9s %7s\n" op size ops/s MB/s p50_ms p99_ms max_ms errors
for size in 4K 64K 1M; do
    for op in upload download; do
        json="$("$bin" bench -c "$work/cluster/client.conf" --op "$op" --size "$size" -j 16 \
                --duration "$secs" --files 512 --json)"
        python3 - "$op" "$size" "$json" <<'PY'
import json, sys
op, size, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"{op:<9} {size:<6} {r['ops_per_sec']:>10.0f} {r['mb_per_sec']:>10.1f} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['max_ms']:>9.2f} {r['errors']:>7}")
PY
        if [[ "$op" == download && "$size" == 1M ]]; then
            dl1m="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["mb_per_sec"])' "$json")"
        fi
    done
done

# The reference for large downloads: raw TCP over loopback with the same
# 16 parallel streams (iperf3, when installed).
if command -v iperf3 >/dev/null; then
    iperf3 -s -1 -B 127.0.0.1 -p 5299 >/dev/null 2>&1 &
    sleep 0.5
    lo="$(iperf3 -c 127.0.0.1 -p 5299 -P 16 -t "$secs" -J \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6)')"
    python3 -c 'import sys; d,l=map(float,sys.argv[1:]); print(f"loopback TCP (iperf3, 16 streams): {l:.0f} MB/s; 1 MiB downloads reach {d/l:.0%} of it")' "$dl1m" "$lo"
fi
