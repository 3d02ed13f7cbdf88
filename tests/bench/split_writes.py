#!/usr/bin/env python3
"""Per-request latency of a FastDFS client that sends each request's
header and body in separate writes, the way the FastDFS C client and the
Python clients do, once with Nagle on (their default) and once with
TCP_NODELAY, against the trackers and storages of a running cluster.

Usage: split_writes.py CLIENT_CONF [ROUNDS]
Prints one table row per (request, socket option): p50/p99/max in ms.
"""
import socket
import struct
import sys
import time

QUERY_STORE_WITH_GROUP_ONE, UPLOAD_FILE, DOWNLOAD_FILE, DELETE_FILE = 104, 11, 14, 12


def trackers(conf):
    out = []
    for line in open(conf):
        k, _, v = line.partition("=")
        if k.strip() == "tracker_server":
            host, port = v.strip().rsplit(":", 1)
            out.append((host, int(port)))
    return out


class Conn:
    def __init__(self, addr, nodelay):
        self.s = socket.create_connection(addr, timeout=10)
        if nodelay:
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return bytes(buf)

    def call(self, cmd, *pieces):
        total = sum(len(p) for p in pieces)
        self.s.sendall(struct.pack(">QBB", total, cmd, 0))
        for p in pieces:
            self.s.sendall(p)
        length, _, status = struct.unpack(">QBB", self.recv_exact(10))
        body = self.recv_exact(length)
        if status != 0:
            raise RuntimeError(f"command {cmd}: status {status}")
        return body


def timed(rounds, f):
    for _ in range(3):
        f()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], times[-1]


def group_field(g):
    return g.encode().ljust(16, b"\0")


def main():
    conf = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    tracker = trackers(conf)[0]
    data = bytes(range(256)) * 20  # 5 KiB
    rows = []
    for nodelay in (False, True):
        label = "TCP_NODELAY" if nodelay else "Nagle on"
        t = Conn(tracker, nodelay)
        reply = t.call(QUERY_STORE_WITH_GROUP_ONE, group_field("group1"))
        rows.append(("tracker query (104)", label, timed(rounds, lambda: t.call(QUERY_STORE_WITH_GROUP_ONE, group_field("group1")))))
        ip = reply[16:31].rstrip(b"\0").decode()
        port = struct.unpack(">Q", reply[31:39])[0]
        s = Conn((ip, port), nodelay)
        fixed = bytes([reply[39]]) + struct.pack(">Q", len(data)) + b"bin".ljust(6, b"\0")
        names = []
        rows.append(("storage upload 5 KiB", label, timed(rounds, lambda: names.append(s.call(UPLOAD_FILE, fixed, data)[16:]))))
        name = names[-1]
        dl = struct.pack(">QQ", 0, 0) + group_field("group1") + name
        rows.append(("storage download 5 KiB", label, timed(rounds, lambda: s.call(DOWNLOAD_FILE, dl))))
        for n in names:
            s.call(DELETE_FILE, group_field("group1"), n)
    print(f"{'request (header and body in separate writes)':<46} {'client socket':<12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for what, label, (p50, p99, mx) in rows:
        print(f"{what:<46} {label:<12} {p50:>8.3f} {p99:>8.3f} {mx:>8.3f}")


if __name__ == "__main__":
    main()
