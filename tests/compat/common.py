"""Shared helpers for the third-party client compatibility scripts.

Every script runs one FastDFS client from PyPI (each in its own venv) against
a cluster described by a FastDFS client.conf, one operation per check, and
prints a table: ok / FAIL / skipped: reason.

Modes (second command-line argument):
  ci   (default) Operations in which the client itself is broken against
       FastDFS 6.16 (found by running the same script in `all` mode against a
       FastDFS 6.16 cluster) are bridged minimally or skipped, and the reason,
       naming the client bug, is printed in the table.
  all  Every operation is run the way a user of the client would call it,
       even the ones known to be broken in the client; the bridged variants
       run as extra rows. Use it against a FastDFS cluster to confirm that a
       failure is the client's own (see README.md in this directory).

Exit status: 1 if any check that is not skipped failed (in `all` mode, the
expected failures of known client bugs do not count).
"""

import asyncio
import contextlib
import json
import os
import signal
import statistics
import struct
import sys
import time

# Median of 50 small downloads (tracker query + storage download each). The
# py3fdfs family sends header and body in two send()s with Nagle on; a server
# that delays its ACK stalls each request ~40 ms (median 44 ms before the
# quick-ACK fix; FastDFS 6.16 and fixed ferrodfs: well under 1 ms here).
# FERRODFS_COMPAT_ASSERT_LATENCY=0 only reports the figure.
LATENCY_LIMIT_MS = 20.0
LATENCY_SAMPLES = 50


class Skip(Exception):
    """Raised by a check that cannot run (prerequisite missing)."""


class ClientBug:
    """A defect of the client itself: it fails against FastDFS 6.16 too."""

    def __init__(self, reason, bridge=None, bridge_note=None):
        self.reason = reason
        self.bridge = bridge  # callable doing the same operation minimally bridged
        self.bridge_note = bridge_note or "bridged"


class Fail(AssertionError):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def expect_eq(got, want, what):
    if got != want:
        g, w = repr(got), repr(want)
        raise Fail(f"{what}: got {g[:120]}, want {w[:120]}")


class _Timeout(Exception):
    pass


def _short(exc):
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 240 else text[:237] + "..."


