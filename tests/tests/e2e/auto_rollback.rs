//! The coordinator's own rollback (README "Automatic rollback"): with `bounce_failure:
//! rollback` (here the coordinator config's `rollback:` default, overridden per instance), a
//! new version whose tasks never become healthy within `bounce_timeout` is rolled back by the
//! leader: a deploy tag for the last healthy sha in git, a Sensu event naming both shas, a
//! deploy-log line. Marking the same broken sha again is not rolled back a second time, and an
//! instance that says `wait` is never rolled back.

use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::observe::{SensuListener, apps_of, deploy_log_messages, marathon_app_ids};
use galley_e2e::{eventually, free_port};

const GROUP: &str = "norcal-prod.everything";
const MINUTE: Duration = Duration::from_secs(60);

/// The ids of `service.instance`'s apps.
async fn apps(sim: &SimProc, service: &str, instance: &str) -> Result<Vec<String>, String> {
    let ids = marathon_app_ids(&sim.marathon).await?;
    Ok(apps_of(&ids, service, instance)
        .into_iter()
        .cloned()
        .collect())
}

/// Ok once `service.instance` runs exactly one app, of `sha`.
async fn runs(sim: &SimProc, service: &str, instance: &str, sha: &str) -> Result<(), String> {
    let ids = apps(sim, service, instance).await?;
    match &ids[..] {
        [one] if one.contains(&format!(".git{}.", &sha[..8])) => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_rolls_a_never_healthy_version_back_once_and_alerts() {
    let c = Cluster::from_examples();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (w1, a1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy(GROUP, &w1);
    api.deploy("norcal-prod.main", &a1);
    // api.main keeps waiting, whatever the default says.
    let api_config = std::fs::read_to_string(c.soa.join("api/marathon-norcal-prod.yaml"))
        .expect("api config")
        .replace(
            "  bounce_method: upthendown\n",
            "  bounce_method: upthendown\n  bounce_failure: wait\n",
        );
    c.write_soa("api/marathon-norcal-prod.yaml", &api_config);
    let sensu = SensuListener::start().await;
    c.use_sensu(&sensu);
    let sim = SimProc::start(&c, 4, None).await;
    let port = free_port();
    let extra = format!(
        "git:\n  poll_interval_seconds: 1\n  mirror_dir: {}\nrollback:\n  bounce_failure: rollback\n  bounce_timeout_seconds: 15\n",
        c.root.join("mirrors").display()
    );
    let cfg = c.write("coordinator.yaml", &c.serve_config(&sim, port, 1.0, &extra));
    let check = c.cli(&["check-config", "--config", &cfg.display().to_string()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("rollback.bounce_timeout_seconds is 15"),
        "a short timeout is valid but warned about"
    );
    let _serve = c.serve("coordinator", &cfg, &["--insecure"]);
    eventually("web.main runs v1", MINUTE, || {
        runs(&sim, "web", "main", &w1)
    })
    .await;
    // The rollback target is the last sha seen healthy: let the coordinator see v1 so.
    let server = format!("127.0.0.1:{port}");
    let status = |service: &str, instance: &str| -> serde_json::Value {
        let args = [
            "status", "--server", &server, "-s", service, "-i", instance, "--json",
        ];
        serde_json::from_slice(&c.cli(&args).stdout).unwrap_or_default()
    };
    eventually("web.main's v1 tasks are all happy", MINUTE, || async {
        let s = status("web", "main");
        if s["tasksHappy"] == 3 { Ok(()) } else { Err(s) }
    })
    .await;
    assert_eq!(
        status("web", "main")["bounceFailure"],
        "rollback after 15s without a happy new task"
    );
    assert_eq!(
        status("api", "main")["bounceFailure"],
        serde_json::Value::Null,
        "wait"
    );

    // v2's tasks never pass a health check.
    let w2 = web.commit("web v2");
    sim.set_outcome(&format!("/web.main.git{}", &w2[..8]), "never_healthy")
        .await;
    web.deploy(GROUP, &w2);
    eventually("web.main bounces to v2", MINUTE, || async {
        match apps(&sim, "web", "main").await?.len() {
            2 => Ok(()),
            n => Err(format!("{n} apps")),
        }
    })
    .await;

    // 15 s without a happy v2 task: the leader marks v1 again, and web.main runs v1 alone.
    let tags = eventually("a rollback tag in git", MINUTE, || async {
        let tags = web.deploy_tags(GROUP);
        match tags.last() {
            Some((_, sha)) if *sha == w1 && tags.len() == 3 => Ok(tags),
            _ => Err(format!("{tags:?}")),
        }
    })
    .await;
    assert_eq!(tags[1].1, w2, "{tags:?}");
    eventually("web.main runs v1 again", MINUTE, || {
        runs(&sim, "web", "main", &w1)
    })
    .await;
    let event = eventually("the rollback alert", Duration::from_secs(10), || async {
        sensu
            .latest("galley_bounce_rollback.web.main")
            .ok_or("no event")
    })
    .await;
    assert_eq!(event["status"], 1, "{event}");
    assert_eq!(event["team"], "storefront", "{event}");
    let output = event["output"].as_str().expect("output");
    for needle in [
        format!("deploy group {GROUP} marked back from {w2} to {w1}"),
        "no happy new task within".to_owned(),
    ] {
        assert!(output.contains(&needle), "{needle:?} not in {output}");
    }
    let log = deploy_log_messages(&c.logs.join("deploy-web.log"));
    assert!(
        log.iter().any(
            |m| m.starts_with("Automatic rollback of web.main: deploy group")
                && m.contains(&w2)
                && m.contains(&w1)
        ),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|m| m == &format!("Marked {w1} in for deployment in deploy group {GROUP}")),
        "the tag writer's own line: {log:#?}"
    );

    assert!(
        !log.iter().any(|m| m.contains("held")),
        "nothing held while git caught up: {log:#?}"
    );

    // Someone marks the same broken sha again: the bounce fails again, and is held, not rolled
    // back a second time (an operator must act).
    let config = cfg.display().to_string();
    let mark = [
        "mark-for-deployment",
        "--config",
        &config,
        "--service",
        "web",
        "--deploy-group",
        GROUP,
        "--commit",
        &w2,
    ];
    let out = c.cli(&mark);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the second failure is held", MINUTE, || async {
        let log = deploy_log_messages(&c.logs.join("deploy-web.log"));
        log.iter()
            .find(|m| m.starts_with("Automatic rollback of web.main") && m.contains("held"))
            .cloned()
            .ok_or(format!("{:#?}", &log[log.len().saturating_sub(5)..]))
    })
    .await;
    let after = web.deploy_tags(GROUP);
    assert_eq!(after.len(), 4, "no second rollback tag: {after:?}");
    assert_eq!(after[3].1, w2);
    let ids = apps(&sim, "web", "main").await.expect("apps");
    assert_eq!(ids.len(), 2, "v2 still bouncing, v1 still serving: {ids:?}");

    // api.main says `wait`: a never-healthy version stays, and its tag is the newest.
    let a2 = api.commit("api v2");
    sim.set_outcome(&format!("/api.main.git{}", &a2[..8]), "never_healthy")
        .await;
    api.deploy("norcal-prod.main", &a2);
    eventually("api.main bounces to v2", MINUTE, || async {
        match apps(&sim, "api", "main").await?.len() {
            2 => Ok(()),
            n => Err(format!("{n} apps")),
        }
    })
    .await;
    // Past its (default) timeout plus a pass, git still names v2 and nothing was logged.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let api_tags = api.deploy_tags("norcal-prod.main");
    assert_eq!(
        api_tags.last().map(|(_, s)| s.as_str()),
        Some(a2.as_str()),
        "{api_tags:?}"
    );
    let log = deploy_log_messages(&c.logs.join("deploy-api.log"));
    assert!(
        !log.iter().any(|m| m.contains("Automatic rollback")),
        "{log:#?}"
    );
}
