//! A single coordinator, as README.md's "serve" section configures it (no `election`, run
//! with `--insecure`), on `galley-sim marathon`: it leads alone with term 1, creates every
//! app of the soa dir, bounces to a new deploy, stops and starts an instance, deletes a
//! removed instance, refuses a mass delete, and answers operator writes. Watched from outside:
//! Marathon's API, grpcurl, `/metrics`, the deploy log.

use std::time::Duration;

use galley_e2e::cluster::{CLUSTER, Cluster, SimProc};
use galley_e2e::observe::{
    SensuListener, apps_of, deploy_log_messages, marathon_app_ids, marathon_apps, metric,
};
use galley_e2e::{Grpcurl, eventually, free_port};

const MINUTE: Duration = Duration::from_secs(60);

/// README.md's `serve` config, filled in for this machine.
fn config(c: &Cluster, sim: &SimProc, port: u16, metrics_port: u16) -> std::path::PathBuf {
    let extra =
        format!("metrics_listen: 127.0.0.1:{metrics_port}\ngit:\n  poll_interval_seconds: 3600\n");
    c.write("coordinator.yaml", &c.serve_config(sim, port, 2.0, &extra))
}

/// One app per instance, each running `sha`'s first 8 hex digits; returns the ids.
async fn expect_apps(sim: &SimProc, want: &[(&str, &str, &str)], what: &str) -> Vec<String> {
    eventually(what, MINUTE, || async {
        let ids = marathon_app_ids(&sim.marathon).await?;
        for (svc, inst, sha) in want {
            let apps = apps_of(&ids, svc, inst);
            let git = format!(".git{}.", &sha[..8]);
            if apps.len() != 1 || !apps[0].contains(&git) {
                return Err(format!("{svc}.{inst} has {apps:?}, want one with {git}"));
            }
        }
        if ids.len() != want.len() {
            return Err(format!("apps {ids:?}"));
        }
        Ok(ids)
    })
    .await
}

