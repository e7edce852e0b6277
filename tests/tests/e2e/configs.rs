//! Every config a user copies passes the binaries' own checks: each ```yaml block of
//! README.md that is a coordinator or agent config, and each coordinator and agent config
//! under `deploy/`, through `galley-coordinator check-config` and `galley-agent
//! --check-config`. The files a config names under `/etc/galley/` (certificates, credentials,
//! secrets) are made in a temp dir standing in for a master's `/etc/galley`, so the check reads
//! them as it would on the master. Blocks are extracted at test time: a README edit that
//! breaks a config breaks this test.

use std::path::{Path, PathBuf};
use std::process::Command;

use galley_e2e::bin;
use galley_e2e::cluster::workspace;
use galley_e2e::pki::Pki;

/// What a config file configures.
#[derive(Debug, PartialEq)]
enum Kind {
    Coordinator,
    Agent,
}

/// A coordinator config has a top-level `soa_dir`, an agent config a `coordinator_url(s)`.
fn kind(text: &str) -> Option<Kind> {
    let top = |key: &str| text.lines().any(|l| l.starts_with(&format!("{key}:")));
    if top("soa_dir") {
        Some(Kind::Coordinator)
    } else if top("coordinator_url") || top("coordinator_urls") {
        Some(Kind::Agent)
    } else {
        None
    }
}

/// The ```yaml blocks of `markdown`, with the line each starts on.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() == "```yaml" {
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != "```")
                .collect();
            out.push((n + 1, body.join("\n") + "\n"));
        }
    }
    out
}

/// A stand-in for a master's `/etc/galley`: every `/etc/galley/...` path `text` names
/// exists under `root` (PEM files from one CA, `user:password` credentials, a secret).
fn etc_galley(text: &str, root: &Path, pki: &Pki) -> String {
    let (cert, key) = pki.ca.issue(&["localhost"], false);
    for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        let Some(rel) = word.strip_prefix("/etc/galley/") else {
            continue;
        };
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let content = if rel.ends_with("key.pem") {
            key.clone()
        } else if rel.ends_with("ca.pem") {
            pki.ca.pem.clone()
        } else if rel.ends_with(".pem") {
            cert.clone()
        } else if rel.contains("credentials") {
            "galley:s3cret\n".to_owned()
        } else {
            "a-secret\n".to_owned()
        };
        std::fs::write(&path, content).expect("write");
    }
    text.replace("/etc/galley/", &format!("{}/", root.display()))
}

/// Runs the binary's check on `text` (as `name`); the failure message if it fails.
fn check(kind: &Kind, name: &str, text: &str, dir: &Path, pki: &Pki) -> Result<(), String> {
    let text = etc_galley(text, &dir.join("etc-galley"), pki);
    let file: PathBuf = dir.join(name.replace(['/', ' ', ':'], "_"));
    std::fs::write(&file, text).expect("write config");
    let out = match kind {
        Kind::Coordinator => Command::new(bin("galley-coordinator"))
            .args(["check-config", "--config"])
            .arg(&file)
            .output(),
        Kind::Agent => Command::new(bin("galley-agent"))
            .arg("--config")
            .arg(&file)
            .arg("--check-config")
            .output(),
    }
    .expect("run the check");
    if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("config OK") {
        Ok(())
    } else {
        Err(format!(
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn every_config_in_the_readme_passes_check_config() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new();
    let (mut checked, mut failures) = (Vec::new(), Vec::new());
    for (line, block) in yaml_blocks(&readme) {
        let Some(kind) = kind(&block) else { continue };
        let name = format!("README.md line {line} ({kind:?})");
        if let Err(e) = check(&kind, &name, &block, dir.path(), &pki) {
            failures.push(e);
        }
        checked.push(name);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The complete coordinator config and the agent config at least.
    assert!(
        checked.iter().any(|n| n.contains("Coordinator"))
            && checked.iter().any(|n| n.contains("Agent")),
        "README.md lost its config examples: {checked:?}"
    );
}

#[test]
fn every_config_under_deploy_passes_check_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new();
    let mut files = Vec::new();
    collect(&workspace().join("deploy"), &mut files);
    let (mut checked, mut failures) = (Vec::new(), Vec::new());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let Some(kind) = kind(&text) else { continue };
        let name = path
            .strip_prefix(workspace())
            .unwrap_or(&path)
            .display()
            .to_string();
        if let Err(e) = check(&kind, &name, &text, dir.path(), &pki) {
            failures.push(e);
        }
        checked.push(name);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for shipped in [
        "deploy/etc/galley/coordinator.yaml",
        "deploy/etc/galley/agent.yaml",
        "deploy/examples/cluster/coordinator-master1.yaml",
        "deploy/examples/cluster/agent.yaml",
    ] {
        assert!(
            checked.iter().any(|c| c == shipped),
            "{shipped} not checked: {checked:?}"
        );
    }
}

/// Every `.yaml` file below `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}
