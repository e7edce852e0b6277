//! Git is the source of truth: `serve` watches every service's repository. With a long poll
//! interval, only the webhook (HMAC-signed, README "Git watching") makes a pushed deploy tag
//! reach Marathon at once; a request with a bad signature changes nothing. `stop`/`start`
//! through the CLI and through `DeployService` (grpcurl) stop and start an instance.

use std::time::Duration;

use galley_e2e::cluster::{CLUSTER, Cluster, SimProc};
use galley_e2e::observe::{apps_of, http, marathon_app_ids, marathon_apps};
use galley_e2e::{Grpcurl, eventually, free_port};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);
const SECRET: &str = "webhook-shared-secret";

/// `sha256=<hex HMAC-SHA256 of body>`, what a git server sends.
fn sign(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to the webhook with `signature`; the status and the JSON answer.
async fn webhook(port: u16, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut req = http()
        .post(format!("http://127.0.0.1:{port}/v1/git-webhook"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        req = req.header("X-Hub-Signature-256", s);
    }
    let resp = req.send().await.expect("webhook answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The web.main app's id, once there is exactly one.
async fn web_main(sim: &SimProc) -> Result<String, String> {
    let ids = marathon_app_ids(&sim.marathon).await?;
    match apps_of(&ids, "web", "main")[..] {
        [one] => Ok(one.clone()),
        ref more => Err(format!("{more:?}")),
    }
}

/// `instances` of web.canary's one app.
/// The web.canary app's id, once there is exactly one.
async fn canary_app(sim: &SimProc) -> Result<String, String> {
    let ids = marathon_app_ids(&sim.marathon).await?;
    match apps_of(&ids, "web", "canary")[..] {
        [id] => Ok(id.clone()),
        ref other => Err(format!("{other:?}")),
    }
}

async fn canary_instances(sim: &SimProc) -> Result<u64, String> {
    let apps = marathon_apps(&sim.marathon).await?;
    let canary: Vec<&Value> = apps
        .iter()
        .filter(|a| {
            a["id"]
                .as_str()
                .is_some_and(|i| i.starts_with("/web.canary."))
        })
        .collect();
    match canary[..] {
        [a] => a["instances"].as_u64().ok_or("no instances".into()),
        _ => Err(format!("{} canary apps", canary.len())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_tags_reach_marathon_through_git_watching_and_the_webhook() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let v1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &v1);
    web.deploy("norcal-prod.canary", &v1);
    // api has no deploy yet: it is simply not deployed.

    let sim = SimProc::start(&c, 4, None).await;
    let (port, hook) = (free_port(), free_port());
    let secret = c.write("webhook-secret", SECRET);
    let git = format!(
        "git:
  poll_interval_seconds: 3600
  timeout_seconds: 10
  webhook_listen: 127.0.0.1:{hook}
  webhook_secret_file: {secret}
  mirror_dir: {mirrors}
",
        secret = secret.display(),
        mirrors = c.root.join("mirrors").display(),
    );
    let cfg = c.write("coordinator.yaml", &c.serve_config(&sim, port, 2.0, &git));
    let _serve = c.serve("coordinator", &cfg, &["--insecure"]);

    // The first poll at start writes deployments.json from the tags and web's apps appear.
    let first = eventually("web.main runs v1", MINUTE, || async {
        let id = web_main(&sim).await?;
        if id.contains(&format!(".git{}.", &v1[..8])) {
            Ok(id)
        } else {
            Err(id)
        }
    })
    .await;

    // A developer pushes v2 and its deploy tag. The next poll is an hour away.
    let v2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &v2);
    let deployments = c.soa.join("web/deployments.json");
    let before = std::fs::read_to_string(&deployments).expect("deployments.json");

    // A forged request is refused and changes nothing.
    let body =
        r#"{"repository": {"url": "REPO"}}"#.replace("REPO", &web.path.display().to_string());
    let (status, _) = webhook(hook, &body, Some(&sign("something else"))).await;
    assert_eq!(status, 401);
    let (status, _) = webhook(hook, &body, None).await;
    assert_eq!(status, 401);
    // Three passes later Marathon and deployments.json are as they were.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(web_main(&sim).await.expect("web.main"), first);
    assert_eq!(
        std::fs::read_to_string(&deployments).expect("deployments.json"),
        before
    );

    // The git server's signed push notification: web.main bounces to v2 at once.
    let (status, answer) = webhook(hook, &body, Some(&sign(&body))).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["services"], serde_json::json!(["web"]));
    eventually("web.main bounces to v2", MINUTE, || async {
        let id = web_main(&sim).await?;
        if id.contains(&format!(".git{}.", &v2[..8])) {
            Ok(())
        } else {
            Err(id)
        }
    })
    .await;
    // A service nobody has is a 404; a body naming nothing a 400.
    let unknown = r#"{"repository": "git@example.com:nobody/nothing.git"}"#;
    assert_eq!(webhook(hook, unknown, Some(&sign(unknown))).await.0, 404);
    assert_eq!(webhook(hook, "{}", Some(&sign("{}"))).await.0, 400);

    // `galley-coordinator stop` pushes a stop tag; the webhook makes it immediate.
    let soa = c.soa.display().to_string();
    let log = format!("{}/deploy-{{service}}.log", c.logs.display());
    let out = c.cli(&[
        "stop",
        "--soa-dir",
        &soa,
        "--deploy-log",
        &log,
        "--service",
        "web",
        "--cluster",
        CLUSTER,
        "--instance",
        "canary",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tag = String::from_utf8_lossy(&out.stdout);
    assert!(
        tag.contains("paasta-norcal-prod.canary-") && tag.contains("-stop"),
        "{tag}"
    );
    let ping = r#"{"service": "web"}"#;
    assert_eq!(webhook(hook, ping, Some(&sign(ping))).await.0, 202);
    eventually("web.canary is stopped", MINUTE, || async {
        match canary_instances(&sim).await? {
            0 => Ok(()),
            n => Err(format!("{n} instances")),
        }
    })
    .await;

    // DeployService/Start on the coordinator pushes the start tag and re-reads git at once.
    let Some(grpc) = Grpcurl::find(&format!("127.0.0.1:{port}")) else {
        return;
    };
    let started = grpc.ok(
        "galley.v1.DeployService/Start",
        Some(r#"{"service": "web", "cluster": "norcal-prod", "instance": "canary"}"#),
    );
    assert_eq!(started["kind"], "TAG_KIND_START", "{started}");
    assert_eq!(started["gitSha"], v1, "the canary runs v1: {started}");
    eventually("web.canary runs again", MINUTE, || async {
        match canary_instances(&sim).await? {
            1 => Ok(()),
            n => Err(format!("{n} instances")),
        }
    })
    .await;
    // DeployService/Restart, then the `restart` subcommand: each bounces web.canary to a new
    // app id (a new start tag changes the app's config hash), running one task again.
    let mut canary = canary_app(&sim).await.expect("one canary app");
    for how in ["DeployService/Restart", "restart subcommand"] {
        if how == "restart subcommand" {
            let out = c.cli(&[
                "restart",
                "--soa-dir",
                &soa,
                "--service",
                "web",
                "--cluster",
                CLUSTER,
                "--instance",
                "canary",
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(webhook(hook, ping, Some(&sign(ping))).await.0, 202);
        } else {
            let restarted = grpc.ok(
                "galley.v1.DeployService/Restart",
                Some(r#"{"service": "web", "cluster": "norcal-prod", "instance": "canary"}"#),
            );
            assert_eq!(restarted["gitSha"], v1, "{restarted}");
        }
        let before = canary.clone();
        canary = eventually(&format!("{how}: web.canary bounced"), MINUTE, || async {
            match canary_app(&sim).await {
                Ok(id) if id != before && canary_instances(&sim).await == Ok(1) => Ok(id),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    // A bad request names the field and pushes nothing.
    let bad = grpc.call(
        "galley.v1.DeployService/Stop",
        Some(r#"{"service": "web", "cluster": "norcal-prod", "instance": "no/such"}"#),
    );
    assert_eq!(bad.code().as_deref(), Some("InvalidArgument"), "{bad:?}");
    // Both requests are in web's deploy log.
    let log = std::fs::read_to_string(c.logs.join("deploy-web.log")).expect("deploy log");
    for state in ["'stop'", "'start'"] {
        assert!(
            log.contains(&format!(
                "change state of canary (an instance of web) to {state}"
            )),
            "{state} is not in the deploy log: {log}"
        );
    }
}
