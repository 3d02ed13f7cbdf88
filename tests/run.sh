#!/usr/bin/env bash
# The whole test suite: the Prometheus alert rules (promtool), unit and
# cross-process tests of every crate (the status page in headless
# Chromium among them), then the third-party FastDFS clients against
# `ferrodfs up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tests/prereqs.sh --tests

# The VIP tests build network namespaces (root) and run keepalived; here a
# missing prerequisite is a failure, not a skip.
export FERRODFS_VIP_NETNS_REQUIRED=1
# The status page test runs in headless Chromium (prereqs installs it).
export FERRODFS_BROWSER_REQUIRED=1

if command -v promtool >/dev/null; then
    promtool check rules deploy/prometheus/ferrodfs.rules.yml
else
    echo "skipped: promtool check rules (the prometheus package is not installed)" >&2
fi

cargo build --release --locked --bin ferrodfs
cargo test --release --locked --workspace
tests/compat/run.sh "${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
echo "all tests passed"
