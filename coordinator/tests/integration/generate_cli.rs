//! The `galley-coordinator generate-deployments` binary: exit codes and messages.

use std::process::Command;

use crate::fixtures::{SoaTree, TestRepo};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_galley-coordinator"))
        .args(args)
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exits_non_zero_after_writing_the_healthy_services() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = TestRepo::bare(&tmp.path().join("a.git"));
    let sha = repo.commit("a");
    repo.set_ref("refs/tags/paasta-c1.main-20160101T000000-deploy", &sha);
    let soa = SoaTree::new(&tmp.path().join("soa"));
    soa.file(
        "a",
        "service.yaml",
        &format!("git_url: {}\n", repo.path.display()),
    )
    .file("a", "marathon-c1.yaml", "main: {}\n")
    .file("b", "service.yaml", "git_url: /nonexistent/b.git\n")
    .file("b", "marathon-c1.yaml", "main: {}\n");
    let soa_dir = soa.root.to_str().expect("utf8");
    let (code, stderr) = run(&["generate-deployments", "--soa-dir", soa_dir]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error: service b: git_url of b/service.yaml: unable to list remote refs of /nonexistent/b.git"), "{stderr}");
    assert!(
        stderr.contains("2 services")
            && stderr.contains("1 written")
            && stderr.contains("1 failed"),
        "{stderr}"
    );
    assert!(soa.deployments_path("a").exists());
    assert!(!soa.deployments_path("b").exists());

    // Only the named service, now unchanged: success.
    let (code, stderr) = run(&[
        "generate-deployments",
        "--soa-dir",
        soa_dir,
        "--service",
        "a",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 services") && stderr.contains("1 unchanged"),
        "{stderr}"
    );

    let (code, stderr) = run(&[
        "generate-deployments",
        "--soa-dir",
        soa_dir,
        "--service",
        "nope",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no service directory"), "{stderr}");
}
