#!/usr/bin/env bash
# The Ansible rollout, tested for real: 8 containers running systemd as PID 1
# (a Debian image made here with debootstrap, so no registry is needed)
# stand in for the hosts of ansible/inventory/hosts.yml; site.yml runs
# against them over Ansible's docker connection in check mode on the fresh
# hosts, then for real twice (the second run must change nothing), then a
# file uploaded through the trackers must come back byte-identical over
# HTTP through the VIP; then, under client load (tests/drills/hosts.py),
# both tracker hosts restart at once, a storage is cut off the network, the
# LB hosts run CPU hogs while the VIP must stay put, and upgrade.yml rolls
# a new binary through every host without a failed request. ansible-lint
# checks ansible/.
# Everything it starts is removed on exit. Needs root, docker, debootstrap.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/ansible"
# shellcheck source=compose/lib.sh source-path=SCRIPTDIR/../..
. "$root/compose/lib.sh"
out="$root/target/ansible-test"
mkdir -p "$out"
net=ferrodfs-ansible
subnet=172.29.90
image=ferrodfs-ansible-host:bookworm
hosts=(tracker1:11 tracker2:12 storage-g1-1:21 storage-g1-2:22 storage-g2-1:31 storage-g2-2:32 lb1:131 lb2:132)

# Ansible and ansible-lint from PyPI, in a venv of the repo (git-ignored).
venv="$root/.venv-ansible"
if [[ ! -x "$venv/bin/ansible-lint" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ansible ansible-lint
fi
export PATH="$venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible/ansible.cfg"

build_binary
objcopy --strip-debug "$ferrodfs_bin" "$out/ferrodfs"

# The host image: Debian with systemd, python3 (for Ansible), sudo and
# iptables. Built once per machine; delete the image to rebuild.
if ! docker image inspect "$image" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "run.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    echo "building $image with debootstrap (a few minutes, once)"
    rootfs="$(mktemp -d /var/tmp/ferrodfs-host.XXXXXX)"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,python3,sudo,iptables,iproute2,procps \
        bookworm "$rootfs" http://deb.debian.org/debian >"$out/debootstrap.log" 2>&1
    rm -f "$rootfs/etc/machine-id"
    : >"$rootfs/etc/machine-id"
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' - "$image" >/dev/null
    rm -rf "$rootfs"
fi

teardown() {
    local rc=$?
    for h in "${hosts[@]}"; do
        docker exec "fdfs-ans-${h%%:*}" journalctl --no-pager -u 'ferrodfs-*' >"$out/${h%%:*}.journal" 2>&1 || true
        docker rm -f "fdfs-ans-${h%%:*}" >/dev/null 2>&1 || true
    done
    docker network rm "$net" >/dev/null 2>&1 || true
    ((rc == 0)) || echo "ansible test failed; journals of the hosts are in $out" >&2
}
trap teardown EXIT
teardown
docker network create --subnet "$subnet.0/24" "$net" >/dev/null
for h in "${hosts[@]}"; do
    # systemd as PID 1 without --privileged: cgroups read-only from the host,
    # /run and /run/lock as tmpfs. NET_ADMIN/NET_RAW: iptables and the VIP;
    # SYS_NICE/IPC_LOCK: what root has on a real host (the VIP's realtime).
    # An LB host does not forward (a container's network namespace
    # inherits the machine's ip_forward, often 1): the case where a false
    # failover strands clients on the backup's MAC.
    lb=()
    [[ "${h%%:*}" == lb* ]] && lb=(--sysctl net.ipv4.ip_forward=0)
    docker run -d --name "fdfs-ans-${h%%:*}" --hostname "${h%%:*}" \
        --network "$net" --ip "$subnet.${h##*:}" "${lb[@]}" \
        --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
        --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_NICE --cap-add IPC_LOCK \
        "$image" >/dev/null
done
for h in "${hosts[@]}"; do
    for _ in $(seq 60); do
        state="$(docker exec "fdfs-ans-${h%%:*}" systemctl is-system-running 2>/dev/null || true)"
        [[ "$state" == running || "$state" == degraded ]] && break
        sleep 0.5
    done
done

# The heartbeat comes as a string (-e key=value), as an operator types it.
play_args=(-i "$here/inventory.yml" -e @"$here/vars.yml" -e ferrodfs_binary_src="$out/ferrodfs"
    -e ferrodfs_heart_beat_interval=2)
playbook() {
    ansible-playbook "${play_args[@]}" "$root/ansible/site.yml" "$@"
}
started=$SECONDS
playbook --check >"$out/check.log" 2>&1 || { cat "$out/check.log"; echo "FAIL: --check on fresh hosts" >&2; exit 1; }
echo "check mode on fresh hosts: passed in $((SECONDS - started)) s"
started=$SECONDS
playbook | tee "$out/converge.log"
echo "converged in $((SECONDS - started)) s"
started=$SECONDS
playbook | tee "$out/idempotence.log"
echo "second run in $((SECONDS - started)) s"
if grep -E 'changed=[1-9]' "$out/idempotence.log"; then
    echo "FAIL: the second run changed something" >&2
    exit 1
fi
echo "second run: no changes"

# End to end: upload through the trackers, download through the VIP.
conf="$out/client.conf"
printf 'connect_timeout = 2\nnetwork_timeout = 10\ntracker_server = %s.11:22122\ntracker_server = %s.12:22122\n' \
    "$subnet" "$subnet" >"$conf"
head -c 100000 /dev/urandom >"$out/e2e.bin"
for _ in $(seq 60); do
    id="$("$ferrodfs_bin" upload -c "$conf" "$out/e2e.bin" 2>/dev/null)" && break
    sleep 1
done
echo "uploaded $id"
url="http://$subnet.130:88/dfs/$id"
for _ in $(seq 60); do
    if python3 - "$url" "$out/e2e.bin" <<'PY'; then ok=1; break; fi
import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=3).read()
sys.exit(0 if body == open(sys.argv[2], "rb").read() else 1)
PY
    sleep 1
done
[[ "${ok:-}" == 1 ]] || { echo "FAIL: $url did not serve the uploaded bytes" >&2; exit 1; }
echo "end to end: $url served the uploaded bytes"

# The restart policy: a storage killed with SIGKILL is running again soon.
host=fdfs-ans-storage-g1-1
pid="$(docker exec "$host" systemctl show -p MainPID --value ferrodfs-storage)"
docker exec "$host" kill -9 "$pid"
for _ in $(seq 40); do
    now="$(docker exec "$host" systemctl show -p MainPID --value ferrodfs-storage)"
    [[ "$now" != 0 && "$now" != "$pid" ]] && break
    sleep 0.25
done
[[ "$now" != 0 && "$now" != "$pid" ]] || { echo "FAIL: ferrodfs-storage was not restarted after kill -9" >&2; exit 1; }
echo "restart policy: ferrodfs-storage pid $pid killed, running again as pid $now"

# Each daemon started once by the two runs (no handler restarted a daemon
# just started), and numbers stay numbers when the variable came in as a
# string.
for check in tracker1:ferrodfs-tracker tracker1:ferrodfs-lb storage-g1-2:ferrodfs-storage \
    lb1:ferrodfs-lb lb1:ferrodfs-vip; do
    starts="$(docker exec "fdfs-ans-${check%%:*}" journalctl -u "${check#*:}" -o cat --no-pager | grep -c '^Started ' || true)"
    [[ "$starts" == 1 ]] || { echo "FAIL: ${check%%:*}: ${check#*:} started $starts times, not once" >&2; exit 1; }
done
docker exec fdfs-ans-tracker1 grep -qx 'check_active_interval = 10' /etc/ferrodfs/tracker.toml ||
    { echo "FAIL: tracker.toml: check_active_interval is not 5 heartbeats of 2 s" >&2; exit 1; }
echo "handlers: every daemon started once; check_active_interval = 10"

# The firewall: each host's ports are open, and only those (policy DROP);
# the metrics are open to ferrodfs_metrics_allow (this host).
for check in tracker1:"--dport 22122" tracker1:"--dport 8000" storage-g2-2:"--dport 23000" \
    storage-g2-2:"--dport 8888" lb2:"--dport 88" lb2:"-p vrrp"; do
    docker exec "fdfs-ans-${check%%:*}" iptables -S INPUT | grep -q -- "${check#*:}" ||
        { echo "FAIL: ${check%%:*} has no ACCEPT rule for ${check#*:}" >&2; exit 1; }
done
for h in "${hosts[@]}"; do
    docker exec "fdfs-ans-${h%%:*}" iptables -S INPUT | grep -qx -- '-P INPUT DROP' ||
        { echo "FAIL: ${h%%:*}: the INPUT policy is not DROP" >&2; exit 1; }
done
for probe in 11:9122/readyz 11:9180/readyz 21:9123/readyz 131:9188/readyz 131:9412/healthz; do
    python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "http://$subnet.${probe%%:*}:${probe#*:}" ||
        { echo "FAIL: http://$subnet.${probe%%:*}:${probe#*:} does not answer 200" >&2; exit 1; }
done
echo "firewall: the ports of every role are open, policy DROP; metrics, /healthz and /readyz reachable from the allowed network"

# Probes are neither logged nor counted: the front health-checks the edges'
# /readyz every second and the vip polls the front's; no access line says so.
if docker exec fdfs-ans-tracker1 journalctl -u ferrodfs-lb --no-pager | grep -F readyz; then
    echo "FAIL: the edge logged health probes" >&2
    exit 1
fi
if docker exec fdfs-ans-lb1 journalctl -u 'ferrodfs-*' --no-pager | grep -F $'\e['; then
    echo "FAIL: colour codes in the journal" >&2
    exit 1
fi
echo "logs: no probe lines, no colour codes"

# The VIP daemon may run real-time: its unit keeps CAP_SYS_NICE and
# CAP_IPC_LOCK, and it locks its memory. SCHED_RR itself also needs a
# real-time budget these containers do not get: on cgroup v1 with RT group
# scheduling a container's cpu.rt_runtime_us is 0 unless dockerd runs with
# --cpu-rt-runtime (`docker run --cpu-rt-runtime` is refused otherwise), so
# the daemon logs the refusal and runs at nice -20 instead; the VIP drill
# below prints which it got and holds it to the same rule either way.
host=fdfs-ans-lb2
caps="$(docker exec "$host" systemctl show -p CapabilityBoundingSet --value ferrodfs-vip)"
for cap in cap_sys_nice cap_ipc_lock; do
    grep -qw "$cap" <<<"$caps" || { echo "FAIL: ferrodfs-vip's unit drops $cap: $caps" >&2; exit 1; }
done
journal="$(docker exec "$host" journalctl -u ferrodfs-vip --no-pager)"
grep -qF "memory locked (mlockall)" <<<"$journal" ||
    { echo "FAIL: ferrodfs-vip did not lock its memory" >&2; exit 1; }
if grep -qF "real-time scheduling (SCHED_RR)" <<<"$journal"; then
    sched="SCHED_RR"
elif grep -qF "highest ordinary priority" <<<"$journal"; then
    sched="nice -20 (SCHED_RR refused: no real-time budget)"
else
    echo "FAIL: ferrodfs-vip runs neither SCHED_RR nor at nice -20" >&2
    exit 1
fi
echo "vip: ferrodfs-vip keeps CAP_SYS_NICE and CAP_IPC_LOCK, locks its memory and runs $sched"

# Failover drills under client load (tests/drills/hosts.py): both tracker
# hosts restarted at once (no ENOENT upload, no HTTP 404), storage-g1-2 cut
# off the network (no failed upload), CPU hogs on both LB hosts (no false
# failover, no failed download through the VIP); each checks every
# acknowledged upload on every member of its group. Bounded: 15 minutes.
drill_args=(--ferrodfs "$ferrodfs_bin" --client-conf "$conf" --net "$subnet")
started=$SECONDS
timeout --kill-after=30 900 python3 "$root/tests/drills/hosts.py" "${drill_args[@]}" \
    --only trackers cut vip-hog --json "$out/drills.json" | tee "$out/drills.log" ||
    { echo "FAIL: the failover drills on the hosts" >&2; exit 1; }
echo "failover drills: passed in $((SECONDS - started)) s"

# Rolling upgrade: a new binary (same code, one byte more) through every
# host, one at a time, under client load; no request may fail, and every
# daemon must be a new process afterwards.
main_pids() {
    docker exec "fdfs-ans-$1" sh -c 'for u in ferrodfs-tracker ferrodfs-storage ferrodfs-lb ferrodfs-vip; do
        systemctl show -p MainPID --value $u; done' | tr '\n' ' '
}
declare -A pids_before
for h in "${hosts[@]}"; do pids_before[${h%%:*}]="$(main_pids "${h%%:*}")"; done
printf '\n' >>"$out/ferrodfs"
started=$SECONDS
upgrade=(ansible-playbook "${play_args[@]}" "$root/ansible/upgrade.yml")
timeout --kill-after=30 900 python3 "$root/tests/drills/hosts.py" "${drill_args[@]}" \
    --only upgrade --upgrade "${upgrade[*]@Q}" --upgrade-log "$out/upgrade.log" >"$out/upgrade-drill.log" 2>&1 ||
    { cat "$out/upgrade-drill.log" "$out/upgrade.log"; echo "FAIL: the rolling upgrade" >&2; exit 1; }
cat "$out/upgrade-drill.log"
want="$(sha256sum <"$out/ferrodfs" | cut -d' ' -f1)"
for h in "${hosts[@]}"; do
    h="${h%%:*}"
    [[ "$(docker exec "fdfs-ans-$h" sha256sum /usr/local/bin/ferrodfs | cut -d' ' -f1)" == "$want" ]] ||
        { echo "FAIL: $h does not have the new binary" >&2; exit 1; }
    read -ra old <<<"${pids_before[$h]}"
    read -ra now <<<"$(main_pids "$h")"
    for i in "${!old[@]}"; do
        [[ "${old[$i]}" == 0 || "${now[$i]}" != "${old[$i]}" ]] ||
            { echo "FAIL: $h: a daemon (pid ${old[$i]}) was not restarted on the new binary" >&2; exit 1; }
    done
done
echo "rolling upgrade: every host on the new binary in $((SECONDS - started)) s, no failed request"

(cd "$root/ansible" && ansible-lint --offline)
echo "ansible: 14 passed, 0 failed"
