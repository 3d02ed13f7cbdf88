#!/usr/bin/env python3
"""Failover drills on the Ansible hosts, under client load.

The hosts are the systemd containers of tests/ansible/run.sh (named PREFIX +
the inventory name, on NET.0/24, the roles of ansible/ installed). The load,
the on-disk check of every acknowledged upload on every member of its group
and the report are drill.py's; what differs is how a drill acts on a host:

  trackers   ferrodfs-tracker and the edge (ferrodfs-lb) restarted on both
             tracker hosts at once (`systemctl restart`): no upload may fail
             with ENOENT and no download with HTTP 404.
  cut        storage-g1-2 taken off the network (`docker network
             disconnect`) for --down s, its daemon running on: no failed
             upload.
  vip-hog    CPU hogs on both LB hosts, the MASTER (the one holding the VIP
             when the drill starts: with nopreempt, whichever won the first
             election) and the BACKUP, both with net.ipv4.ip_forward = 0,
             for --hog s: no VRRP state change on either
             (`vrrp_transitions_total`), the VIP configured on the MASTER
             and nowhere else in every sample, no failed download through it.
  upgrade    the --upgrade command (ansible-playbook upgrade.yml): no failed
             request.

Each drill prints attempted/failed uploads and downloads, the longest gap
and the acknowledged uploads verified; exits 0 only when every drill run
passed. Standard library only.
  hosts.py --ferrodfs BIN --client-conf CONF --net 172.29.90 [--only trackers cut vip-hog] [--upgrade CMD]
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drill  # noqa: E402  (load, on-disk check, report)

# tests/ansible/inventory.yml: host, last octet, its readiness probes
# (port/path on the metrics listeners the runner may reach).
HOSTS = {
    "tracker1": (11, ["9122/readyz", "9180/readyz"]),
    "tracker2": (12, ["9122/readyz", "9180/readyz"]),
    "storage-g1-1": (21, ["9123/readyz"]),
    "storage-g1-2": (22, ["9123/readyz"]),
    "storage-g2-1": (31, ["9123/readyz"]),
    "storage-g2-2": (32, ["9123/readyz"]),
    "lb1": (131, ["9188/readyz", "9412/healthz"]),
    "lb2": (132, ["9412/healthz", "9188/readyz"]),
}
TRACKER_UNITS = ["ferrodfs-tracker", "ferrodfs-lb"]
LBS = ("lb1", "lb2")
VIP_METRICS = 9412
VIP_OCTET = 130


class Hosts(drill.Cluster):
    """drill.Cluster's checks (every storage ACTIVE, files on disk) on the
    Ansible hosts: a host is healthy when all its probes answer 200."""

    def __init__(self, args):
        self.prefix = args.prefix
        self.net = args.net
        self.ferrodfs = args.ferrodfs
        self.trackers = [f"{args.net}.{HOSTS[t][0]}:22122" for t in ("tracker1", "tracker2")]

    def services(self):
        return list(HOSTS)

    def container(self, host):
        return self.prefix + host

    def ip(self, host):
        return f"{self.net}.{HOSTS[host][0]}"

    def healthy(self, host):
        for probe in HOSTS[host][1]:
            try:
                with urllib.request.urlopen(f"http://{self.ip(host)}:{probe}", timeout=2) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
        return True

    def exec(self, host, *cmd, timeout=60):
        return subprocess.run(["docker", "exec", self.container(host), *cmd],
                              capture_output=True, text=True, timeout=timeout)

    def vip_holders(self):
        """The LB hosts with the VIP configured on eth0."""
        vip = f"{self.net}.{VIP_OCTET}"
        return [lb for lb in LBS if f"inet {vip}/" in self.exec(lb, "ip", "-4", "addr", "show", "eth0").stdout]

    def vrrp(self, lb):
        """The vip daemon's state and transition counters on `lb`."""
        with urllib.request.urlopen(f"http://{self.ip(lb)}:{VIP_METRICS}/metrics", timeout=3) as r:
            text = r.read().decode()
        out = {}
        for key, pattern in (("state", r"^vrrp_state\{[^}]*\} (\S+)"),
                             ("to_master", r'^vrrp_transitions_total\{[^}]*to="MASTER"[^}]*\} (\S+)'),
                             ("to_backup", r'^vrrp_transitions_total\{[^}]*to="BACKUP"[^}]*\} (\S+)'),
                             ("to_fault", r'^vrrp_transitions_total\{[^}]*to="FAULT"[^}]*\} (\S+)')):
            m = re.search(pattern, text, re.M)
            out[key] = float(m.group(1)) if m else None
        return out

    def scheduling(self, lb):
        """How the vip daemon's log says it is scheduled on `lb`."""
        log = self.exec(lb, "journalctl", "-u", "ferrodfs-vip", "-o", "cat", "--no-pager").stdout
        if "real-time scheduling (SCHED_RR)" in log:
            return "SCHED_RR"
        refused = [l for l in log.splitlines() if "real-time scheduling refused" in l]
        # the error after the message's last ": ", without tracing's fields
        error = re.sub(r"( \w+=\S+)+$", "", refused[-1].rsplit(": ", 1)[-1]) if refused else ""
        why = f" ({error})" if error else ""
        if "highest ordinary priority" in log:
            return "nice -20, SCHED_RR refused" + why
        return "ordinary priority, SCHED_RR refused" + why


