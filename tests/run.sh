#!/usr/bin/env bash
# The whole test suite: unit and cross-process tests of every crate, then
# the third-party FastDFS client (py3fdfs) against `ferrodfs up`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo build --release --locked --bin ferrodfs
cargo test --release --locked --workspace
tests/compat/run.sh "$root/target/release/ferrodfs"
echo "all tests passed"
