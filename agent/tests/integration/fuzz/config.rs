//! `AgentConfig::parse`: arbitrary bytes, and every agent config shipped in `deploy/` and shown
//! in README.md, mutated as text and as a tree (types flipped, keys dropped or added, huge
//! numbers). An error names the file; an accepted config makes the agent's settings.

use std::path::Path;

use galley_agent::AgentSettings;
use galley_agent::config::AgentConfig;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::mutate::{apply_edits, apply_tree_edits, text_edits, to_yaml, tree_edits};
use super::support::{YAML_TOKENS, bytes, fuzz, soup};

const PATH: &str = "/etc/galley/fuzzed-agent.yaml";

/// The agent configs of `deploy/` and README.md's agent config.
pub fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out: Vec<String> = [
        "deploy/etc/galley/agent.yaml",
        "deploy/examples/agent.yaml",
        "deploy/examples/cluster/agent.yaml",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root.join(p)).expect("read"))
    .collect();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut block: Option<String> = None;
    for line in readme.lines() {
        match &mut block {
            Some(text) if line.trim() == "```" => {
                if text.contains("coordinator_url") {
                    out.push(text.clone());
                }
                block = None;
            }
            Some(text) => text.push_str(&format!("{line}\n")),
            None if line.trim_start().starts_with("```yaml") => block = Some(String::new()),
            None => {}
        }
    }
    assert!(out.len() >= 4, "{} agent configs found", out.len());
    for seed in &out {
        AgentConfig::parse(Path::new(PATH), seed).expect("every seed is valid");
    }
    out
}

/// Parses `text`: an error names the file; an accepted config makes the agent's settings.
pub fn check_config(text: &str) -> Result<(), TestCaseError> {
    match AgentConfig::parse(Path::new(PATH), text) {
        Ok(cfg) => {
            let settings = AgentSettings::from_config(&cfg);
            prop_assert!(!settings.session.coordinator_urls.is_empty());
            prop_assert!(settings.session.backoff_min <= settings.session.backoff_max);
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains(PATH), "an error that names no file: {msg:?}");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_parse_or_name_the_file() {
    fuzz("agent-config-bytes", 2000, bytes(1024), |b| {
        check_config(&String::from_utf8_lossy(&b))
    });
}

#[test]
fn mutated_configs_parse_or_name_the_file() {
    let seeds = seeds();
    let input = (0..seeds.len(), text_edits(YAML_TOKENS, 8));
    fuzz("agent-config-text", 2000, input, |(which, edits)| {
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
    fuzz("agent-config-tree", 2000, input, |(which, edits, tail)| {
        let doc = to_yaml(&apply_tree_edits(values[which].clone(), &edits));
        check_config(&format!("{doc}{}", tail.unwrap_or_default()))
    });
}
