//! `CoordinatorConfig::from_yaml`: arbitrary bytes, and every coordinator config shipped in
//! `deploy/` and shown in README.md, mutated as text and as a tree (types flipped, keys dropped
//! or added, huge numbers). An error names the file; an accepted config must also be usable:
//! the conversions `serve` makes at start (durations, the git semaphore, the clients) must not
//! panic, as `check-config` passing promises.

use std::path::{Path, PathBuf};
use std::time::Duration;

use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::gitwatch::{GitWatchSettings, tag_writer_settings};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::mutate::{apply_edits, apply_tree_edits, text_edits, to_yaml, tree_edits};
use super::support::{YAML_TOKENS, bytes, fuzz, readme_yaml, soup};
use crate::deploy_configs::{deploy_dir, files_under};

const PATH: &str = "/etc/galley/fuzzed-coordinator.yaml";

/// Every coordinator config shipped in `deploy/` or shown in the README.
pub fn seeds() -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    files_under(&deploy_dir(), &mut files);
    files.sort();
    let mut out: Vec<String> = files
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("coordinator") && name.ends_with(".yaml")
        })
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    out.extend(readme_yaml().into_iter().filter(|t| t.contains("soa_dir:")));
    assert!(out.len() >= 5, "{} coordinator configs found", out.len());
    for seed in &out {
        CoordinatorConfig::from_yaml(Path::new(PATH), seed).expect("every seed is valid");
    }
    out
}

/// Parses `text`: an error names the file; an accepted config survives what `serve` does
/// with it before it binds anything.
pub fn check_config(text: &str) -> Result<(), TestCaseError> {
    let config = match CoordinatorConfig::from_yaml(Path::new(PATH), text) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains(PATH), "an error that names no file: {msg:?}");
            return Ok(());
        }
    };
    config.interval();
    config.reaper.policy();
    config.reaper.warnings();
    config.reaper.agent_stale_after();
    config.rollback.default_policy();
    config.rollback.warnings();
    galley_coordinator::runtime::settings(&config);
    GitWatchSettings::from_config(&config);
    let git = config.git.clone().unwrap_or_default();
    if git.credentials_file.is_none() {
        tag_writer_settings(&config).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    if config.marathon.credentials_file.is_none() && config.mesos.credentials_file.is_none() {
        galley_coordinator::runtime::clients(&config)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    // The durations `serve` converts inline.
    let mut seconds = vec![git.timeout_seconds];
    seconds.extend(config.tls.as_ref().map(|t| t.reload_interval_seconds));
    if let Some(e) = &config.election {
        seconds.extend([e.grace_period_seconds, e.session_timeout_seconds]);
    }
    for s in seconds {
        prop_assert!(Duration::try_from_secs_f64(s).is_ok(), "{s} s accepted");
    }
    let jobs = git.jobs.unwrap_or(1);
    prop_assert!(
        jobs <= tokio::sync::Semaphore::MAX_PERMITS,
        "git.jobs {jobs} accepted"
    );
    Ok(())
}

#[test]
fn arbitrary_bytes_parse_or_name_the_file() {
    fuzz("coordinator-config-bytes", 2000, bytes(1024), |b| {
        check_config(&String::from_utf8_lossy(&b))
    });
}

#[test]
fn mutated_configs_parse_or_name_the_file() {
    let seeds = seeds();
    let n = seeds.len();
    let input = (0..n, text_edits(YAML_TOKENS, 8));
    fuzz("coordinator-config-text", 800, input, |(which, edits)| {
        check_config(&apply_edits(&seeds[which], &edits))
    });
}

#[test]
fn configs_with_wrong_values_are_refused_by_name_or_usable() {
    let seeds = seeds();
    let values: Vec<serde_json::Value> = seeds
        .iter()
        .map(|s| galley_common::yaml::load(s).expect("seed loads"))
        .collect();
    let input = (
        0..values.len(),
        tree_edits(4),
        proptest::option::of(soup(YAML_TOKENS, 4)),
    );
    fuzz(
        "coordinator-config-tree",
        800,
        input,
        |(which, edits, tail)| {
            let doc = to_yaml(&apply_tree_edits(values[which].clone(), &edits));
            check_config(&format!("{doc}{}", tail.unwrap_or_default()))
        },
    );
}

/// Bad-input fuzzing (`fuzz/regressions/coordinator-config/huge-durations.yaml`): a
/// `*_seconds` setting of 1e300 passed `check-config` and panicked `serve` when it became a
/// `Duration`; a `git.jobs` past a semaphore's permits panicked the git watcher. Each is now
/// refused, naming the file and the key.
#[test]
fn huge_durations_and_jobs_are_refused_by_name() {
    let base = "soa_dir: /s\nsystem_config_dir: /p\nmarathon: {url: 'http://m'}\n\
                mesos: {url: 'http://m'}\nreconcile: {}\n";
    let cases = [
        (
            "reconcile: {interval_seconds: 1.0e+300}\n",
            "reconcile.interval_seconds",
        ),
        (
            "marathon: {url: 'http://m', timeout_seconds: 1.0e+300}\n",
            "timeout_seconds",
        ),
        (
            "mesos: {url: 'http://m', timeout_seconds: 1.0e+20}\n",
            "timeout_seconds",
        ),
        (
            "git: {poll_interval_seconds: 1.0e+300}\n",
            "poll_interval_seconds",
        ),
        (
            "git: {unreachable_alert_after_seconds: 1.0e+300}\n",
            "unreachable_alert",
        ),
        ("git: {timeout_seconds: 1.0e+300}\n", "timeout_seconds"),
        ("git: {jobs: 4611686018427387904}\n", "git.jobs"),
        (
            "election: {zookeeper: 'z:1', grace_period_seconds: 1.0e+300}\n",
            "grace_period",
        ),
        (
            "tls: {cert_file: c, key_file: k, client_ca_file: a, reload_interval_seconds: 1.0e+300}\n",
            "tls.reload",
        ),
    ];
    for (section, key) in cases {
        let name = section.split(':').next().unwrap_or_default();
        let kept: String = base
            .lines()
            .filter(|l| !l.starts_with(name))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = CoordinatorConfig::from_yaml(Path::new(PATH), &format!("{kept}{section}"))
            .expect_err(section)
            .to_string();
        assert!(err.contains(PATH) && err.contains(key), "{section}: {err}");
    }
}
