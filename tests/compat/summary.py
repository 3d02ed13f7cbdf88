"""Summary matrix of the compatibility scripts' results (one JSON per client).

Usage: python3 summary.py results-*.json
Prints operation x client (ok, ok* = bridged around a client bug, FAIL,
skip, - = not offered), the failures with their details, and a closing
'N passed, N failed, N skipped' line. Exits 1 if anything failed.
"""

import json
import sys


def short(status):
    if status.startswith("ok ("):
        return "ok*" if "bridged" in status else "ok"
    if status.startswith("ok"):
        return "ok"
    if status.startswith("FAIL (expected"):
        return "xfail"
    if status.startswith("FAIL"):
        return "FAIL"
    return "skip"


def main(paths):
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    if not runs:
        print("compat: no results")
        return 1
    ops = []
    for run in runs:
        for op, *_ in run["rows"]:
            if op not in ops:
                ops.append(op)
    names = [run["client"] for run in runs]
    width = max(len(op) for op in ops) + 2
    cols = [max(len(n), 5) + 2 for n in names]
    print("compat summary (ok* = bridged around a bug of the client itself; skip = see the client's table)")
    print(" " * width + "".join(n.ljust(c) for n, c in zip(names, cols)))
    for op in ops:
        cells = []
        for run, c in zip(runs, cols):
            found = [short(s) for o, s, *_ in run["rows"] if o == op]
            cells.append((found[0] if found else "-").ljust(c))
        print(op.ljust(width) + "".join(cells))
    passed = failed = skipped = 0
    failures = []
    for run in runs:
        for op, status, detail, counts in run["rows"]:
            if counts:
                failed += 1
                failures.append(f"  {run['client']}: {op}: {detail}")
            elif status.startswith("ok"):
                passed += 1
            else:
                skipped += 1
    if failures:
        print("failed checks:")
        print("\n".join(failures))
    print(f"compat: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
