#!/usr/bin/env bash
# Client-visible VIP outage on master crash and graceful stop:
# keepalived vs `ferrodfs vip`, side by side. Needs root, iproute2 and
# keepalived (apt-get install -y keepalived). Builds in release mode.
# BENCH_RUNS=N sets the runs per case (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
export FERRODFS_VIP_NETNS_REQUIRED=1
exec cargo test --release -p ferrodfs-vip --test bench -- \
    --ignored --nocapture --test-threads 1 failover_outage_benchmark
