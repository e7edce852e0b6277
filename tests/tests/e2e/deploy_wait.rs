//! Deploys that wait (README "Operators' tools"): `mark-for-deployment --wait` pushes the tag
//! and follows the coordinator until the deploy group runs the new sha with every task
//! happy; a version that never becomes healthy times out with what is stuck and why;
//! `--auto-rollback` then marks the sha deployed before and waits for that; `rollback` marks
//! the previous sha (from git). Marathon is the emulator, the repositories are real.

use std::process::Output;
use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::observe::{apps_of, marathon_app_ids};
use galley_e2e::{eventually, free_port};

const GROUP: &str = "norcal-prod.everything";

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// web.main's apps once it has exactly one, running `sha`.
async fn web_main_runs(sim: &SimProc, sha: &str) -> Result<(), String> {
    let ids = marathon_app_ids(&sim.marathon).await?;
    match apps_of(&ids, "web", "main")[..] {
        [one] if one.contains(&format!(".git{}.", &sha[..8])) => Ok(()),
        ref other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_wait_time_out_with_a_reason_and_roll_back() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let v1 = web.commit("web v1");
    web.deploy(GROUP, &v1);
    web.deploy("norcal-prod.canary", &v1);
    let sim = SimProc::start(&c, 4, None).await;
    let port = free_port();
    let git = format!(
        "git:\n  poll_interval_seconds: 1\n  mirror_dir: {}\n",
        c.root.join("mirrors").display()
    );
    let cfg = c.write("coordinator.yaml", &c.serve_config(&sim, port, 1.0, &git));
    let _serve = c.serve("coordinator", &cfg, &["--insecure"]);
    eventually("web.main runs v1", Duration::from_secs(60), || {
        web_main_runs(&sim, &v1)
    })
    .await;

    let (config, server) = (cfg.display().to_string(), format!("127.0.0.1:{port}"));
    let mark = |sha: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "mark-for-deployment",
            "--config",
            &config,
            "--service",
            "web",
            "--deploy-group",
            GROUP,
            "--commit",
            sha,
            "--wait",
            "--server",
            &server,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| {
        let c = &c;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            c.cli_async(&refs).await
        }
    };

    // A good version: the tag, one progress line per change (stdout is a pipe), exit 0.
    let v2 = web.commit("web v2");
    let out = run(mark(&v2, &["--timeout", "3m"])).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("-deploy -> {v2}")), "{stdout}");
    assert!(
        stdout.contains("web.main on norcal-prod: "),
        "plain progress lines: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "deploy group {GROUP} of web runs {} everywhere, every task happy",
            &v2[..8]
        )),
        "{stdout}"
    );
    web_main_runs(&sim, &v2)
        .await
        .expect("converged means Marathon runs v2 alone");

    // `rollback` marks the sha deployed before v2 (from git) and waits for it.
    let out = run(vec![
        "rollback".into(),
        "--config".into(),
        config.clone(),
        "--service".into(),
        "web".into(),
        "--deploy-group".into(),
        GROUP.into(),
        "--wait".into(),
        "--server".into(),
        server.clone(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("-deploy -> {v1}")), "{stdout}");
    web_main_runs(&sim, &v1).await.expect("back on v1");

    // A version whose tasks never pass a health check: it times out naming the instance, the
    // happy count and the bounce, and exits 1. Marathon keeps the old tasks (crossover).
    let v3 = web.commit("web v3");
    sim.set_outcome(&format!("/web.main.git{}", &v3[..8]), "never_healthy")
        .await;
    let out = run(mark(&v3, &["--timeout", "25s"])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "timed out after 25s: deploy group {GROUP} is not on {} everywhere",
            &v3[..8]
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "web.main on norcal-prod: 0/3 task(s) of {} happy; bouncing (crossover)",
            &v3[..8]
        )),
        "{stderr}"
    );
    let ids = marathon_app_ids(&sim.marathon).await.expect("apps");
    assert_eq!(
        apps_of(&ids, "web", "main").len(),
        2,
        "old and new: {ids:?}"
    );

    // --auto-rollback goes back to the sha deployed before: make that a good one (`rollback
    // --to v1`), then ship v4, which never becomes healthy either.
    let out = run(vec![
        "rollback".into(),
        "--config".into(),
        config.clone(),
        "--service".into(),
        "web".into(),
        "--deploy-group".into(),
        GROUP.into(),
        "--to".into(),
        v1.clone(),
        "--wait".into(),
        "--server".into(),
        server.clone(),
    ])
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    let v4 = web.commit("web v4");
    sim.set_outcome(&format!("/web.main.git{}", &v4[..8]), "never_healthy")
        .await;
    let out = run(mark(&v4, &["--timeout", "20s", "--auto-rollback"])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("timed out after 20s"), "{stderr}");
    assert!(
        stderr.contains(&format!("auto-rollback: marking {} again", &v1[..8])),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "deploy group {GROUP} of web runs {} everywhere",
            &v1[..8]
        )),
        "{stdout}"
    );
    web_main_runs(&sim, &v1)
        .await
        .expect("the old sha is back, the broken app gone");
    let tags = web.deploy_tags(GROUP);
    let shas: Vec<&str> = tags.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        shas,
        [&v1, &v2, &v1, &v3, &v1, &v4, &v1],
        "every step is a deploy tag in git: {tags:?}"
    );

    // The group now also runs on pnw-devc, and no --server coordinates it: refused before
    // anything is pushed (a deploy is never called done on the clusters that were watched).
    c.write_soa(
        "web/marathon-pnw-devc.yaml",
        &format!("main:\n  instances: 1\n  deploy_group: {GROUP}\n"),
    );
    let out = run(mark(&v2, &[])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("no --server for pnw-devc"),
        "names the cluster nobody watches: {stderr}"
    );
    assert_eq!(web.deploy_tags(GROUP).len(), tags.len(), "nothing pushed");
}