/// The `instances` of the one app of `svc.inst`, and how many of its tasks run.
async fn instances(sim: &SimProc, svc: &str, inst: &str) -> Result<(u64, usize), String> {
    let apps = marathon_apps(&sim.marathon).await?;
    let prefix = format!("/{svc}.{inst}.");
    let mine: Vec<_> = apps
        .iter()
        .filter(|a| a["id"].as_str().is_some_and(|i| i.starts_with(&prefix)))
        .collect();
    match mine[..] {
        [a] => Ok((
            a["instances"].as_u64().unwrap_or(u64::MAX),
            a["tasks"].as_array().map_or(0, Vec::len),
        )),
        _ => Err(format!("{svc}.{inst}: {} apps", mine.len())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_alone_leads_and_drives_marathon_to_the_soa_dir() {
    let c = Cluster::from_examples();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (web1, api1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &web1);
    web.deploy("norcal-prod.canary", &web1);
    api.deploy("norcal-prod.main", &api1);
    api.deploy("norcal-prod.worker", &api1);
    c.generate_deployments();

    let sim = SimProc::start(&c, 4, None).await;
    let sensu = SensuListener::start().await;
    c.use_sensu(&sensu);
    let (port, metrics_port) = (free_port(), free_port());
    let cfg = config(&c, &sim, port, metrics_port);
    let mut serve = c.serve("coordinator", &cfg, &["--insecure"]);

    // It leads alone, with term 1, and creates every app.
    expect_apps(
        &sim,
        &[
            ("api", "main", &api1),
            ("api", "worker", &api1),
            ("web", "canary", &web1),
            ("web", "main", &web1),
        ],
        "serve creates every instance's app",
    )
    .await;
    let Some(grpc) = Grpcurl::find(&format!("127.0.0.1:{port}")) else {
        return;
    };
    let status = grpc.ok("GetStatus", None);
    assert_eq!(status["leader"], true, "{status}");
    assert_eq!(status["leaderTerm"], "1", "{status}");
    assert_eq!(status["destructiveAllowed"], true, "{status}");
    assert_eq!(metric(metrics_port, "galley_leader_term").await, Some(1.0));
    // The monitor checks replication (web.main through synapse's haproxy) and tells Sensu.
    eventually(
        "Sensu hears web.main is fully replicated",
        MINUTE,
        || async {
            match sensu.latest("check_marathon_services_replication.web.main") {
                Some(e) if e["status"] == 0 => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;

    // A steady instance gets PaaSTA's bounce keepalive (ttl an hour).
    let keepalives = |inst: &str| {
        let name = format!("paasta_bounce_progress.{inst}");
        sensu
            .events()
            .iter()
            .filter(|e| e["name"] == name.as_str())
            .count()
    };
    let keepalive = eventually("a steady-state keepalive for web.main", MINUTE, || async {
        sensu
            .latest("paasta_bounce_progress.web.main")
            .ok_or("none yet")
    })
    .await;
    assert_eq!(keepalive["status"], 0, "{keepalive}");
    assert_eq!(keepalive["output"], "The bounce is in a steady state");
    assert_eq!(keepalive["ttl"], 3600, "{keepalive}");

    // Frozen, a new deploy of web's `everything` group waits: web.main is not steady (its
    // desired app is not running), so its keepalives stop while web.canary's go on — a bounce
    // that never finishes raises Sensu's ttl alarm, as with PaaSTA.
    grpc.ok("FreezeCluster", Some(r#"{"reason": "hold the bounce"}"#));
    let web2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &web2);
    c.generate_deployments();
    eventually(
        "the frozen plan holds web.main's new app",
        MINUTE,
        || async {
            let plan = grpc.ok("GetPlan", None).to_string();
            if plan.contains(&format!("web.main.git{}", &web2[..8])) {
                Ok(())
            } else {
                Err(plan)
            }
        },
    )
    .await;
    let (web_before, canary_before) = (keepalives("web.main"), keepalives("web.canary"));
    eventually("web.canary's keepalives go on", MINUTE, || async {
        if keepalives("web.canary") >= canary_before + 2 {
            Ok(())
        } else {
            Err(keepalives("web.canary"))
        }
    })
    .await;
    assert_eq!(
        keepalives("web.main"),
        web_before,
        "no keepalive while it is not steady"
    );
    grpc.ok("UnfreezeCluster", None);

    // Unfrozen, web.main bounces to the new sha and the old app goes.
    expect_apps(
        &sim,
        &[
            ("api", "main", &api1),
            ("api", "worker", &api1),
            ("web", "canary", &web1),
            ("web", "main", &web2),
        ],
        "web.main bounces to the new sha and the old app goes",
    )
    .await;

    // `stop` (the CLI writes the tag) + generate-deployments: api.worker scales to 0.
    let soa = c.soa.display().to_string();
    let tag = |cmd: &str| {
        let out = c.cli(&[
            cmd,
            "--service",
            "api",
            "--cluster",
            CLUSTER,
            "--instance",
            "worker",
            "--soa-dir",
            &soa,
        ]);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tag("stop");
    c.generate_deployments();
    eventually("api.worker is stopped", MINUTE, || async {
        match instances(&sim, "api", "worker").await? {
            (0, 0) => Ok(()),
            other => Err(format!("instances, tasks: {other:?}")),
        }
    })
    .await;
    tag("start");
    c.generate_deployments();
    eventually("api.worker runs its 4 instances again", MINUTE, || async {
        match instances(&sim, "api", "worker").await? {
            (4, 4) => Ok(()),
            other => Err(format!("instances, tasks: {other:?}")),
        }
    })
    .await;

    // An instance removed from the config is deleted.
    c.write_soa(
        "web/marathon-norcal-prod.yaml",
        "main:\n  instances: 3\n  cpus: 0.5\n  mem: 1024\n  env:\n    LOG_LEVEL: warning\n",
    );
    eventually("web.canary's app is deleted", MINUTE, || async {
        let ids = marathon_app_ids(&sim.marathon).await?;
        match (apps_of(&ids, "web", "canary").len(), ids.len()) {
            (0, 3) => Ok(()),
            _ => Err(format!("{ids:?}")),
        }
    })
    .await;

    // Removing api (2 of the 3 apps left) is more than the kill threshold: refused.
    std::fs::remove_file(c.soa.join("api/marathon-norcal-prod.yaml")).expect("rm");
    let plan = eventually("the plan refuses the mass delete", MINUTE, || async {
        let plan = grpc.ok("GetPlan", None);
        match plan["cleanupRefused"].as_str() {
            Some(r) if r.contains("kill more than 0.5") => Ok(plan),
            _ => Err(plan),
        }
    })
    .await;
    // Two more passes later, Marathon still has all three apps.
    let generation = plan["generation"]
        .as_str()
        .unwrap_or("0")
        .parse::<u64>()
        .unwrap_or(0);
    eventually("two more passes", MINUTE, || async {
        let g: u64 = grpc.ok("GetPlan", None)["generation"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        if g >= generation + 2 { Ok(()) } else { Err(g) }
    })
    .await;
    let ids = marathon_app_ids(&sim.marathon).await.expect("apps");
    assert_eq!(ids.len(), 3, "nothing deleted: {ids:?}");

    // Writes are answered and audited (cluster-wide events in the `_cluster` file).
    grpc.ok("FreezeCluster", Some(r#"{"reason": "e2e freeze"}"#));
    let status = grpc.ok("GetStatus", None);
    assert_eq!(status["frozenReason"], "e2e freeze", "{status}");
    grpc.ok("UnfreezeCluster", None);
    let cluster_log = c.logs.join("deploy-_cluster.log");
    let audit = deploy_log_messages(&cluster_log);
    assert!(
        audit
            .iter()
            .any(|m| m.contains("froze reconciling: e2e freeze")),
        "{audit:?}"
    );
    let web_log = deploy_log_messages(&c.logs.join("deploy-web.log"));
    assert!(
        web_log.iter().any(|m| m.contains("web.canary")),
        "{web_log:?}"
    );

    // Its log (a file here, not a terminal) has no colour codes, and passes that found
    // nothing to do are not in it at info (RUST_LOG=info), though there were some.
    let up_to_date = metric(metrics_port, "galley_passes_total{outcome=\"up_to_date\"}").await;
    assert!(
        up_to_date.unwrap_or(0.0) >= 1.0,
        "idle passes ran: {up_to_date:?}"
    );
    let log = std::fs::read_to_string(&serve.log).expect("serve log");
    assert!(!log.contains('\u{1b}'), "ANSI codes in the log file");
    assert!(
        !log.lines()
            .any(|l| l.contains("reconcile pass") && l.contains("UpToDate")),
        "an idle pass logged at info"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("reconcile pass") && l.contains("Applied")),
        "passes that changed something are logged at info"
    );

    // SIGTERM: a clean exit.
    let exit = serve.stop().await.expect("was running");
    assert!(exit.success(), "serve exited {exit:?}:\n{}", serve.tail(30));
    drop(sim);
}