def restart_trackers(hosts):
    """Both tracker hosts restart their tracker and edge at the same moment."""
    threads = [threading.Thread(target=hosts.exec, args=(t, "systemctl", "restart", *TRACKER_UNITS))
               for t in ("tracker1", "tracker2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic()


def cut(hosts, host, hold):
    with drill.Cut(hosts.container(host)) as c:
        t_down = time.monotonic()
        time.sleep(hold)
        c.reconnect()
    return t_down


class Hogs:
    """Busy loops, two per core, in each LB host, at ordinary priority; each
    ends by itself after `secs` (coreutils timeout) and is killed by pid on
    exit, so a drill that fails half-way leaves none behind."""

    def __init__(self, hosts, secs):
        self.hosts, self.secs, self.pids = hosts, secs, {}

    def __enter__(self):
        cores = os.cpu_count() or 2
        for lb in LBS:
            r = self.hosts.exec(lb, "sh", "-c",
                                f'for i in $(seq {2 * cores}); do timeout {int(self.secs) + 5} sh -c "while :; do :; done" '
                                '>/dev/null 2>&1 & echo $!; done')
            self.pids[lb] = r.stdout.split()
        return self

    def __exit__(self, *exc):
        for lb, pids in self.pids.items():
            if pids:
                self.hosts.exec(lb, "kill", *pids)


def vip_hog(hosts, args):
    """Keeps the hogs running `args.hog` s while sampling who holds the VIP;
    returns (when the hogs started, notes, whether the VIP held)."""
    notes = []
    holders_before = hosts.vip_holders()
    master = holders_before[0] if len(holders_before) == 1 else LBS[0]
    backup = next(lb for lb in LBS if lb != master)
    fwd = {lb: hosts.exec(lb, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() for lb in (master, backup)}
    rt = {lb: hosts.scheduling(lb) for lb in (master, backup)}
    notes.append("ip_forward " + ", ".join(f"{lb} {v}" for lb, v in fwd.items())
                 + "; vip daemon " + ", ".join(f"{lb} {v}" for lb, v in rt.items()))
    before = {lb: hosts.vrrp(lb) for lb in (master, backup)}
    samples, wrong = 0, []
    with Hogs(hosts, args.hog):
        t_down = time.monotonic()
        while time.monotonic() - t_down < args.hog:
            h = hosts.vip_holders()
            samples += 1
            if h != [master]:
                wrong.append((round(time.monotonic() - t_down, 1), ",".join(h) or "nobody"))
            time.sleep(0.2)
    after = {lb: hosts.vrrp(lb) for lb in (master, backup)}
    changes = {lb: {k: after[lb][k] - before[lb][k] for k in ("to_master", "to_backup", "to_fault")}
               for lb in (master, backup)}
    false_failovers = changes[backup]["to_master"]
    held = (all(v == 0 for c in changes.values() for v in c.values())
            and holders_before == [master] and not wrong and all(v == "0" for v in fwd.values()))
    notes.append(f"{args.hog:.0f} s of CPU hogs on {master} and {backup}: VIP on {master} alone in "
                 f"{samples - len(wrong)}/{samples} samples"
                 + (f" (else: {wrong[:5]})" if wrong else "")
                 + f"; {backup} -> MASTER {false_failovers:.0f} (false failovers), "
                 + ", ".join(f"{lb} -> BACKUP {c['to_backup']:.0f}, -> FAULT {c['to_fault']:.0f}" for lb, c in changes.items()))
    notes.append(f"VIP on {master} and no VRRP state change throughout -- {'kept' if held else 'BROKEN'}")
    return t_down, notes, held


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferrodfs", required=True)
    ap.add_argument("--client-conf", required=True)
    ap.add_argument("--net", required=True, help="the hosts' /24, e.g. 172.29.90")
    ap.add_argument("--prefix", default="fdfs-ans-", help="container name = prefix + inventory name")
    ap.add_argument("--uploaders", type=int, default=1)
    ap.add_argument("--upload-rate", type=float, default=4.0)
    ap.add_argument("--downloaders", type=int, default=1)
    ap.add_argument("--download-rate", type=float, default=8.0)
    ap.add_argument("--down", type=float, default=10.0, help="seconds the storage stays cut off")
    ap.add_argument("--hog", type=float, default=60.0, help="seconds of CPU hogs on the LB hosts")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of load before the drills and after each")
    ap.add_argument("--recover-limit", type=float, default=90.0)
    ap.add_argument("--verify-limit", type=float, default=60.0)
    ap.add_argument("--upgrade", help="the rolling upgrade command")
    ap.add_argument("--upgrade-limit", type=float, default=600.0)
    ap.add_argument("--upgrade-log", help="write the upgrade command's output here")
    ap.add_argument("--only", nargs="*", default=["trackers", "cut", "vip-hog", "upgrade"])
    ap.add_argument("--json", help="write the report here too")
    args = ap.parse_args()
    args.http_base = f"http://{args.net}.{VIP_OCTET}:88/dfs"

    hosts = Hosts(args)
    every = hosts.services()
    if not hosts.wait_whole(every, args.recover_limit):
        sys.exit("drills: the hosts are not whole (every probe 200, every storage ACTIVE) before the drills")
    load = drill.Load(args)
    load.start()
    time.sleep(args.settle)
    report = []
    drills = [
        ("trackers", "restart both tracker hosts", "not found"),
        ("cut", "network cut storage-g1-2", "uploads"),
        ("vip-hog", "VIP, CPU hogs on both LBs", "downloads"),
    ]
    for key, name, rule in drills:
        if key not in args.only:
            continue
        print(f"--- {name}", flush=True)
        t0 = time.monotonic()
        notes, holds, hold = [], True, 0.0
        if key == "trackers":
            t_down = restart_trackers(hosts)
        elif key == "cut":
            t_down, hold = cut(hosts, "storage-g1-2", args.down), args.down
        else:
            t_down, notes, holds = vip_hog(hosts, args)
            hold = args.hog
        recovered = hosts.wait_whole(every, args.recover_limit)
        t_up = time.monotonic()
        report.append(drill.outcome(args, hosts, load, name, rule, (t0, t_down, t_up), hold, recovered, notes, holds))
    if args.upgrade and "upgrade" in args.only:
        report.append(drill.rolling_upgrade(args, hosts, load, every))
    load.finish()
    sys.exit(0 if drill.summary(report, args.json) else 1)


if __name__ == "__main__":
    main()
