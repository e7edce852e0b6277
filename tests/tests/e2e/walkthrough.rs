//! README.md's "Try it by hand" section, run as written: its `sh` blocks, concatenated, in bash
//! from the repository root. Only what cannot be shared between parallel tests changes: the
//! work dir, the ports, the binaries (this build's, instead of `cargo build --release`), and
//! `grpcurl` on the PATH. Every step waits for its outcome (the blocks' `until` loops), and
//! the last one greps the deploy log for the reaped orphan, so the script fails or times out
//! when a documented flow does not work.

use std::path::Path;
use std::process::Command;

use galley_e2e::cluster::workspace;
use galley_e2e::{Grpcurl, bin, free_port};

/// The `sh` blocks of the README section that starts with `heading`, in order.
fn sh_blocks(readme: &str, heading: &str) -> String {
    let start = readme
        .find(heading)
        .expect("walkthrough section in README.md");
    let rest = &readme[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut script = String::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                script.push_str(l);
                script.push('\n');
            }
        }
    }
    script
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let Some(grpcurl) = Grpcurl::find("unused") else {
        return;
    };
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let mut script = sh_blocks(&readme, "## Try it by hand");
    assert!(
        script.contains("galley-sim marathon") && script.contains("SetReaperMode"),
        "the walkthrough lost its steps:\n{script}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("try");
    let tools = dir.path().join("bin");
    std::fs::create_dir_all(&tools).expect("bin dir");
    if grpcurl.program().contains('/') {
        std::os::unix::fs::symlink(grpcurl.program(), tools.join("grpcurl")).expect("symlink");
    }
    let built = bin("galley-coordinator")
        .parent()
        .expect("target dir")
        .to_path_buf();

    // What parallel tests cannot share, and this build instead of a release build.
    script = script
        .lines()
        .filter(|l| !l.trim_start().starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n");
    script = script
        .replace("$PWD/target/release", &built.display().to_string())
        .replace("/tmp/galley-try", &work.display().to_string())
        .replace("kill $(jobs -p)", "kill $(jobs -p) || true");
    for port in [8080, 5050, 3212, 50051, 7071] {
        script = script.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    }
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2> /dev/null || true' EXIT\n\
         export PATH=\"{tools}:$PATH\"\n{script}\n",
        tools = tools.display()
    );
    let file = dir.path().join("walkthrough.sh");
    std::fs::write(&file, &script).expect("script");

    let out = Command::new("timeout")
        .arg("300")
        .arg("bash")
        .arg(&file)
        .current_dir(workspace())
        .env("RUST_LOG", "info")
        .output()
        .expect("run bash");
    let logs = |name: &str| {
        std::fs::read_to_string(work.join("logs").join(name))
            .map(|t| tail(&t, 20))
            .unwrap_or_default()
    };
    assert!(
        out.status.success(),
        "the walkthrough failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- coordinator.log\n{}\n--- script\n{script}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 40),
        tail(&String::from_utf8_lossy(&out.stderr), 40),
        logs("coordinator.log"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The documented outputs: the four apps, the leader's status, the reap in the deploy log.
    assert!(stdout.contains("/web.main.git"), "{stdout}");
    assert!(stdout.contains("\"leader\": true"), "{stdout}");
    assert!(stdout.contains("mesos-retired-1"), "{stdout}");
    assert!(Path::new(&work.join("logs/deploy-web.log")).is_file());
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
