#!/usr/bin/env bash
# Third-party compatibility: every FastDFS client on PyPI against `ferrodfs up`.
#
# Usage: tests/compat/run.sh [path/to/ferrodfs]
#
# Each client gets its own venv (.venv-compat-<name> at the repository root;
# several of them install the same module, fdfs_client), created on first
# use with a pinned version. One `ferrodfs up` cluster serves all of them;
# each client's script prints its table (operation: ok / FAIL / skipped:
# reason) and a summary matrix follows. Exits non-zero if any check that is
# not skipped failed.
#
# Environment:
#   COMPAT_CLIENTS       clients to run (default: all, see CLIENTS below)
#   COMPAT_MODE          ci (default) or all (also runs the calls that are
#                        known to be broken in the client, see README.md)
#   COMPAT_CLIENT_CONF   use this client.conf instead of starting a cluster
#                        (e.g. to run the same checks against FastDFS itself)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs}"
mode="${COMPAT_MODE:-ci}"

# name | pip requirements (pinned) | script
CLIENTS=(
    "py3fdfs|py3fdfs==2.2.0|compat_py3fdfs.py"
    "fdfs-client-py3|fdfs-client-py3==1.0.0|compat_fdfs_client_py3.py"
    "fastdfs-client-py3|fastdfs-client-py3==1.0.0|compat_fastdfs_client_py3.py"
    "easypyfdfs|easypyfdfs==3.0.1|compat_easypyfdfs.py"
    "aiofdfs|aiofdfs==0.1.30 aiofiles==25.1.0|compat_aiofdfs.py"
)
selected="${COMPAT_CLIENTS:-py3fdfs fdfs-client-py3 fastdfs-client-py3 easypyfdfs aiofdfs}"

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

# -- venvs -------------------------------------------------------------------
python_is_312=$(python3 -c 'import sys; print(int(sys.version_info >= (3, 12)))')
ensure_venv() {
    local name="$1" reqs="$2" venv="$root/.venv-compat-$1"
    local stamp="$venv/.compat-requirements"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$reqs" ]]; then
        return
    fi
    echo "creating $venv ($reqs)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    local extra=()
    # aiofdfs 0.1.20+ declares Python >= 3.12 (there is no older release on
    # PyPI) but only needs 3.11's typing.Self; Debian 12 ships 3.11.
    if [[ "$name" == aiofdfs && "$python_is_312" == 0 ]]; then
        extra=(--ignore-requires-python)
    fi
    # shellcheck disable=SC2086 # $reqs is a list of requirement specifiers
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${extra[@]}" $reqs
    echo "$reqs" >"$stamp"
}
for entry in "${CLIENTS[@]}"; do
    IFS='|' read -r name reqs script <<<"$entry"
    [[ " $selected " == *" $name "* ]] && ensure_venv "$name" "$reqs"
done

# -- cluster -----------------------------------------------------------------
if [[ -n "${COMPAT_CLIENT_CONF:-}" ]]; then
    conf="$COMPAT_CLIENT_CONF"
else
    if [[ ! -x "$bin" && -z "${1:-}" ]]; then
        (cd "$root" && cargo build --release --bin ferrodfs)
    fi
    # These clients parse only the legacy list-groups/list-storages records.
    "$bin" up --dir "$work/cluster" --tracker-port 22122 --storage-port 23000 --stat-layout legacy >"$work/up.out" 2>"$work/up.err" &
    cluster_pid=$!
    for _ in $(seq 1 300); do
        grep -q "press Ctrl-C" "$work/up.out" 2>/dev/null && break
        if ! kill -0 "$cluster_pid" 2>/dev/null; then
            echo "ferrodfs up exited early:"; cat "$work/up.out" "$work/up.err"; exit 1
        fi
        sleep 0.1
    done
    grep -q "press Ctrl-C" "$work/up.out" || { echo "cluster not ready"; cat "$work/up.out" "$work/up.err"; exit 1; }
    conf="$work/cluster/client.conf"
fi

# -- clients -----------------------------------------------------------------
status=0
results=()
for entry in "${CLIENTS[@]}"; do
    IFS='|' read -r name reqs script <<<"$entry"
    [[ " $selected " == *" $name "* ]] || continue
    out="$work/results-$name.json"
    if ! COMPAT_RESULTS="$out" timeout 300 "$root/.venv-compat-$name/bin/python" "$here/$script" "$conf" "$mode"; then
        status=1
        [[ -f "$out" ]] || echo "FAIL: $name's script ended without results"
    fi
    [[ -f "$out" ]] && results+=("$out")
    echo
done

python3 "$here/summary.py" "${results[@]}" || status=1
exit "$status"
