#!/usr/bin/env bash
# Signal drill for the lb as a real process: SIGHUP applies an edited config
# (a new group becomes routable) without a restart, SIGTERM stops it cleanly
# (exit 0, within shutdown_grace + 1 s). The Rust tests cover the same paths
# in-process; this checks the process-level wiring of the signals.
#
# Needs: cargo, curl, python3 (its http.server is the storage). Loopback only.
# Env: BASE_PORT (47200; the next three ports are used), LB_BIN.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE_PORT:-47200}
P_ORIGIN=$((BASE + 1)) P_EDGE=$((BASE + 2)) P_METRICS=$((BASE + 3))
WORK=$(mktemp -d /tmp/ferrodfs-lb-signals.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${LB_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    (cd "$ROOT" && cargo build -q -p ferrodfs-lb --example lb)
    LB_BIN=$CARGO_TARGET_DIR/debug/examples/lb
fi

for g in group1 group2; do
    mkdir -p "$WORK/data/$g/M00/00/00"
    echo "$g file" >"$WORK/data/$g/M00/00/00/f.txt"
done
python3 -m http.server "$P_ORIGIN" --bind 127.0.0.1 -d "$WORK/data" >"$WORK/origin.log" 2>&1 &
PIDS+=($!)

edge_config() {
    cat >"$WORK/edge.toml" <<EOF2
role = "edge"
listen = "127.0.0.1:$P_EDGE"
metrics_listen = "127.0.0.1:$P_METRICS"
shutdown_grace = "1s"
[edge.groups]
$1
EOF2
}
edge_config "group1 = [\"127.0.0.1:$P_ORIGIN\"]"
"$LB_BIN" --config "$WORK/edge.toml" >"$WORK/edge.log" 2>&1 &
LB=$!
PIDS+=("$LB")

code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_EDGE$1"; }
fail() { echo "signals: FAIL: $*" >&2; tail -20 "$WORK/edge.log" >&2; exit 1; }
for _ in $(seq 1 100); do
    [ "$(code /group1/M00/00/00/f.txt)" = 200 ] && break
    sleep 0.1
done
[ "$(code /group1/M00/00/00/f.txt)" = 200 ] || fail "group1 not served at start"
[ "$(code /group2/M00/00/00/f.txt)" = 404 ] || fail "group2 should be unknown before the reload"

edge_config "group1 = [\"127.0.0.1:$P_ORIGIN\"]
group2 = [\"127.0.0.1:$P_ORIGIN\"]"
kill -HUP "$LB"
ok=0
for _ in $(seq 1 50); do
    if [ "$(code /group2/M00/00/00/f.txt)" = 200 ]; then ok=1; break; fi
    sleep 0.1
done
[ "$ok" = 1 ] || fail "SIGHUP did not make group2 routable"
kill -0 "$LB" || fail "lb died on SIGHUP"
curl -s "http://127.0.0.1:$P_METRICS/metrics" | grep -q 'config_reloads_total{result="ok"' || fail "reload not counted"

start=$(date +%s)
kill -TERM "$LB"
rc=0
wait "$LB" || rc=$?
took=$(($(date +%s) - start))
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
[ "$took" -le 3 ] || fail "SIGTERM took ${took}s"
echo "signals: SIGHUP reload and SIGTERM stop OK"
echo "1 passed, 0 failed"