class Report:
    def __init__(self, client, version, argv):
        self.client = client
        self.version = version
        self.conf = argv[1]
        self.mode = argv[2] if len(argv) > 2 else "ci"
        if self.mode not in ("ci", "all"):
            raise SystemExit(f"unknown mode {self.mode!r} (ci or all)")
        self.rows = []  # (op, status, detail, counts_as_failure)
        self.loop = None
        self.reset_hook = None  # called after a failed check
        print(f"== {client} {version} (mode {self.mode}) against {self.conf}", flush=True)

    # -- running one operation -------------------------------------------
    def _call(self, fn, timeout):
        if asyncio.iscoroutinefunction(fn):
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            return self.loop.run_until_complete(asyncio.wait_for(fn(), timeout))

        def on_alarm(signum, frame):
            raise _Timeout(f"no answer within {timeout} s")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(timeout)
        try:
            return fn()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    def _run(self, op, fn, timeout, expected=None, label=None):
        """Run fn; record the row. `expected`: the reason a failure is
        expected (all mode only; such a failure does not count)."""
        try:
            detail = self._call(fn, timeout)
        except Skip as e:
            self._row(op, f"skipped: {e}", "", False)
            return False
        except (asyncio.TimeoutError, _Timeout) as e:
            detail, ok = _short(_Timeout(str(e) or f"no answer within {timeout} s")), False
        except Exception as e:  # noqa: BLE001 - every failure is reported
            detail, ok = _short(e), False
        else:
            ok = True
        detail = "" if detail is None else str(detail)
        if expected is not None:
            if ok:
                self._row(op, "ok (listed as a client bug: re-check the list)", detail, False)
            else:
                self._row(op, f"FAIL (expected: {expected})", detail, False)
        else:
            status = "ok" if ok else "FAIL"
            if label:
                status = f"{status} ({label})"
            self._row(op, status, detail, not ok)
        if not ok and self.reset_hook is not None:
            # A failed call can leave a pooled connection mid-message; start
            # the next check on fresh connections so failures do not cascade.
            self.reset_hook()
        return ok

    def check(self, op, fn, bug=None, timeout=15):
        """One operation. `bug` marks an operation the client gets wrong
        against FastDFS itself: in ci mode its bridge runs instead (or it is
        skipped); in all mode the raw call runs too, as an expected failure."""
        if bug is None:
            return self._run(op, fn, timeout)
        if self.mode == "all":
            self._run(op, fn, timeout, expected=f"client bug: {bug.reason}")
            if bug.bridge is not None:
                return self._run(f"{op} [bridged]", bug.bridge, timeout, label=bug.bridge_note)
            return False
        if bug.bridge is None:
            self._row(op, f"skipped: client bug: {bug.reason}", "", False)
            return False
        return self._run(op, bug.bridge, timeout, label=f"{bug.bridge_note}; client bug: {bug.reason}")

    def skip(self, op, reason):
        self._row(op, f"skipped: {reason}", "", False)

    def _row(self, op, status, detail, failed):
        self.rows.append((op, status, detail, failed))
        line = f"  {op:<44} {status}"
        if detail:
            line += f"  -- {detail}"
        print(line, flush=True)

    # -- end ---------------------------------------------------------------
    def finish(self):
        if self.loop is not None:
            self.loop.close()
        failed = [r for r in self.rows if r[3]]
        ok = sum(1 for r in self.rows if r[1].startswith("ok"))
        skipped = sum(1 for r in self.rows if r[1].startswith("skipped"))
        print(f"-- {self.client} {self.version}: {ok} ok, {len(failed)} FAIL, {skipped} skipped", flush=True)
        out = os.environ.get("COMPAT_RESULTS")
        if out:
            with open(out, "w") as f:
                json.dump({"client": self.client, "version": self.version, "mode": self.mode,
                           "rows": [list(r) for r in self.rows]}, f, indent=1)
        sys.exit(1 if failed else 0)


# -- timing ------------------------------------------------------------------
def latency_check(samples_ms):
    """Summarise per-request times; assert only when asked to (see top)."""
    med = statistics.median(samples_ms)
    p90 = sorted(samples_ms)[int(len(samples_ms) * 0.9) - 1]
    text = (f"median {med:.1f} ms, p90 {p90:.1f} ms, max {max(samples_ms):.1f} ms "
            f"over {len(samples_ms)} downloads")
    if os.environ.get("FERRODFS_COMPAT_ASSERT_LATENCY", "1") != "0":
        expect(med < LATENCY_LIMIT_MS, f"{text}: median not under {LATENCY_LIMIT_MS:.0f} ms")
    else:
        text += f" (reported, not asserted; limit {LATENCY_LIMIT_MS:.0f} ms)"
    return text


def timed(fn, n=LATENCY_SAMPLES):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


async def timed_async(fn, n=LATENCY_SAMPLES):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


# -- FastDFS facts -----------------------------------------------------------
def split_id(file_id):
    """'group1/M00/00/00/x.bin' -> ('group1', 'M00/00/00/x.bin'), as str."""
    if isinstance(file_id, bytes):
        file_id = file_id.decode()
    group, _, name = file_id.partition("/")
    return group, name


def check_file_id(file_id, ext):
    """A normal (non-slave) FastDFS file ID: group/M00/XX/YY/<27 base64><7>."""
    group, name = split_id(file_id)
    expect(group in ("group1", "group2"), f"group of {file_id!r}")
    parts = name.split("/")
    expect(len(parts) == 4 and parts[0] == "M00", f"path of {file_id!r}")
    expect(all(len(p) == 2 and p == p.upper() for p in parts[1:3]), f"data dirs of {file_id!r}")
    expect(len(name) == 44, f"remote filename {name!r} is {len(name)} chars, FastDFS makes 44")
    expect(name.endswith("." + ext) if ext else "." not in parts[3], f"extension of {file_id!r}")
    return f"{group}/{name}"


