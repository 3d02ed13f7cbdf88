#!/usr/bin/env python3
"""Runs one command under client load and fails if any request failed.

The load is drill.py's: uploads through the trackers (`ferrodfs upload`,
client.conf) and byte-checked downloads of acknowledged files through the
VIP. Prints attempted/failed requests and the longest gap per kind; exits 0
only when the command succeeded and no request failed or returned wrong
bytes. Used for the Ansible rolling upgrade (tests/ansible/run.sh):
  under_load.py --ferrodfs BIN --client-conf CONF --http-base http://VIP:88/dfs -- CMD...
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drill  # noqa: E402  (the load generator)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferrodfs", required=True)
    ap.add_argument("--client-conf", required=True)
    ap.add_argument("--http-base", required=True)
    ap.add_argument("--uploaders", type=int, default=1)
    ap.add_argument("--upload-rate", type=float, default=4.0)
    ap.add_argument("--downloaders", type=int, default=1)
    ap.add_argument("--download-rate", type=float, default=8.0)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of load before and after the command")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()

    load = drill.Load(args)
    load.start()
    time.sleep(args.settle)
    t0 = time.monotonic()
    rc = subprocess.run(args.command).returncode
    time.sleep(args.settle)
    t1 = time.monotonic()
    load.finish()
    up = load.uploads.window(t0, t1)
    down = load.downloads.window(t0, t1)
    bad = sorted(set(load.mismatches))
    print(
        f"under load ({t1 - t0:.1f} s): command exit {rc}\n"
        f"  uploads   {up[0]:5d} attempted {up[1]:4d} failed   longest gap {up[2]:6.2f} s  {drill.why(up[3])}\n"
        f"  downloads {down[0]:5d} attempted {down[1]:4d} failed   longest gap {down[2]:6.2f} s  {drill.why(down[3])}"
        + (f"\n  wrong bytes served for {bad[:5]}" if bad else ""),
        flush=True,
    )
    sys.exit(0 if rc == 0 and up[0] > 0 and down[0] > 0 and up[1] == 0 and down[1] == 0 and not bad else 1)


if __name__ == "__main__":
    main()
