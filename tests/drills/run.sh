#!/usr/bin/env bash
# The failover drills, as CI runs them: builds the binary and the node image,
# starts a compose cluster of its own (project ferrodfs-drill on
# $FERRODFS_DRILL_NET.0/24, so a cluster started with `make -C compose up`
# is left alone), runs drill.py under client load, and removes the cluster,
# its network and its volumes whatever happens. Bounded: 15 minutes at most.
#   tests/drills/run.sh [drill.py options, e.g. --only tracker1 --json report.json]
set -euo pipefail
export COMPOSE_PROJECT_NAME=ferrodfs-drill
export FERRODFS_NET="${FERRODFS_DRILL_NET:-172.29.89}"
# shellcheck source=compose/lib.sh source-path=SCRIPTDIR/../..
. "$(dirname "$0")/../../compose/lib.sh"
out="${DRILL_OUT:-$repo_root/target/drills}"
mkdir -p "$out"
rm -rf "$out/nodes"

"$compose_dir/image.sh"
resolve_compose
conf="$out/client.conf"
write_client_conf "$conf"

teardown() {
    local rc=$?
    compose logs --no-color --timestamps >"$out/cluster.log" 2>&1 || true
    compose down -v --timeout 10 >/dev/null 2>&1 || true
    ((rc == 0)) || echo "drills failed; the cluster's logs are in $out/cluster.log, every node's (replaced ones too) in $out/nodes/" >&2
}
trap teardown EXIT

compose down -v --timeout 5 >/dev/null 2>&1 || true
started=$SECONDS
compose up -d --wait --wait-timeout 180
echo "cluster healthy in $((SECONDS - started)) s"
# The VIP daemons are locked in memory (compose grants IPC_LOCK) and ask
# for real-time scheduling (SYS_NICE); where the host's cgroups give
# containers no real-time budget (cgroup v1 with RT group scheduling) the
# latter is refused, which is reported here, not failed.
for lb in lb1 lb2; do
    logs="$(compose logs --no-color "$lb" 2>&1)"
    grep -qF "memory locked (mlockall)" <<<"$logs" ||
        { echo "$lb: the vip daemon did not lock its memory" >&2; exit 1; }
    if grep -qF "real-time scheduling (SCHED_RR)" <<<"$logs"; then
        echo "$lb: vip locked in memory, SCHED_RR"
    else
        echo "$lb: vip locked in memory; SCHED_RR refused by this host's cgroups"
    fi
done

timeout --kill-after=30 900 python3 "$repo_root/tests/drills/drill.py" \
    --compose "$compose_cmd" --ferrodfs "$ferrodfs_bin" --client-conf "$conf" \
    --trackers "$FERRODFS_NET.11:22122" "$FERRODFS_NET.12:22122" \
    --http-base "http://$FERRODFS_NET.130:88/dfs" --vip "$FERRODFS_NET.130" \
    --upgrade "$compose_dir/upgrade.sh --no-build --force" \
    --json "$out/report.json" --node-logs "$out/nodes" "$@"
