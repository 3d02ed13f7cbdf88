#!/usr/bin/env bash
# The storage's small-file write path on a store that already holds many
# files, with delete waves in between (deleted inodes are what slows file
# creation down on ext4, so a benchmark on an empty store says little).
#
# One tracker and one storage on loopback, store path on the disk that
# holds $WRITE_PATH_DIR (default: a temp dir under /tmp... set it to a
# directory on the disk you want to measure). The store is filled with
# N 4 KiB files first, then each round runs upload waves (4 KiB and
# 64 KiB, at 4 and 16 clients) followed by a delete wave, and the next
# round uploads again. For every upload wave it prints ops/s, p50/p99,
# the storage's CPU-seconds per 10k uploads (utime+stime from
# /proc/PID/stat) and its RSS afterwards; with strace installed, one
# extra short wave counts the storage's syscalls per upload.
#
# Usage: tests/bench/write_path.sh [files to pre-fill, default 100000]
#        [seconds per wave, default 5] [rounds, default 3] [ferrodfs binary]
# Side by side with a reference cluster already running (FastDFS, say),
# driven by the same client wave by wave in turn, with a ratio table:
#   REF_TRACKER=127.0.79.1:22122 REF_PID=<its storage pid> REF_NAME=fastdfs \
#       tests/bench/write_path.sh
# Builds nothing but `cargo build --release` (skipped when a binary is given).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefill="${1:-100000}"
secs="${2:-5}"
rounds="${3:-3}"
bin="${4:-}"
if [[ -z "$bin" ]]; then
    (cd "$root" && cargo build --release -q)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
fi
work="$(mktemp -d "${WRITE_PATH_DIR:-/tmp}/write_path.XXXXXX")"
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

tracker=127.0.78.1:22122
mkdir -p "$work/tracker" "$work/store"
secret="$("$bin" secret)"
# The tracker reserves as little as the storage does: with its default
# (10%) a disk shared with other work would stop uploads at the tracker.
printf 'bind = "127.0.78.1"\nport = 22122\nbase_path = "%s"\nreserved_storage_space = "1%%"\ncluster_secret = "%s"\n' \
    "$work/tracker" "$secret" >"$work/tracker.toml"
printf 'group_name = "group1"\nbind = "127.0.78.10"\nport = 23000\nhttp_port = 0\nbase_path = "%s"\nstore_paths = ["%s"]\ntracker_servers = ["%s"]\nheart_beat_interval = 0.5\nreserved_storage_space = "1%%"\ncluster_secret = "%s"\n' \
    "$work/store" "$work/store" "$tracker" "$secret" >"$work/storage.toml"
RUST_LOG=warn "$bin" tracker -c "$work/tracker.toml" 2>"$work/tracker.log" &
pids+=($!)
RUST_LOG=info "$bin" storage -c "$work/storage.toml" 2>"$work/storage.log" &
storage=$!
pids+=($storage)
# (grep reads the whole listing: `grep -q` would end the pipe early and,
# under pipefail, fail it.)
active() { "$bin" monitor -t "$tracker" 2>/dev/null | grep -c ACTIVE >/dev/null; }
for _ in $(seq 1 600); do active && break; sleep 0.1; done
active || { cat "$work/storage.log"; exit 1; }

clk="$(getconf CLK_TCK)"
# Servers measured: ours, and with REF_TRACKER=ip:port REF_PID=pid a
# running reference cluster (e.g. FastDFS: 1 tracker + 1 storage on the
# same disk, REF_PID its storage) driven by the same client, wave by wave
# in turn (A,B,A,B) so both see the same machine.
names=(ferrodfs) trackers=("$tracker") spids=("$storage")
if [[ -n "${REF_TRACKER:-}" ]]; then
    [[ -r /proc/${REF_PID:-x}/stat ]] || { echo "REF_PID must be the reference storage's pid" >&2; exit 2; }
    names+=("${REF_NAME:-reference}") trackers+=("$REF_TRACKER") spids+=("$REF_PID")
fi
# utime + stime of a storage in clock ticks (fields 14 and 15, counted
# after the command name, which may hold spaces).
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
bench() { local t=$1; shift; "$bin" bench -t "$t" --json "$@"; }
results="$work/results.jsonl"

echo "write path: $bin"
echo "store: $work/store ($(df -T "$work" | awk 'NR == 2 {print $2}'))"
for i in "${!names[@]}"; do
    t0=$(date +%s.%N)
    bench "${trackers[$i]}" --op upload --size 4K -j 16 -n "$prefill" --keep >/dev/null
    t1=$(date +%s.%N)
    printf '%s: pre-filled %d files of 4 KiB in %.1f s\n' "${names[$i]}" "$prefill" "$(echo "$t1 - $t0" | bc)"
