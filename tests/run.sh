#!/usr/bin/env bash
# The whole test suite: unit and cross-process tests of every crate, then
# the third-party FastDFS client (py3fdfs) against `ferrodfs up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tests/prereqs.sh --tests

# The VIP tests build network namespaces (root) and run keepalived; here a
# missing prerequisite is a failure, not a skip.
export FERRODFS_VIP_NETNS_REQUIRED=1

cargo build --release --locked --bin ferrodfs
cargo test --release --locked --workspace
tests/compat/run.sh "${CARGO_TARGET_DIR:-$root/target}/release/ferrodfs"
echo "all tests passed"