def slave_file_id(master_id, prefix, ext):
    """FastDFS's slave name (fdfs_gen_slave_filename): the master's remote
    name up to the dot in its last 7 chars, then prefix, then '.' + ext."""
    group, name = split_id(master_id)
    tail = len(name) - 7
    dot = name.find(".", tail)
    base = name if dot < 0 else name[:dot]
    return f"{group}/{base}{prefix}" + (f".{ext}" if ext else "")


# -- bridging: Python-2 leftovers that pack str into struct "s" fields --------
class StrToBytesStruct:
    """Stands in for the `struct` module inside a client module: encodes str
    arguments to bytes before packing (the clients were ported from Python 2
    and pass str where Python 3's struct wants bytes)."""

    def __getattr__(self, name):
        return getattr(struct, name)

    @staticmethod
    def pack(fmt, *args):
        return struct.pack(fmt, *[a.encode() if isinstance(a, str) else a for a in args])


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def unpack_metadata_bytes(raw):
    """FastDFS metadata reply: records split by 0x01, key/value by 0x02."""
    if isinstance(raw, str):
        raw = raw.encode()
    items = [i.split(b"\x02", 1) for i in raw.split(b"\x01") if i]
    return {k.decode(): v.decode() for k, v in items}


# -- list-groups / list-storages record layouts --------------------------------
GROUP_LEN = {105: "legacy", 113: "current"}
LAYOUT_BUG = ("parses only the legacy records (FastDFS <= 6.10: 105-byte group, 612-byte storage); "
              "this tracker sends the 6.13+ ones (113 / 487 bytes), as FastDFS 6.16 does")


def layout_of(body_len, groups=2):
    """'legacy' or 'current' from the size of a list-all-groups reply."""
    per = body_len // groups if groups else 0
    if body_len != per * groups or per not in GROUP_LEN:
        raise Fail(f"list-all-groups reply of {body_len} bytes is neither layout for {groups} groups")
    return GROUP_LEN[per]


def current_layout_classes(group_cls, storage_cls):
    """Subclasses of a client's Group_info / Storage_info that read the
    current (FastDFS 6.13+) records, IPv4 width, into the same attributes
    (active_count = readable servers)."""

    class GroupInfoCurrent(group_cls):
        def __init__(self):
            super().__init__()
            self.fmt = "!17s 11Q q"

        def set_info(self, b):
            (name, total, free, _reserved, trunk_free, self.count, self.storage_port, readable, writable,
             self.curr_write_server, self.store_path_count, self.subdir_count_per_path,
             self.curr_trunk_file_id) = struct.unpack(self.fmt, b)
            self.group_name = name.strip(b"\x00")
            self.totalMB, self.freeMB, self.trunk_freeMB = f"{total}MB", f"{free}MB", f"{trunk_free}MB"
            self.active_count, self.writable_count = readable, writable

    class StorageInfoCurrent(storage_cls):
        def __init__(self):
            super().__init__()
            self.fmt = "!B B 16s 16s 16s 8s 10Q 12s 42Q ?"

        def set_info(self, b):
            v = struct.unpack(self.fmt, b)
            self.status, self.rw_mode = v[0], v[1]
            self.id, self.ip_addr, self.src_id, self.version = (x.strip(b"\x00") for x in v[2:6])
            (self.join_time, self.up_time, total, free, _reserved, self.upload_prio, self.store_path_count,
             self.subdir_count_per_path, self.curr_write_path, self.storage_port) = v[6:16]
            self.totalMB, self.freeMB = f"{total}MB", f"{free}MB"
            return True

    return GroupInfoCurrent, StorageInfoCurrent
