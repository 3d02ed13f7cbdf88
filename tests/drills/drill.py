#!/usr/bin/env python3
"""Failover drills against the running compose cluster, under client load.

While the drills run, uploaders put random files through the trackers over
the FastDFS protocol (`ferrodfs upload`, both trackers in client.conf) and
downloaders read acknowledged files back over HTTP through the VIP
(`http://VIP:88/dfs/<file ID>`), comparing every byte. Each drill takes one
node down, holds it down, brings it back, waits until the cluster is whole
again, and then checks on disk, on every member of the file's group, that
every upload acknowledged so far is present and byte-identical.

A drill passes only when nothing acknowledged is lost or altered and no
download returned wrong bytes; failed requests and gaps are reported, and
judged only where the drill says so (see DRILLS): restarting both trackers
must never make the load hear that a group or an acknowledged file does not
exist (ENOENT, HTTP 404), and a storage cut off the network must fail no
upload (placement and the client's retry go to its partner). The rolling upgrade (`--upgrade`: every node recreated one at a
time by compose/upgrade.sh) is judged on failures too: it must fail none.
Standard library only; `compose` and `ferrodfs` are commands given
on the command line. hosts.py runs the drills of the Ansible hosts with this
file's load, checks and report.
"""

import argparse
import collections
import hashlib
import io
import json
import os
import random
import shlex
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request

STORAGES = {
    "group1": ["storage-g1-1", "storage-g1-2"],
    "group2": ["storage-g2-1", "storage-g2-2"],
}
# The FastDFS store path M00 of every storage in compose.yaml.
STORE_PATH = "/fastdfs/storage"


class NodeLogs:
    """Follows the log of every container of the compose project into
    DIR/<container>-<id>.log, those started during the drills included, so
    the logs of a node that a drill or the upgrade replaced are kept."""

    def __init__(self, project, out_dir):
        self.project, self.out_dir = project, out_dir
        self.followed = {}
        self.stop = threading.Event()

    def start(self):
        os.makedirs(self.out_dir, exist_ok=True)
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop.is_set():
            try:
                ids = subprocess.run(
                    ["docker", "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={self.project}"],
                    capture_output=True, text=True, timeout=10,
                ).stdout.split()
                for cid in ids:
                    # A container stopped and started again (same ID) is
                    # followed again, from its new start on.
                    if cid in self.followed and self.followed[cid][0].poll() is None:
                        continue
                    name, started = subprocess.run(
                        ["docker", "inspect", "-f", "{{.Name}} {{.State.StartedAt}}", cid],
                        capture_output=True, text=True, timeout=10,
                    ).stdout.split()
                    since = []
                    if cid in self.followed:
                        _, f, followed_from = self.followed[cid]
                        if started == followed_from:
                            continue  # that run is followed already (it is stopping)
                        f.close()
                        since = ["--since", started]
                    f = open(os.path.join(self.out_dir, f"{name.lstrip('/')}-{cid[:12]}.log"), "ab")
                    self.followed[cid] = (subprocess.Popen(
                        ["docker", "logs", "-f", "--timestamps", *since, cid], stdout=f, stderr=subprocess.STDOUT
                    ), f, started)
            except (OSError, ValueError, subprocess.SubprocessError):
                pass  # a container gone meanwhile
            self.stop.wait(1.0)

    def close(self):
        self.stop.set()
        for p, _, _ in self.followed.values():
            p.terminate()


