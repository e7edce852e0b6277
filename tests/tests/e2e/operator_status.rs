//! `galley-coordinator status` (README "Operators' tools"): one screen per service as
//! `paasta status` showed it, read through the operator API. A running, a bouncing, a stopped
//! and a paused instance, in text and in `--json` (the gRPC answer, as grpcurl prints it), and
//! the exit code: 2 when an instance of the selection is critical, 0 otherwise.

use std::process::Output;
use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::observe::{apps_of, marathon_app_ids};
use galley_e2e::{Grpcurl, eventually, free_port};
use serde_json::Value;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The block of `service.instance` in a status screen (up to the next blank line).
fn block<'a>(screen: &'a str, name: &str) -> &'a str {
    let start = screen
        .find(&format!("\n{name} "))
        .unwrap_or_else(|| panic!("{name} not on the screen:\n{screen}"));
    let rest = &screen[start + 1..];
    let end = rest.find("\n\n").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_running_bouncing_stopped_and_paused_instances() {
    let c = Cluster::from_examples();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (w1, a1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &w1);
    web.deploy("norcal-prod.canary", &w1);
    api.deploy("norcal-prod.main", &a1);
    api.deploy("norcal-prod.worker", &a1);
    let sim = SimProc::start(&c, 4, None).await;
    // api.worker's tasks never pass a health check: it stays under-replicated (critical).
    sim.set_outcome("/api.worker.", "never_healthy").await;
    let port = free_port();
    let cfg = c.write(
        "coordinator.yaml",
        &c.serve_config(&sim, port, 1.0, "git:\n  poll_interval_seconds: 1\n"),
    );
    let _serve = c.serve("coordinator", &cfg, &["--insecure"]);
    let server = format!("127.0.0.1:{port}");
    let status = |args: &[&str]| {
        let mut all = vec!["status", "--server", server.as_str()];
        all.extend_from_slice(args);
        c.cli(&all)
    };

    // web.main runs v1 and its tasks count for replication once older than a minute.
    let running = eventually(
        "web.main is running and OK",
        Duration::from_secs(120),
        || async {
            let out = status(&["--service", "web", "--instance", "main"]);
            let (stdout, stderr) = text(&out);
            match out.status.code() {
                Some(0) if stdout.contains("State:        Running") => Ok(stdout),
                _ => Err(format!("{:?}\n{stdout}{stderr}", out.status.code())),
            }
        },
    )
    .await;
    for needle in [
        "web.main (deploy group norcal-prod.everything)\n",
        &format!(
            "  Desired:      git {}  /web.main.git{}.config",
            &w1[..8],
            &w1[..8]
        ),
        "  Tasks:        3 healthy / 3 running / 3 expected\n",
        "  Replication:  OK Service web.main has 3 out of 3 expected instances available!",
    ] {
        assert!(running.contains(needle), "{needle:?} not in:\n{running}");
    }
    assert!(
        running.starts_with("Cluster norcal-prod (galley "),
        "{running}"
    );
    assert!(
        !running.contains('\x1b'),
        "no colour into a pipe:\n{running}"
    );
    // -v: every task with its host, age and health.
    let out = status(&["--service", "web", "--instance", "main", "-v"]);
    let (verbose, _) = text(&out);
    let task_lines: Vec<&str> = verbose
        .lines()
        .filter(|l| l.starts_with("    web.main.git"))
        .collect();
    assert_eq!(task_lines.len(), 3, "{verbose}");
    for l in task_lines {
        assert!(
            l.contains("mesos-agent-")
                && l.contains("TASK_RUNNING  up ")
                && l.ends_with("healthy, happy"),
            "{l}"
        );
    }

    // --json of the running instance: steady on v1, every task happy.
    let out = status(&["--service", "web", "--instance", "main", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let main: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(main["bounceState"], "BOUNCE_STATE_STEADY", "{main}");
    assert_eq!(main["gitSha"], w1.as_str(), "{main}");
    assert_eq!(main["deployGroup"], "norcal-prod.everything", "{main}");
    let tasks = main["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 3, "{main}");
    assert!(tasks.iter().all(|t| t["happy"] == true), "{main}");

    // The critical instance makes the exit code 2 (once its tasks fail health checks after
    // their grace period: PaaSTA counts a task without results as healthy); selecting only
    // healthy ones gives 0.
    let stdout = eventually("api is critical", Duration::from_secs(90), || async {
        let out = status(&["--service", "api"]);
        let (stdout, _) = text(&out);
        match out.status.code() {
            Some(2) => Ok(stdout),
            code => Err(format!("{code:?}\n{stdout}")),
        }
    })
    .await;
    let worker = block(&stdout, "api.worker");
    assert!(
        worker.contains("  Replication:  CRITICAL Service api.worker has 0 out of 4"),
        "{worker}"
    );
    assert!(worker.contains("What Galley sees:"), "{worker}");
    assert!(worker.contains("failing health checks"), "{worker}");
    let out = status(&["--service", "api", "--instance", "main"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // Pause api.main (grpcurl, as README shows), stop web.canary (a stop tag), and ship a web
    // v2 whose tasks never become healthy: web.main bounces and stays bouncing.
    let grpc = Grpcurl::find(&server);
    if let Some(g) = &grpc {
        g.ok(
            "PauseInstance",
            Some(r#"{"service": "api", "instance": "main", "reason": "debugging"}"#),
        );
    }
    web.set_state("canary", &w1, "stop");
    let w2 = web.commit("web v2");
    sim.set_outcome(&format!("/web.main.git{}", &w2[..8]), "never_healthy")
        .await;
    web.deploy("norcal-prod.everything", &w2);
    let screen = eventually(
        "web.main bounces and web.canary stops",
        Duration::from_secs(60),
        || async {
            let out = status(&["--service", "web"]);
            let (stdout, _) = text(&out);
            let bouncing = stdout.contains("3/3 task(s), 0 happy  (desired)");
            if bouncing && stdout.contains("State:        Stopped") {
                Ok((out.status.code(), stdout))
            } else {
                Err(stdout)
            }
        },
    )
    .await;
    let (code, screen) = screen;
    assert_eq!(code, Some(0), "the old tasks still serve:\n{screen}");
    let ids = marathon_app_ids(&sim.marathon).await.expect("apps");
    assert_eq!(apps_of(&ids, "web", "main").len(), 2, "{ids:?}");
    let main = block(&screen, "web.main");
    assert!(
        main.contains("  State:        Bouncing (crossover)"),
        "{main}"
    );
    assert!(
        main.contains(&format!("  Desired:      git {}", &w2[..8])),
        "{main}"
    );
    assert!(
        main.contains(&format!("git {}  /web.main.git{}", &w1[..8], &w1[..8])),
        "{main}"
    );
    assert!(main.contains("3/3 task(s), 0 happy  (desired)"), "{main}");
    assert!(main.contains("(0 of the new version happy)"), "{main}");
    let canary = block(&screen, "web.canary");
    assert!(canary.contains("  State:        Stopped"), "{canary}");
    assert!(canary.contains("/ 0 expected"), "{canary}");

    // --json: the gRPC answer, field for field what grpcurl prints.
    let out = status(&["--service", "web", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    let by_name = |name: &str| -> Value {
        json["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .find(|i| i["instance"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in {json}"))
    };
    let main = by_name("main");
    assert_eq!(main["bounceState"], "BOUNCE_STATE_BOUNCING", "{main}");
    assert_eq!(main["deployGroup"], "norcal-prod.everything");
    assert_eq!(main["gitSha"], w2.as_str());
    assert!(
        main["tasks"].as_array().is_some_and(|t| t.len() == 6),
        "{main}"
    );
    assert_eq!(by_name("canary")["desiredState"], "DESIRED_STATE_STOP");

    if let Some(g) = &grpc {
        let out = status(&["--service", "api", "--instance", "main"]);
        let (screen, _) = text(&out);
        assert!(screen.contains("  State:        Paused by "), "{screen}");
        assert!(screen.contains(": debugging\n"), "{screen}");
        let out = status(&["--service", "api", "--instance", "main", "--json"]);
        let mine: Value = serde_json::from_str(&text(&out).0).expect("JSON");
        assert_eq!(mine["pausedReason"], "debugging");
        let theirs = g.ok(
            "GetInstance",
            Some(r#"{"service": "api", "instance": "main"}"#),
        );
        for key in [
            "desiredAppId",
            "gitSha",
            "deployGroup",
            "pausedReason",
            "tasksExpected",
        ] {
            assert_eq!(mine[key], theirs[key], "{key}: grpcurl and --json agree");
        }
        assert!(
            theirs["tasks"].as_array().is_some_and(|t| !t.is_empty()),
            "{theirs}"
        );
    }

    // A bad selection: named, exit 1.
    let out = status(&["--service", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("nosuch"), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_speaks_mutual_tls_with_the_files_grpcurl_takes() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let v1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &v1);
    c.generate_deployments();
    let sim = SimProc::start(&c, 2, None).await;
    let pki = galley_e2e::pki::Pki::new();
    let ca = pki.write("ca.pem", &pki.ca.pem.clone());
    let (cert, key) = pki.ca.issue(&["localhost"], false);
    let (cert, key) = (
        pki.write("server.pem", &cert),
        pki.write("server-key.pem", &key),
    );
    let (grafana_cert, grafana_key) =
        pki.client(&pki.ca, "grafana", &["grafana.example.com"], false);
    let (mallory_cert, mallory_key) =
        pki.client(&pki.ca, "mallory", &["mallory.example.com"], false);
    let port = free_port();
    let tls = format!(
        "git:\n  poll_interval_seconds: 3600\ntls:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\nroles:\n  grafana.example.com: read_only\n",
        cert.display(),
        key.display(),
        ca.display()
    );
    let cfg = c.write("coordinator.yaml", &c.serve_config(&sim, port, 1.0, &tls));
    let _serve = c.serve("coordinator", &cfg, &[]);
    let server = format!("localhost:{port}");
    let (ca, g_cert, g_key) = (
        ca.display().to_string(),
        grafana_cert.display().to_string(),
        grafana_key.display().to_string(),
    );
    let as_reader = [
        "status", "--server", &server, "--cacert", &ca, "--cert", &g_cert, "--key", &g_key, "-s",
        "web", "-i", "main",
    ];

    // A read-only certificate reads.
    let screen = eventually(
        "status over mutual TLS",
        Duration::from_secs(60),
        || async {
            let out = c.cli(&as_reader);
            let (stdout, stderr) = text(&out);
            if stdout.contains(&format!("  Desired:      git {}", &v1[..8])) {
                Ok(stdout)
            } else {
                Err(format!("{stdout}{stderr}"))
            }
        },
    )
    .await;
    assert!(screen.starts_with("Cluster norcal-prod "), "{screen}");

    // A certificate without a role, or no certificate: refused, exit 1, the reason named.
    let (m_cert, m_key) = (
        mallory_cert.display().to_string(),
        mallory_key.display().to_string(),
    );
    let out = c.cli(&[
        "status", "--server", &server, "--cacert", &ca, "--cert", &m_cert, "--key", &m_key,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PermissionDenied") || stderr.contains("permission"),
        "{stderr}"
    );
    let out = c.cli(&["status", "--server", &server]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "plaintext to a TLS port: {:?}",
        text(&out)
    );
}
