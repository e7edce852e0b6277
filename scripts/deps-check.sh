#!/usr/bin/env bash
# The dependency rules between Galley's crates (ARCHITECTURE.md), checked on the normal
# (non-dev) dependency trees, so a production binary never links what it must not:
#   - galley-coordinator: no galley-sim, galley-agent or bollard (no emulator on a master);
#   - galley-agent: no galley-coordinator;
#   - galley-common: no Galley crate but galley-proto;
#   - galley-planner: galley-common and plain data crates only (no tokio, HTTP, git, gRPC).
# Exit 1 naming the rule and the offending crate.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
tree() { cargo tree --locked -e normal --prefix none -p "$1" | awk '{print $1}' | sort -u; }

forbid() {
    local crate="$1"; shift
    local deps
    deps="$(tree "$crate")"
    for bad in "$@"; do
        if grep -qx "$bad" <<<"$deps"; then
            echo "deps-check: $crate must not depend on $bad (normal dependencies):" >&2
            cargo tree --locked -e normal -p "$crate" -i "$bad" >&2 || true
            fail=1
        fi
    done
}

forbid galley-coordinator galley-sim galley-agent galley-demo galley-bench bollard
forbid galley-agent galley-coordinator galley-sim galley-demo galley-bench
forbid galley-common galley-coordinator galley-agent galley-sim galley-demo galley-bench galley-e2e galley-planner
# The planners do no I/O: no runtime, no network, no git, no filesystem watcher.
forbid galley-planner tokio reqwest hyper tonic git2 notify bollard galley-proto galley-coordinator galley-agent galley-sim

if [ "$fail" = 0 ]; then
    echo "deps-check: OK (coordinator without emulators or bollard, agent without coordinator, common on proto at most, planner without I/O crates)"
fi
exit "$fail"
