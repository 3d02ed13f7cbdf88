#!/usr/bin/env bash
# Rolling upgrade of the running compose cluster: builds the binary and the
# image, then recreates one container at a time, each only once the one
# before is ready and back in the cluster, so clients see no failed request:
#   1. storages, one at a time: healthy (/readyz) and ACTIVE again, with
#      its new start time, on every tracker;
#   2. trackers (tracker + edge lb), one at a time: healthy and again
#      listing every storage ACTIVE;
#   3. LB nodes (front lb + vip), the VIP backup first, then the node
#      holding the VIP: healthy, and the VIP held by a node again.
# A container whose image and settings did not change is left alone unless
# --force is given (then every node is restarted the same way).
#   compose/upgrade.sh [--no-build] [--force]
set -euo pipefail
# shellcheck source=compose/lib.sh source-path=SCRIPTDIR/..
. "$(dirname "$0")/lib.sh"

build=1
force=()
for arg in "$@"; do
    case "$arg" in
    --no-build) build=0 ;;
    --force) force=(--force-recreate) ;;
    *) echo "usage: compose/upgrade.sh [--no-build] [--force]" >&2; exit 2 ;;
    esac
done
((build == 0)) || "$compose_dir/image.sh"
resolve_compose
limit="${FERRODFS_UPGRADE_WAIT:-180}"
vip="$FERRODFS_NET.130"
trackers=("$FERRODFS_NET.11" "$FERRODFS_NET.12")

log() { echo "upgrade: $*" >&2; }

container() { compose ps -a -q "$1"; }

healthy() {
    [[ "$(docker inspect -f '{{.State.Health.Status}}' "$(container "$1")" 2>/dev/null)" == healthy ]]
}

# The storages every tracker lists, "group ip state up_time" per line, from
# /status.json on each tracker's metrics listener.
members_of() {
    python3 - "$1" <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}:9122/status.json", timeout=3))
for g in doc["groups"]:
    for m in g["members"]:
        print(g["name"], m["ip"], m["state"], m["up_time"])
PY
}

# Every tracker lists exactly the storages of $roster, all ACTIVE; a
# storage restarted at $2 (Unix time, 0: any) must report a start no older.
whole() {
    local ip="${1:-}" since="${2:-0}" t rows
    for t in "${trackers[@]}"; do
        rows="$(members_of "$t" 2>/dev/null)" || return 1
        [[ "$(awk '{print $1, $2}' <<<"$rows" | sort)" == "$roster" ]] || return 1
        awk -v ip="$ip" -v since="$since" '
            $3 != "ACTIVE" { bad = 1 }
            $2 == ip && $4 < since { bad = 1 }
            END { exit bad }' <<<"$rows" || return 1
    done
}

vip_holder() {
    local lb
    for lb in lb1 lb2; do
        if docker exec "$(container "$lb")" ip -4 addr show eth0 2>/dev/null | grep -qF "inet $vip/"; then
            echo "$lb"
            return
        fi
    done
}

wait_for() {
    local what="$1" deadline=$((SECONDS + limit))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || { log "$what: not reached in $limit s"; return 1; }
        sleep 0.5
    done
}

# Recreates one service if its image or settings changed (or --force);
# returns 1 when it was left as it was.
recreate() {
    local before after
    before="$(container "$1")"
    compose up -d --no-deps "${force[@]}" "$1" >/dev/null 2>&1 ||
        { log "$1: compose up failed"; compose up -d --no-deps "${force[@]}" "$1"; }
    after="$(container "$1")"
    [[ "$before" != "$after" ]]
}

started=$SECONDS
wait_for "the cluster whole before the upgrade" eval 'roster="$(members_of "${trackers[0]}" | awk "{print \$1, \$2}" | sort)"; [[ -n "$roster" ]] && whole'
log "$(wc -l <<<"$roster") storages ACTIVE on ${#trackers[@]} trackers"

for s in $(compose config --services | grep '^storage-' | sort); do
    since="$(date +%s)"
    recreate "$s" || { log "$s: unchanged"; continue; }
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(container "$s")")"
    wait_for "$s healthy" healthy "$s"
    wait_for "$s ACTIVE on every tracker" whole "$ip" "$since"
    log "$s: upgraded, ACTIVE on every tracker ($((SECONDS - started)) s)"
done

for t in tracker1 tracker2; do
    recreate "$t" || { log "$t: unchanged"; continue; }
    wait_for "$t healthy" healthy "$t"
    wait_for "$t listing every storage ACTIVE" whole
    log "$t: upgraded, every storage ACTIVE on it ($((SECONDS - started)) s)"
done

holder="$(vip_holder)"
for lb in lb1 lb2; do [[ "$lb" == "$holder" ]] || order+=("$lb"); done
[[ -z "$holder" ]] || order+=("$holder")
for lb in "${order[@]}"; do
    recreate "$lb" || { log "$lb: unchanged"; continue; }
    wait_for "$lb healthy" healthy "$lb"
    wait_for "the VIP held" eval '[[ -n "$(vip_holder)" ]]'
    log "$lb: upgraded, VIP on $(vip_holder) ($((SECONDS - started)) s)"
done
log "done in $((SECONDS - started)) s"
