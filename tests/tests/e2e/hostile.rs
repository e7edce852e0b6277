//! Hostile and broken input against the built binaries (README "Limits and bad input"): one
//! bad commit to yelpsoa-configs never takes the coordinator down or stops the other services;
//! names that are not names are refused everywhere; an agent connection is validated like any
//! other input; operator text cannot forge a log line.

use std::process::Command;
use std::time::Duration;

use galley_e2e::cluster::{CLUSTER, Cluster, SimProc};
use galley_e2e::observe::{http, marathon_app_ids};
use galley_e2e::{Grpcurl, bin, eventually, free_port};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

/// A 10-level "billion laughs": ten aliases of ten aliases of ... (~10^10 nodes expanded).
fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    text
}

/// `galley-coordinator ARGS` under `timeout 60`, so a hang fails instead of blocking.
fn coordinator(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(bin("galley-coordinator"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run galley-coordinator");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_commit_to_the_soa_dir_fails_only_its_own_service() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let w1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &w1);
    let soa = c.soa.display().to_string();

    // Each of these replaces api's instance file; generate-deployments exits 1 (not a crash,
    // not a hang) naming the file and what is wrong, and still writes web.
    let api_file = c.soa.join("api/marathon-norcal-prod.yaml");
    let big = format!(
        "main:\n  instances: 1\n  cmd: \"{}\"\n",
        "x".repeat(5 << 20)
    );
    let deep = format!("{}x\n", "- ".repeat(10_000));
    type BreakIt<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, BreakIt, &str)> = vec![
        (
            "alias bomb",
            Box::new(|| std::fs::write(&api_file, alias_bomb()).unwrap()),
            "more than 500000 nodes",
        ),
        (
            "deep nesting",
            Box::new(|| std::fs::write(&api_file, &deep).unwrap()),
            "nested more than 64 deep",
        ),
        (
            "5 MiB file",
            Box::new(|| std::fs::write(&api_file, &big).unwrap()),
            "larger than 4194304 bytes",
        ),
        (
            "symlink to /dev/zero",
            Box::new(|| std::os::unix::fs::symlink("/dev/zero", &api_file).unwrap()),
            "not a regular file",
        ),
        (
            "FIFO",
            Box::new(|| {
                assert!(
                    Command::new("mkfifo")
                        .arg(&api_file)
                        .status()
                        .unwrap()
                        .success()
                )
            }),
            "not a regular file",
        ),
    ];
    for (what, break_it, needle) in cases {
        let _ = std::fs::remove_file(&api_file);
        break_it();
        let _ = std::fs::remove_file(c.soa.join("web/deployments.json"));
        let (code, _, stderr) = coordinator(&["generate-deployments", "--soa-dir", &soa]);
        assert_eq!(code, Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("service api") && stderr.contains("marathon-norcal-prod.yaml"),
            "{what}: the error names the service and file: {stderr}"
        );
        assert!(stderr.contains(needle), "{what}: {stderr}");
        assert!(
            c.soa.join("web/deployments.json").is_file(),
            "{what}: web still written"
        );
    }

    // `plan` reads the same tree against a live cluster: for each bomb it plans web and names
    // api's file and what is wrong with it, and exits 0 (one broken service is not a failed pass).
    let sim = SimProc::start(&c, 2, None).await;
    let cfg = c.write(
        "plan.yaml",
        &format!(
            "cluster: {CLUSTER}\nsoa_dir: {soa}\nsystem_config_dir: {}\nmarathon: {{url: \"{}\"}}\nmesos: {{url: \"{}\"}}\nreconcile: {{}}\n",
            c.sys.display(),
            sim.marathon,
            sim.mesos,
        ),
    );
    let bombs: [(&str, &str, &str); 3] = [
        ("alias bomb", &alias_bomb(), "more than 500000 nodes"),
        ("deep nesting", &deep, "nested more than 64 deep"),
        ("5 MiB file", &big, "larger than 4194304 bytes"),
    ];
    for (what, text, needle) in bombs {
        let _ = std::fs::remove_file(&api_file);
        std::fs::write(&api_file, text).unwrap();
        let (code, stdout, stderr) = coordinator(&["plan", "--config", &cfg.display().to_string()]);
        assert_eq!(code, Some(0), "{what}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("/web.main.git{}", &w1[..8])),
            "{what}: web is planned: {stdout}"
        );
        assert!(
            stdout.contains("service api") && stdout.contains("marathon-norcal-prod.yaml"),
            "{what}: api is named: {stdout}"
        );
        assert!(stdout.contains(needle), "{what}: {stdout}");
    }
    drop(sim);

    // Names that are not names, and a service directory that leads out of the soa dir.
    let outside = tempfile::tempdir().unwrap();
    for name in ["../outside", "/tmp", ""] {
        let (code, _, stderr) =
            coordinator(&["generate-deployments", "--soa-dir", &soa, "--service", name]);
        assert_eq!(code, Some(1), "{name:?}: {stderr}");
        assert!(
            stderr.contains("not a valid name") || stderr.contains("required"),
            "{stderr}"
        );
    }
    std::fs::write(
        outside.path().join("service.yaml"),
        format!("git_url: {}\n", web.path.display()),
    )
    .unwrap();
    std::fs::write(
        outside.path().join("marathon-norcal-prod.yaml"),
        "main: {}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), c.soa.join("escape")).unwrap();
    let (code, _, stderr) = coordinator(&[
        "generate-deployments",
        "--soa-dir",
        &soa,
        "--service",
        "escape",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("outside the soa dir"), "{stderr}");
    assert!(
        !outside.path().join("deployments.json").exists(),
        "nothing is written through the symlink"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_deploying_and_refuses_bad_names_and_bad_agents() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let w1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &w1);
    web.deploy("norcal-prod.canary", &w1);
    c.generate_deployments();
    // api's instance file is a FIFO with no writer, batch's an alias bomb: both are reported,
    // and every pass still deploys web.
    let api_file = c.soa.join("api/marathon-norcal-prod.yaml");
    std::fs::remove_file(&api_file).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&api_file)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(c.soa.join("batch/chronos-norcal-prod.yaml"), alias_bomb()).unwrap();

    let sim = SimProc::start(&c, 1, None).await;
    let (port, hook) = (free_port(), free_port());
    let secret = c.write("secret", "s3cret");
    let extra = format!(
        "git:
  poll_interval_seconds: 3600
  webhook_listen: 127.0.0.1:{hook}
  webhook_secret_file: {secret}
reaper: {{mode: enforce, min_age_seconds: 0, interval_seconds: 1, sightings: 1, max_fraction_per_host: 1.0}}
",
        secret = secret.display(),
    );
    let cfg = c.write("coordinator.yaml", &c.serve_config(&sim, port, 1.0, &extra));
    let mut serve = c.serve("coordinator", &cfg, &["--insecure"]);
    eventually("web's apps despite api and batch", MINUTE, || async {
        let ids = marathon_app_ids(&sim.marathon).await?;
        if ids.len() == 2 && ids.iter().all(|i| i.starts_with("/web.")) {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    let Some(grpc) = Grpcurl::find(&format!("127.0.0.1:{port}")) else {
        return;
    };

    // The webhook refuses names that are not names (an empty one used to write
    // <soa_dir>/deployments.json).
    let sign = |body: &str| {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    for body in [
        r#"{"service": ""}"#,
        r#"{"service": "../api"}"#,
        r#"{"service": "a\nb"}"#,
    ] {
        let resp = http()
            .post(format!("http://127.0.0.1:{hook}/v1/git-webhook"))
            .header("X-Hub-Signature-256", sign(body))
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert_eq!(resp.status().as_u16(), 400, "{body}");
    }
    assert!(!c.soa.join("deployments.json").exists());

    // DeployService and the operator API: one name check, a short message naming the field.
    let long = "x".repeat(10_000);
    for (method, data) in [
        (
            "galley.v1.DeployService/Stop",
            json!({"service": "we\u{0}b", "cluster": CLUSTER, "instance": "main"}),
        ),
        (
            "galley.v1.DeployService/Stop",
            json!({"service": long, "cluster": CLUSTER, "instance": "main"}),
        ),
        (
            "galley.v1.DeployService/MarkForDeployment",
            json!({"service": "web", "deploy_group": "../x", "git_sha": w1}),
        ),
        ("GetInstance", json!({"service": "..", "instance": "main"})),
    ] {
        let out = grpc.call(method, Some(&data.to_string()));
        assert_eq!(
            out.code().as_deref(),
            Some("InvalidArgument"),
            "{method}: {out:?}"
        );
        assert!(
            out.stderr.len() < 600,
            "{method}: a short message: {}",
            out.stderr.len()
        );
        assert!(
            out.stderr.contains("not a valid name"),
            "{method}: {}",
            out.stderr
        );
    }

    // A freeze reason with a newline cannot forge a line in the coordinator's log.
    grpc.ok(
        "FreezeCluster",
        Some(r#"{"reason": "x\nFORGED INFO galley: leader elected"}"#),
    );
    grpc.ok("UnfreezeCluster", None);
    let log = serve.output();
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED")),
        "a forged line in the log:\n{}",
        serve.tail(20)
    );

    // The agent protocol, spoken by hand: bad hellos are refused.
    let session = "galley.v1.AgentService/Session";
    for hostname in ["a\nb", "../../etc", long.as_str()] {
        let hello = json!({"hello": {"hostname": hostname}}).to_string();
        let g = grpc.clone();
        let out = tokio::task::spawn_blocking(move || {
            g.stream(session, &[hello], Duration::from_millis(200))
        })
        .await
        .unwrap();
        assert_eq!(
            out.code().as_deref(),
            Some("InvalidArgument"),
            "{hostname:.20}: {out:?}"
        );
    }

    // A "slave" in upper case with one good orphan and four hostile records: only the good
    // one is kept and ordered (enforce mode, no minimum age); the others never.
    let host = sim_slave(&sim).await;
    let now = chrono_now_nanos();
    let record = |id: &str, name: &str, created: i64| {
        json!({"id": id, "name": name, "createdUnixNanos": created.to_string(),
               "state": "CONTAINER_STATE_RUNNING", "taskIdEnv": "retired.main.1", "image": "img"})
    };
    let good_id = "a".repeat(64);
    let nul_id = format!("{}\u{0}", "b".repeat(63));
    let inventory = json!({"inventory": {"containers": [
        record(&good_id, "mesos-orphan-good", now - 7_200_000_000_000),
        record("", "mesos-empty-id", now - 7_200_000_000_000),
        record("../../../x", "mesos-path", now - 7_200_000_000_000),
        record(&nul_id, "mesos-nul", now - 7_200_000_000_000),
        record(&"c".repeat(64), "mesos-epoch", 0),
    ]}})
    .to_string();
    let hello = json!({"hello": {"hostname": host.to_uppercase()}}).to_string();
    let g = grpc.clone();
    let out = tokio::task::spawn_blocking(move || {
        g.stream(session, &[hello, inventory], Duration::from_secs(6))
    })
    .await
    .unwrap();
    let orders: Vec<String> = stream_json(&out.stdout)
        .iter()
        .filter_map(|m| m["reapOrder"]["containerId"].as_str().map(str::to_owned))
        .collect();
    assert!(
        orders.contains(&good_id),
        "the good orphan is ordered: {out:?}"
    );
    assert!(orders.iter().all(|o| o == &good_id), "only it: {orders:?}");
    let agents = grpc.ok("ListAgents", None);
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["host"].as_str())
        .collect();
    assert_eq!(names, [host.as_str()], "one host, lower case: {agents}");

    // An inventory over the per-host limit ends the session, and the agent is told why.
    let many: Vec<Value> = (0..2_001)
        .map(|i| record(&format!("{i:064x}"), &format!("mesos-{i}"), now))
        .collect();
    let inventory = json!({"inventory": {"containers": many}}).to_string();
    let hello = json!({"hello": {"hostname": host}}).to_string();
    let g = grpc.clone();
    let out = tokio::task::spawn_blocking(move || {
        g.stream(session, &[hello, inventory], Duration::from_secs(2))
    })
    .await
    .unwrap();
    assert_eq!(out.code().as_deref(), Some("ResourceExhausted"), "{out:?}");
    assert!(
        out.stderr.contains("over the limit of 2000"),
        "{}",
        out.stderr
    );
    assert!(
        serve.running(),
        "the coordinator is still up:\n{}",
        serve.tail(20)
    );
}

/// The emulated slave's hostname.
async fn sim_slave(sim: &SimProc) -> String {
    let slaves = galley_e2e::observe::get_json(&format!("{}/master/slaves", sim.mesos))
        .await
        .expect("slaves");
    slaves["slaves"][0]["hostname"]
        .as_str()
        .expect("hostname")
        .to_owned()
}

/// Unix nanoseconds now.
fn chrono_now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64
}

/// The JSON objects grpcurl printed one after another.
fn stream_json(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .collect()
}