done
echo

printf '%-9s %-6s %-14s %5s %3s %10s %9s %9s %17s %8s\n' server round wave size j "ops/s" "p50 ms" "p99 ms" "CPU-s/10k uploads" "RSS MB"
# The servers in turn, the other way round in even rounds: the first
# wave after a delete wave meets the most recently freed inodes, so
# neither server always takes it (rounds 2 and 3 follow a delete wave,
# hence the default of 3 rounds).
order() { # round
    if (($1 % 2)); then echo "${!names[@]}"; else echo "${!names[@]}" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}
wave() { # round, wave label, size, clients
    local i before used out
    for i in $(order "$1"); do
        before=$(ticks "${spids[$i]}")
        out=$(bench "${trackers[$i]}" --op upload --size "$3" -j "$4" --duration "$secs" --keep)
        used=$(($(ticks "${spids[$i]}") - before))
        echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
name, rnd, label, size, j, ticks, clk, rss, results = sys.argv[1:]
cpu = int(ticks) / int(clk)
per10k = cpu / r["ops"] * 10000 if r["ops"] else float("nan")
print("%-9s %-6s %-14s %5s %3s %10.0f %9.2f %9.2f %17.2f %8s%s" % (name, rnd, label, size, j, r["ops_per_sec"], r["p50_ms"], r["p99_ms"], per10k, rss,
      "  errors %d" % r["errors"] if r["errors"] else ""))
with open(results, "a") as f:
    f.write(json.dumps({"server": name, "round": rnd, "wave": label, "size": size, "j": j, "ops": r["ops_per_sec"], "cpu": per10k}) + "\n")
' "${names[$i]}" "$1" "$2" "$3" "$4" "$used" "$clk" "$(rss_mb "${spids[$i]}")" "$results"
    done
}
for r in $(seq 1 "$rounds"); do
    label=upload
    [[ $r -gt 1 ]] && label="after deletes"
    for size in 4K 64K; do
        for j in 4 16; do
            wave "$r" "$label" "$size" "$j"
        done
    done
    # The delete wave: uploads its files first, then deletes them (timed).
    for i in $(order "$r"); do
        bench "${trackers[$i]}" --op delete --size 4K -j 16 -n $((prefill / 4 > 1000 ? prefill / 4 : 1000)) 2>/dev/null |
            python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-9s %-6s %-14s %5s %3s %10.0f %9.2f %9.2f" % (sys.argv[1], sys.argv[2], "delete wave", "4K", 16, r["ops_per_sec"], r["p50_ms"], r["p99_ms"]))' "${names[$i]}" "$r"
    done
done
if ((${#names[@]} > 1)); then
    echo
    echo "ratio ${names[0]} / ${names[1]} (ops/s: above 1 is faster; CPU per upload: below 1 is cheaper)"
    python3 - "$results" "${names[0]}" "${names[1]}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
a, b = sys.argv[2], sys.argv[3]
key = lambda r: (r["round"], r["wave"], r["size"], r["j"])
ref = {key(r): r for r in rows if r["server"] == b}
print("%-6s %-14s %5s %3s %10s %10s" % ("round", "wave", "size", "j", "ops/s", "CPU/upload"))
for r in rows:
    if r["server"] != a or key(r) not in ref:
        continue
    o = ref[key(r)]
    ops = r["ops"] / o["ops"] if o["ops"] else float("nan")
    cpu = r["cpu"] / o["cpu"] if o["cpu"] else float("nan")
    print("%-6s %-14s %5s %3s %9.2fx %9.2fx" % (*key(r), ops, cpu))
PY
fi

if command -v strace >/dev/null; then
    n=2000
    strace -c -f -o "$work/strace.txt" -p "$storage" 2>/dev/null &
    tracer=$!
    sleep 1
    bench "$tracker" --op upload --size 4K -j 4 -n "$n" --keep >/dev/null
    kill -INT "$tracer" 2>/dev/null
    wait "$tracer" 2>/dev/null || true
    echo
    echo "syscalls per 4 KiB upload (strace -c -f over $n uploads at 4 clients, most frequent first):"
    awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {name = $NF; calls = $4; if (calls + 0 > 0) {total += calls; printf "  %-16s %8.2f\n", name, calls / n}} END {printf "  %-16s %8.2f\n", "total", total / n}' \
        "$work/strace.txt" | sort -k2 -n -r | head -20
else
    echo "(strace not installed: no syscall counts)"
fi
grep -i "data directories" "$work/storage.log" || true
