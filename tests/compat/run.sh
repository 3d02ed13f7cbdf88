#!/usr/bin/env bash
# Third-party compatibility: py3fdfs (PyPI) against `ferrodfs up`.
# Usage: tests/compat/run.sh [path/to/ferrodfs]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs}"
venv="$root/.venv-py3fdfs"
work="$(mktemp -d)"
cluster_pid=""

cleanup() {
    if [[ -n "$cluster_pid" ]] && kill -0 "$cluster_pid" 2>/dev/null; then
        kill -INT "$cluster_pid"
        wait "$cluster_pid" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet py3fdfs==2.2.0
fi

"$bin" up --dir "$work/cluster" --tracker-port 22122 --storage-port 23000 >"$work/up.out" 2>"$work/up.err" &
cluster_pid=$!
for _ in $(seq 1 300); do
    grep -q "press Ctrl-C" "$work/up.out" 2>/dev/null && break
    if ! kill -0 "$cluster_pid" 2>/dev/null; then
        echo "ferrodfs up exited early:"; cat "$work/up.out" "$work/up.err"; exit 1
    fi
    sleep 0.1
done
grep -q "press Ctrl-C" "$work/up.out" || { echo "cluster not ready"; cat "$work/up.out" "$work/up.err"; exit 1; }

"$venv/bin/python" "$here/py3fdfs_roundtrip.py" "$work/cluster/client.conf"
