#!/usr/bin/env bash
# False VIP failovers on a busy host: master and backup LB nodes (ip_forward
# off) while 2 CPU hogs per core run, `ferrodfs vip` with and without
# real-time scheduling and keepalived with its defaults, side by side.
# Needs root, iproute2 and keepalived. BENCH_SECS=N per case (default 120);
# BENCH_CASES=1,3 runs only those rows of the table (1-based).
set -euo pipefail
cd "$(dirname "$0")/../.."
export FERRODFS_VIP_NETNS_REQUIRED=1
exec cargo test --release -p ferrodfs-vip --test hog -- \
    --ignored --nocapture --test-threads 1 false_failovers_under_cpu_hogs_benchmark
