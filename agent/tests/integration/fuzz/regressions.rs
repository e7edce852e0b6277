//! Replays every input kept under `fuzz/regressions/<target>/` (workspace root) through its
//! target: minimal inputs the fuzzers found, and nasty seeds that keep the harness honest.

use std::path::{Path, PathBuf};

use super::config::check_config;

/// The files of `fuzz/regressions/<target>`, sorted; there must be some.
pub fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no regression inputs in {}", dir.display());
    out
}

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
