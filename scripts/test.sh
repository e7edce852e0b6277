#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with only the Rust toolchain:
# installs and starts what the tests need (a real dockerd for the Docker contract suite),
# then runs the format check, clippy with -D warnings, and every test of the workspace.
#
#   scripts/test.sh            # what CI runs (.ci/run calls exactly this)
#
# Needs root for apt-get (CI and the dev machines run as root). Real services it starts are
# private to this run (own sockets and data dirs under $GALLEY_TEST_DIR) and stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export GALLEY_TEST_DIR="${GALLEY_TEST_DIR:-/tmp/galley-test-$$}"
mkdir -p "$GALLEY_TEST_DIR"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cleanup() {
    scripts/dockerd.sh stop "$GALLEY_TEST_DIR/dockerd" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "real dockerd for the Docker contract suite"
eval "$(scripts/dockerd.sh start "$GALLEY_TEST_DIR/dockerd")"
export GALLEY_REQUIRE_DOCKERD=1

step "tests"
cargo test --workspace --locked --no-fail-fast
