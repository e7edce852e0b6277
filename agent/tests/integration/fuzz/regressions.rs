//! Replays every input kept under `fuzz/regressions/<target>/` (workspace root) through its
//! target: minimal inputs the fuzzers found, and nasty seeds that keep the harness honest.

use super::config::check_config;
use galley_e2e::fuzz::regression_inputs as inputs;

#[test]
fn agent_config_regressions_replay() {
    for (path, bytes) in inputs("agent-config") {
        if let Err(e) = check_config(&String::from_utf8_lossy(&bytes)) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn docker_response_regressions_replay() {
    for (path, bytes) in inputs("docker-responses") {
        if let Err(e) = super::docker::replay(bytes) {
            panic!("{}: {e}", path.display());
        }
    }
}
