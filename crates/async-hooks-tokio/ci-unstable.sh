#!/bin/sh
# The hook-tier CI job of async-hooks-tokio: builds and tests the crate with
# `--cfg tokio_unstable`, which turns on tokio's runtime task hooks and this
# crate's automatic propagation (and its tests).
#
# The cfg changes how tokio itself is compiled, so the job uses a target
# directory of its own: the caller's CARGO_TARGET_DIR if set, else
# target/tokio-unstable under the workspace root. Flags set by the caller in
# RUSTFLAGS/RUSTDOCFLAGS are kept. Extra arguments go to `cargo test`.
#
# Usage (from anywhere): crates/async-hooks-tokio/ci-unstable.sh [cargo test args]
set -eu

crate_dir=$(cd "$(dirname "$0")" && pwd)
workspace_dir=$(cd "$crate_dir/../.." && pwd)
cd "$workspace_dir"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$workspace_dir/target/tokio-unstable}"
# Both: RUSTFLAGS for the crates and tests, RUSTDOCFLAGS for the doctests.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg tokio_unstable"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:+$RUSTDOCFLAGS }--cfg tokio_unstable"

echo "async-hooks-tokio hook tier: RUSTFLAGS='$RUSTFLAGS' CARGO_TARGET_DIR='$CARGO_TARGET_DIR'"
cargo test -p async-hooks-tokio "$@"
