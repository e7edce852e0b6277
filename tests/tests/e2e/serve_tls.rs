//! `serve` as on a cluster: mutual TLS and `roles` (README "Security and high availability").
//! An operator's certificate writes, a read-only one reads and is refused writes (and the
//! refusal is audited), a certificate of the CA with no role gets nothing but health and
//! reflection, and clients without a certificate of the CA never reach a handler. Without a
//! `tls` section and without `--insecure`, `serve` refuses to start.

use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::observe::{deploy_log_messages, marathon_app_ids};
use galley_e2e::pki::Pki;
use galley_e2e::{Grpcurl, eventually, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_roles_decide_who_may_call_what() {
    let c = Cluster::from_examples();
    let web = c.repo("web");
    let v1 = web.commit("web v1");
    web.deploy("norcal-prod.everything", &v1);
    c.generate_deployments();
    let sim = SimProc::start(&c, 2, None).await;

    let pki = Pki::new();
    let ca = pki.write("ca.pem", &pki.ca.pem.clone());
    let (cert, key) = pki.ca.issue(&["localhost"], false);
    let (cert, key) = (
        pki.write("server.pem", &cert),
        pki.write("server-key.pem", &key),
    );
    let alice = pki.client(&pki.ca, "alice", &["alice.ops.example.com"], false);
    let grafana = pki.client(&pki.ca, "grafana", &["grafana.example.com"], false);
    let mallory = pki.client(&pki.ca, "mallory", &["mallory.example.com"], false);
    let stranger = pki.client(&pki.other_ca, "stranger", &["alice.ops.example.com"], false);

    let port = free_port();
    let base = c.serve_config(&sim, port, 2.0, "git:\n  poll_interval_seconds: 3600\n");

    // No `tls` and no --insecure: refused, naming the file.
    let plain = c.write("plain.yaml", &base);
    let out = c.cli(&["serve", "--config", &plain.display().to_string()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain.yaml") && err.contains("--insecure"),
        "{err}"
    );

    let cfg = c.write(
        "coordinator.yaml",
        &format!(
            "{base}tls:
  cert_file: {cert}
  key_file: {key}
  client_ca_file: {ca}
roles:
  alice.ops.example.com: operator
  grafana.example.com: read_only
",
            cert = cert.display(),
            key = key.display(),
            ca = ca.display(),
        ),
    );
    let _serve = c.serve("coordinator", &cfg, &[]);
    eventually(
        "the coordinator creates web.main",
        Duration::from_secs(60),
        || async {
            let ids = marathon_app_ids(&sim.marathon).await?;
            if ids.iter().any(|i| i.starts_with("/web.main.")) {
                Ok(())
            } else {
                Err(format!("{ids:?}"))
            }
        },
    )
    .await;

    let Some(grpcurl) = Grpcurl::find(&format!("localhost:{port}")) else {
        return;
    };
    let as_ = |(c, k): &(std::path::PathBuf, std::path::PathBuf)| {
        grpcurl.with_tls(ca.clone(), c.clone(), k.clone())
    };
    let (alice, grafana, mallory, stranger) =
        (as_(&alice), as_(&grafana), as_(&mallory), as_(&stranger));

    // The operator reads and writes; the write is audited under the certificate's name.
    let status = eventually(
        "GetStatus over mutual TLS",
        Duration::from_secs(30),
        || async {
            let out = alice.call("GetStatus", None);
            if out.ok {
                Ok(out.json())
            } else {
                Err(out.stderr)
            }
        },
    )
    .await;
    assert_eq!(status["leader"], true, "{status}");
    alice.ok("FreezeCluster", Some(r#"{"reason": "tls e2e"}"#));
    alice.ok("UnfreezeCluster", None);

    // Read-only: reads yes, writes PERMISSION_DENIED.
    let instances = grafana.ok("ListInstances", Some(r#"{"service": "web"}"#));
    assert!(instances["instances"].is_array(), "{instances}");
    let denied = grafana.call("FreezeCluster", Some(r#"{"reason": "nope"}"#));
    assert_eq!(
        denied.code().as_deref(),
        Some("PermissionDenied"),
        "{denied:?}"
    );
    let denied = grafana.call(
        "galley.v1.DeployService/Stop",
        Some(r#"{"service": "web", "cluster": "norcal-prod", "instance": "main"}"#),
    );
    assert_eq!(
        denied.code().as_deref(),
        Some("PermissionDenied"),
        "{denied:?}"
    );

    // A certificate of the CA with no role: health and reflection only.
    let denied = mallory.call("GetStatus", None);
    assert_eq!(
        denied.code().as_deref(),
        Some("PermissionDenied"),
        "{denied:?}"
    );
    let health = mallory.call("grpc.health.v1.Health/Check", None);
    assert!(health.ok, "{health:?}");
    assert_eq!(health.json()["status"], "SERVING");
    let list = mallory.raw(&[grpcurl.addr().to_owned(), "list".to_owned()]);
    assert!(
        list.stdout.contains("galley.v1.CoordinatorService"),
        "{list:?}"
    );

    // Another CA's certificate (even with an operator's name), or plaintext: no handler.
    let refused = stranger.call("GetStatus", None);
    assert!(!refused.ok && refused.code().is_none(), "{refused:?}");
    let plaintext = grpcurl.call("GetStatus", None);
    assert!(!plaintext.ok, "{plaintext:?}");

    // The audit trail: the operator's freeze by name, the read-only caller's refusals.
    let audit = deploy_log_messages(&c.logs.join("deploy-_cluster.log"));
    assert!(
        audit
            .iter()
            .any(|m| m.contains("alice.ops.example.com froze reconciling: tls e2e")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|m| m.contains("FreezeCluster denied to grafana.example.com")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|m| m.contains("GetStatus denied to mallory.example.com")),
        "{audit:?}"
    );
}