class Ops:
    """Outcomes of one kind of request, for gaps and counts per drill."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.events = []  # (finish time, ok, why it failed)

    def record(self, ok, why="", detail=""):
        with self.lock:
            self.events.append((time.monotonic(), ok, why))
        if not ok:
            # When and what, to find the request in the nodes' logs.
            at = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
            print(f"    {at} {self.name} failed: {why} {detail}", flush=True)

    def window(self, t0, t1):
        """Attempted, failed, the longest client-visible gap in [t0, t1]:
        the longest time with no request of this kind succeeding (between two
        successes, or a window edge and a success), whether the requests in
        it failed or were slow. At a steady load it is about the interval
        between requests; and every reason for failures, commonest first."""
        with self.lock:
            ev = [e for e in self.events if t0 <= e[0] <= t1]
        attempted = len(ev)
        failed = sum(1 for _, ok, _ in ev if not ok)
        oks = [t0, *(t for t, ok, _ in ev if ok), t1]
        gap = max(b - a for a, b in zip(oks, oks[1:]))
        reasons = collections.Counter(why for _, ok, why in ev if not ok).most_common()
        return attempted, failed, gap, reasons


class Load:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.uploads = Ops("upload")
        self.downloads = Ops("download")
        self.acked = []  # (finish time, file ID, sha256, size)
        self.acked_lock = threading.Lock()
        self.mismatches = []  # file IDs whose HTTP body differed
        self.threads = []

    def start(self):
        for i in range(self.args.uploaders):
            self.threads.append(threading.Thread(target=self.uploader, args=(i,), daemon=True))
        for i in range(self.args.downloaders):
            self.threads.append(threading.Thread(target=self.downloader, args=(i,), daemon=True))
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def uploader(self, n):
        rng = random.Random(n)
        interval = self.args.uploaders / self.args.upload_rate
        while not self.stop.is_set():
            began = time.monotonic()
            data = rng.randbytes(rng.randint(1, 16) * 1024 - rng.randint(0, 1023))
            ok, why = False, ""
            try:
                r = subprocess.run(
                    [self.args.ferrodfs, "upload", "-c", self.args.client_conf, "--ext", "bin", "-"],
                    input=data, capture_output=True, timeout=20,
                )
                fid = r.stdout.decode().strip()
                if r.returncode == 0 and fid.startswith("group"):
                    ok = True
                    with self.acked_lock:
                        self.acked.append((time.monotonic(), fid, hashlib.sha256(data).hexdigest(), len(data)))
                else:
                    why = (r.stderr.decode().strip().splitlines() or ["exit %d" % r.returncode])[-1][:120]
            except subprocess.TimeoutExpired:
                why = "timed out (20 s)"
            self.uploads.record(ok, why)
            self.stop.wait(max(0.0, interval - (time.monotonic() - began)))

    def downloader(self, n):
        rng = random.Random(1000 + n)
        interval = self.args.downloaders / self.args.download_rate
        while not self.stop.is_set():
            began = time.monotonic()
            with self.acked_lock:
                pick = rng.choice(self.acked) if self.acked else None
            if pick is None:
                self.stop.wait(0.1)
                continue
            _, fid, digest, _ = pick
            ok, why = False, ""
            try:
                with urllib.request.urlopen(f"{self.args.http_base}/{fid}", timeout=5) as resp:
                    body = resp.read()
                if hashlib.sha256(body).hexdigest() == digest:
                    ok = True
                else:
                    why = "wrong bytes"
                    self.mismatches.append(fid)
            except urllib.error.HTTPError as e:
                why = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError, ValueError) as e:
                why = type(getattr(e, "reason", e)).__name__
            self.downloads.record(ok, why, f"{fid} (asked {time.monotonic() - began:.2f} s before)")
            self.stop.wait(max(0.0, interval - (time.monotonic() - began)))

    def acked_before(self, t):
        with self.acked_lock:
            return [a for a in self.acked if a[0] <= t]


class Cluster:
    def __init__(self, args):
        self.compose = shlex.split(args.compose)
        self.ferrodfs = args.ferrodfs
        self.trackers = args.trackers

    def run(self, *cmd, timeout=120):
        return subprocess.run([*self.compose, *cmd], capture_output=True, text=True, timeout=timeout)

    def services(self):
        return self.run("config", "--services").stdout.split()

    def container(self, service):
        r = self.run("ps", "-a", "-q", service)
        return r.stdout.strip()

    def healthy(self, service):
        r = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", self.container(service)],
            capture_output=True, text=True,
        )
        return r.stdout.strip() == "healthy"

    def storages_active(self):
        """Every tracker reports both groups with all their members ACTIVE."""
        for t in self.trackers:
            r = subprocess.run([self.ferrodfs, "monitor", "-t", t], capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                return False
            active = [l for l in r.stdout.splitlines() if l.startswith("writable server count")]
            want = [f"writable server count = {len(m)}" for m in STORAGES.values()]
            if sorted(active) != sorted(want):
                return False
        return True

    def wait_whole(self, services, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if all(self.healthy(s) for s in services) and self.storages_active():
                return True
            time.sleep(0.5)
        return False

    def member_files(self, service, wanted):
        """sha256 of each wanted relative path ("data/AB/CD/name") on that
        member's disk, read with `docker cp` (works on a stopped node too)."""
        out = {}
        p = subprocess.Popen(
            ["docker", "cp", f"{self.container(service)}:{STORE_PATH}/data", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        with tarfile.open(fileobj=p.stdout, mode="r|") as tar:
            for m in tar:
                if m.isfile() and m.name in wanted:
                    out[m.name] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
        p.wait()
        return out


def disk_path(fid):
    # group1/M00/AB/CD/name.ext -> data/AB/CD/name.ext (store path M00)
    _, _, d1, d2, name = fid.split("/")
    return f"data/{d1}/{d2}/{name}"


def verify(cluster, acked, limit):
    """Waits up to `limit` s for every acknowledged upload to be on every
    member of its group with the same bytes; returns (checked, missing)."""
    deadline = time.monotonic() + limit
    while True:
        missing = []
        for group, members in STORAGES.items():
            files = [a for a in acked if a[1].startswith(group + "/")]
            wanted = {disk_path(a[1]): a for a in files}
            for m in members:
                have = cluster.member_files(m, set(wanted))
                for path, a in wanted.items():
                    if have.get(path) != a[2]:
                        missing.append((m, a[1], "absent" if path not in have else "different bytes"))
        if not missing or time.monotonic() >= deadline:
            return len(acked), missing
        time.sleep(2)


DRILLS = [
    # name; the key `--only` selects it by; the services taken down; how:
    # `compose stop` (SIGTERM), SIGKILL, or `cut` (the container taken off
    # the cluster network, still running); and what it must not fail:
    # "any" (no failed upload or download), "uploads", "downloads",
    # "not found" (no ENOENT upload and no HTTP 404 download: a node that is
    # down may refuse, but nothing may say an acknowledged file or a group
    # does not exist) or nothing (failures are reported, not judged).
    ("stop tracker1", "tracker1", ["tracker1"], "stop", None),
    ("stop storage-g1-1", "storage-g1-1", ["storage-g1-1"], "stop", None),
    ("stop the VIP holder", "vip-holder", ["lb1", "lb2"], "stop", None),
    ("kill -9 storage-g2-1", "storage-g2-1", ["storage-g2-1"], "kill", None),
    # Stopped together and started again at once: each tracker node runs
    # an edge too, so the edges restart with them.
    ("restart both trackers", "trackers", ["tracker1", "tracker2"], "restart", "not found"),
    ("network cut storage-g1-2", "cut-storage-g1-2", ["storage-g1-2"], "cut", "uploads"),
]


def not_found(reasons):
    """How many of the failures in `reasons` said "does not exist"."""
    return sum(n for r, n in reasons if "ENOENT" in r or r == "HTTP 404")


def judge(rule, up, down):
    """Whether the load's outcomes in a drill keep its rule (see DRILLS);
    `up` and `down` are Ops.window results with every failure reason."""
    if rule == "any":
        return up[1] == 0 and down[1] == 0
    if rule == "uploads":
        return up[1] == 0
    if rule == "downloads":
        return down[1] == 0
    if rule == "not found":
        return not_found(up[3]) == 0 and not_found(down[3]) == 0
    return True


class Cut:
    """A container taken off the cluster network and put back on it with
    the same address: to its peers a cut cable (no RST, no answer), while
    its processes run on."""

    def __init__(self, container):
        self.container = container
        r = subprocess.run(
            ["docker", "inspect", "-f",
             "{{range $n, $c := .NetworkSettings.Networks}}{{$n}} {{$c.IPAddress}}\n{{end}}", container],
            capture_output=True, text=True, check=True,
        )
        self.network, self.ip = r.stdout.split()[:2]

    def __enter__(self):
        subprocess.run(["docker", "network", "disconnect", self.network, self.container],
                       capture_output=True, check=True)
        return self

    def reconnect(self):
        subprocess.run(["docker", "network", "connect", "--ip", self.ip, self.network, self.container],
                       capture_output=True, check=True)

    def __exit__(self, *exc):
        # Put back even when the drill fails half-way; a second connect of
        # an attached container is refused, which is fine.
        subprocess.run(["docker", "network", "connect", "--ip", self.ip, self.network, self.container],
                       capture_output=True)


def take_down(cluster, services, how, hold):
    """Takes `services` down as `how` says, keeps them down `hold` s and
    brings them back. Returns when they were all down (monotonic)."""
    if how == "cut":
        with Cut(cluster.container(services[0])) as cut:
            t_down = time.monotonic()
            time.sleep(hold)
            cut.reconnect()
        return t_down
    if how == "kill":
        for s in services:
            subprocess.run(["docker", "kill", "-s", "KILL", cluster.container(s)], capture_output=True)
    else:
        cluster.run("stop", *services)
    t_down = time.monotonic()
    time.sleep(0 if how == "restart" else hold)
    cluster.run("start", *services)
    return t_down


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compose", required=True, help="the compose command, e.g. 'docker compose -p x -f y'")
    ap.add_argument("--ferrodfs", required=True)
    ap.add_argument("--client-conf", required=True)
    ap.add_argument("--trackers", nargs="+", required=True)
    ap.add_argument("--http-base", required=True, help="http://VIP:88/dfs")
    ap.add_argument("--vip", required=True)
    ap.add_argument("--uploaders", type=int, default=2)
    ap.add_argument("--upload-rate", type=float, default=10.0, help="uploads per second, all uploaders")
    ap.add_argument("--downloaders", type=int, default=2)
    ap.add_argument("--download-rate", type=float, default=20.0)
    ap.add_argument("--down", type=float, default=12.0, help="seconds a node stays down")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds of load after recovery")
    ap.add_argument("--recover-limit", type=float, default=90.0)
    ap.add_argument("--verify-limit", type=float, default=60.0)
    ap.add_argument("--upgrade", help="the rolling upgrade command (compose/upgrade.sh --no-build --force)")
    ap.add_argument("--upgrade-limit", type=float, default=600.0)
    ap.add_argument("--upgrade-log", help="write the upgrade command's output here")
    ap.add_argument("--only", nargs="*", help="drill keys to run (see DRILLS: tracker1, trackers, cut-storage-g1-2...), or 'upgrade' (default: all)")
    ap.add_argument("--json", help="write the report here too")
    ap.add_argument("--node-logs", help="keep every node's log (replaced nodes too) in this directory")
    args = ap.parse_args()

    cluster = Cluster(args)
    ALL = cluster.services()
    if not cluster.wait_whole(ALL, args.recover_limit):
        sys.exit("drills: the cluster is not whole (healthy, every storage ACTIVE) before the drills")
    if args.node_logs:
        NodeLogs(os.environ.get("COMPOSE_PROJECT_NAME", "ferrodfs-drill"), args.node_logs).start()
    load = Load(args)
    load.start()
    time.sleep(args.settle)

    report = []
    for name, key, services, how, rule in DRILLS:
        if any(s not in ALL for s in services) or (args.only and key not in args.only):
            continue
        print(f"--- {name}", flush=True)
        t0 = time.monotonic()
        vip_holder = None
        if key == "vip-holder":
            # With nopreempt the VIP is on whichever LB won the election.
            stopped = vip_owner(args.vip, settle=0)
            if stopped not in ("lb1", "lb2"):
                sys.exit(f"drills: the VIP is held by {stopped!r}, not by one LB node")
            cluster.run("stop", stopped)
            t_down = time.monotonic()
            vip_holder = vip_owner(args.vip)
            time.sleep(args.down)
            cluster.run("start", stopped)
        else:
            t_down = take_down(cluster, services, how, args.down)
        hold = 0 if how == "restart" else args.down
        recovered = cluster.wait_whole(ALL, args.recover_limit)
        t_up = time.monotonic()
        notes = [f"VIP on {vip_holder} while {stopped} was down"] if vip_holder is not None else []
        row = outcome(args, cluster, load, name, rule, (t0, t_down, t_up), hold, recovered, notes)
        if vip_holder is not None:
            row["vip_holder_stopped"] = stopped
            row["vip_on_while_it_was_down"] = vip_holder
        report.append(row)
    if args.upgrade and (not args.only or "upgrade" in args.only):
        report.append(rolling_upgrade(args, cluster, load, ALL))
    load.finish()

    if not args.only:
        # The named volumes: `down` removes every container, `up` makes new
        # ones on the same volumes, and every acknowledged file is still there.
        print("--- compose down, then up (named volumes)", flush=True)
        t0 = time.monotonic()
        cluster.run("down", "--timeout", "15", timeout=300)
        r = cluster.run("up", "-d", "--wait", "--wait-timeout", "180", timeout=300)
        recovered = r.returncode == 0 and cluster.wait_whole(ALL, args.recover_limit)
        checked, missing = verify(cluster, load.acked_before(time.monotonic()), args.verify_limit)
        passed = recovered and not missing
        report.append({
            "drill": "down + up (volumes kept)", "recovered": recovered,
            "recovery_s": round(time.monotonic() - t0, 2),
            "uploads_attempted": 0, "uploads_failed": 0, "upload_longest_gap_s": 0.0,
            "downloads_attempted": 0, "downloads_failed": 0, "download_longest_gap_s": 0.0,
            "acknowledged_checked": checked, "lost_or_different": len(missing), "wrong_bytes_served": 0,
            "passed": passed,
        })
        print(
            f"    whole again in {report[-1]['recovery_s']} s: {'yes' if recovered else 'NO'}\n"
            f"    acknowledged uploads on every member, byte-identical: {checked - len({m[1] for m in missing})}/{checked}"
            + (f"  LOST/DIFFERENT: {missing[:5]}" if missing else "")
            + f"\n    {'PASS' if passed else 'FAIL'}",
            flush=True,
        )

    sys.exit(0 if summary(report, args.json) else 1)

def outcome(args, cluster, load, name, rule, times, hold, recovered, notes=(), holds=True):
    """Judges one drill after its node came back: `settle` s more load, the
    load's window since the drill began, every acknowledged upload checked
    on disk; prints the drill's lines and returns its report row. `times` is
    (began, node down, cluster whole again); `hold` the seconds it was held
    down; `notes` extra lines; `holds` False fails it for a reason of its own
    (named in `notes`)."""
    t0, t_down, t_up = times
    time.sleep(args.settle)
    t1 = time.monotonic()
    up = load.uploads.window(t0, t1)
    down = load.downloads.window(t0, t1)
    checked, missing = verify(cluster, load.acked_before(t_up), args.verify_limit)
    bad_reads = sorted(set(load.mismatches))
    kept = judge(rule, up, down)
    passed = recovered and not missing and not bad_reads and kept and holds
    row = {
        "drill": name,
        "stopped_in_s": round(t_down - t0, 2),
        "recovered": recovered,
        "recovery_s": round(t_up - t_down - hold, 2),
        "uploads_attempted": up[0], "uploads_failed": up[1], "upload_longest_gap_s": round(up[2], 2),
        "downloads_attempted": down[0], "downloads_failed": down[1], "download_longest_gap_s": round(down[2], 2),
        "acknowledged_checked": checked, "lost_or_different": len(missing), "wrong_bytes_served": len(bad_reads),
        "upload_failures": up[3], "download_failures": down[3],
        "must_not_fail": rule, "rule_kept": kept,
        "passed": passed,
    }
    print(
        f"    uploads   {up[0]:5d} attempted {up[1]:4d} failed   longest gap {up[2]:6.2f} s  {why(up[3])}\n"
        f"    downloads {down[0]:5d} attempted {down[1]:4d} failed   longest gap {down[2]:6.2f} s  {why(down[3])}\n"
        f"    recovered {'yes' if recovered else 'NO'} ({row['recovery_s']} s after restart)"
        + "".join(f"\n    {n}" for n in notes)
        + f"\n    acknowledged uploads on every member, byte-identical: {checked - len({m[1] for m in missing})}/{checked}"
        + (f"  LOST/DIFFERENT: {missing[:5]}" if missing else "")
        + (f"\n    wrong bytes served for {bad_reads[:5]}" if bad_reads else "")
        + (f"\n    must fail no request of: {rule} -- {'kept' if kept else 'BROKEN'}" if rule else "")
        + f"\n    {'PASS' if passed else 'FAIL'}",
        flush=True,
    )
    return row


def summary(report, json_path):
    """Prints the table of every drill (and writes `json_path`); true when
    there was a drill and every one passed."""
    print("\ndrill                       uploads(att/fail)  gap s   downloads(att/fail)  gap s   lost  result")
    for r in report:
        print(
            f"{r['drill']:<27} {r['uploads_attempted']:>7}/{r['uploads_failed']:<7} {r['upload_longest_gap_s']:>7.2f}"
            f"   {r['downloads_attempted']:>9}/{r['downloads_failed']:<9} {r['download_longest_gap_s']:>7.2f}"
            f"   {r['lost_or_different']:>4}  {'PASS' if r['passed'] else 'FAIL'}"
        )
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
    passed = sum(r["passed"] for r in report)
    print(f"drills: {passed} passed, {len(report) - passed} failed")
    return bool(report) and passed == len(report)


def rolling_upgrade(args, cluster, load, services):
    """Every node recreated one at a time by the upgrade command while the
    load runs: unlike the drills above, a pass needs zero failed requests."""
    print("--- rolling upgrade (every node, one at a time)", flush=True)
    t0 = time.monotonic()
    r = subprocess.run(shlex.split(args.upgrade), capture_output=True, text=True, timeout=args.upgrade_limit)
    if args.upgrade_log:
        with open(args.upgrade_log, "w") as f:
            f.write(r.stdout + r.stderr)
    done = r.returncode == 0
    recovered = done and cluster.wait_whole(services, args.recover_limit)
    t_up = time.monotonic()
    time.sleep(args.settle)
    t1 = time.monotonic()
    up = load.uploads.window(t0, t1)
    down = load.downloads.window(t0, t1)
    checked, missing = verify(cluster, load.acked_before(t_up), args.verify_limit)
    bad_reads = sorted(set(load.mismatches))
    passed = recovered and not missing and not bad_reads and up[1] == 0 and down[1] == 0
    steps = [l.removeprefix("upgrade: ") for l in r.stderr.splitlines() if l.startswith("upgrade: ")]
    print(
        "".join(f"    {l}\n" for l in steps)
        + f"    uploads   {up[0]:5d} attempted {up[1]:4d} failed   longest gap {up[2]:6.2f} s  {why(up[3])}"
        f"\n    downloads {down[0]:5d} attempted {down[1]:4d} failed   longest gap {down[2]:6.2f} s  {why(down[3])}"
        f"\n    upgrade {'finished' if done else 'FAILED: ' + (r.stderr.strip().splitlines() or ['?'])[-1]}"
        f" in {t_up - t0:.1f} s"
        f"\n    acknowledged uploads on every member, byte-identical: {checked - len({m[1] for m in missing})}/{checked}"
        + (f"  LOST/DIFFERENT: {missing[:5]}" if missing else "")
        + (f"\n    wrong bytes served for {bad_reads[:5]}" if bad_reads else "")
        + f"\n    {'PASS' if passed else 'FAIL'} (a rolling upgrade must fail no request)",
        flush=True,
    )
    return {
        "drill": "rolling upgrade", "recovered": recovered, "recovery_s": round(t_up - t0, 2),
        "uploads_attempted": up[0], "uploads_failed": up[1], "upload_longest_gap_s": round(up[2], 2),
        "downloads_attempted": down[0], "downloads_failed": down[1], "download_longest_gap_s": round(down[2], 2),
        "acknowledged_checked": checked, "lost_or_different": len(missing), "wrong_bytes_served": len(bad_reads),
        "upload_failures": up[3], "download_failures": down[3], "steps": steps,
        "passed": passed,
    }


def why(reasons):
    return "; ".join(f"{n}x {r}" for r, n in reasons[:3])


def vip_owner(vip, settle=2.0):
    """Which LB container has the VIP on eth0 now, after `settle` s (the
    backup taking over)."""
    time.sleep(settle)
    owners = []
    for lb in ("lb1", "lb2"):
        r = subprocess.run(
            ["docker", "ps", "-q", "-f", f"label=com.docker.compose.service={lb}",
             "-f", f"label=com.docker.compose.project={os.environ.get('COMPOSE_PROJECT_NAME', 'ferrodfs')}"],
            capture_output=True, text=True,
        )
        cid = r.stdout.strip()
        if not cid:
            continue
        r = subprocess.run(["docker", "exec", cid, "ip", "-4", "addr", "show", "eth0"], capture_output=True, text=True)
        if f"inet {vip}/" in r.stdout:
            owners.append(lb)
    return ",".join(owners) or "nobody"


if __name__ == "__main__":
    main()
