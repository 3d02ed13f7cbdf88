#!/usr/bin/env bash
# Runs the README's first command exactly as written (the first line of its
# first sh block), with the cluster's directory in a temp dir, until the
# demo URL it prints answers with the demo file; then stops it with Ctrl-C.
# Usage: tests/readme/quickstart.sh [timeout seconds, default 1200]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
limit="${1:-1200}"
cmd="$(awk '/^```sh$/{f=1;next} f{print; exit}' README.md | sed 's/[[:space:]]*#.*$//')"
[[ -n "$cmd" ]] || { echo "README.md: no first command in a sh block" >&2; exit 1; }
work="$(mktemp -d)"
export FERRODFS_UP_DIR="$work/cluster"
echo "README first command: $cmd"
# Made here, not by the background shell: the loop below reads them at once.
: >"$work/out"
: >"$work/err"
setsid bash -c "$cmd" >"$work/out" 2>"$work/err" &
pid=$!
# Ctrl-C to the whole process group, as a terminal would; then up to 30 s
# for the cluster to stop its daemons before anything left is killed.
stop() {
    kill -INT -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT
# 200 with a body, or a non-zero exit.
fetch='import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 and r.read() else 1)'
deadline=$((SECONDS + limit))
url=""
while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "the README's first command exited before its demo URL answered:" >&2
        tail -n 30 "$work/out" "$work/err" >&2
        exit 1
    fi
    url="$(sed -n 's/^open it:[[:space:]]*//p' "$work/out" | head -n 1)"
    if [[ -n "$url" ]] && python3 -c "$fetch" "$url" 2>/dev/null; then
        echo "demo URL answers: $url"
        exit 0
    fi
    sleep 1
done
echo "the demo URL did not answer within ${limit}s (url: ${url:-not printed})" >&2
tail -n 30 "$work/out" "$work/err" >&2
exit 1
