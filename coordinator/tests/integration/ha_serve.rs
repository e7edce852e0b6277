//! Three real `galley-coordinator serve` processes, as on three masters: real ZooKeeper for
//! the election, mutual TLS on their gRPC ports, one Marathon/Mesos emulator. One leads and
//! creates the apps; the others plan but never write, serve reads, and refuse writes naming
//! the leader. `kill -9` of the leader: another takes over within the session timeout and
//! finishes a bounce. Across the three deploy logs every app is created and deleted exactly
//! once (no action duplicated).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use galley_common::refs::DesiredState;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use galley_proto::v1::{self as pb};
use galley_sim::marathon::{MarathonSim, MarathonSimConfig};
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::election::{unique_path, zookeeper};
use crate::reconcile::{SHA1, SHA2, deployments_text};
use galley_e2e::pki::Pki;

const SESSION_S: f64 = 2.0;

struct Node {
    id: String,
    port: u16,
    metrics_port: u16,
    log_dir: PathBuf,
    sys: PathBuf,
    sensu: SensuListener,
    child: Option<Child>,
}

/// A stand-in for one coordinator's Sensu client socket: counts the events it receives.
struct SensuListener {
    port: u16,
    events: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SensuListener {
    async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sensu");
        let port = listener.local_addr().expect("addr").port();
        let events = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = events.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = s.read_to_string(&mut text).await;
                    let n = text
                        .matches("\"check_marathon_services_replication.")
                        .count()
                        + text.matches("\"setup_marathon_job.").count();
                    count.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
        Self { port, events }
    }

    fn count(&self) -> usize {
        self.events.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `galley_<name>` from a coordinator's `/metrics` (None while it does not answer).
async fn metric(port: u16, name: &str) -> Option<f64> {
    galley_coordinator::tls::install_crypto_provider();
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("galley_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Setup {
    root: PathBuf,
    soa: PathBuf,
    sys: PathBuf,
    pki: Pki,
    ops: (PathBuf, PathBuf),
    server: (PathBuf, PathBuf),
}

fn write_service(soa: &Path, sha: &str) {
    let dir = soa.join("svc");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("service.yaml"), "description: ha test\n").expect("write");
    std::fs::write(
        dir.join("monitoring.yaml"),
        "team: ha-team\nrunbook: y/rb-ha\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("marathon-testcluster.yaml"),
        "main:\n  instances: 2\n  bounce_method: brutal\ncanary:\n  instances: 1\n  bounce_method: brutal\n",
    )
    .expect("write");
    let text = deployments_text("svc", &["main", "canary"], sha, DesiredState::Start, None);
    let tmp = dir.join("deployments.json.tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(tmp, dir.join("deployments.json")).expect("rename");
}

fn config(s: &Setup, sim: &MarathonSim, zk: &str, path: &str, node: &Node) -> PathBuf {
    let text = format!(
        "cluster: testcluster
soa_dir: {soa}
system_config_dir: {sys}
metrics_listen: 127.0.0.1:{metrics_port}
marathon: {{url: \"{marathon}\", timeout_seconds: 5}}
mesos: {{url: \"{mesos}\", timeout_seconds: 5}}
reconcile: {{interval_seconds: 0.5, max_cleanup_deletes_per_pass: 10}}
deploy_log: \"{log}/{{service}}.log\"
listen: 127.0.0.1:{port}
git: {{poll_interval_seconds: 3600}}
election:
  zookeeper: \"{zk}\"
  path: {path}
  session_timeout_seconds: {SESSION_S}
  grace_period_seconds: 0.5
  id: {id}
tls:
  cert_file: {cert}
  key_file: {key}
  client_ca_file: {ca}
roles:
  ops.example: operator
",
        soa = s.soa.display(),
        sys = node.sys.display(),
        metrics_port = node.metrics_port,
        marathon = sim.marathon_url(),
        mesos = sim.mesos_url(),
        log = node.log_dir.display(),
        port = node.port,
        id = node.id,
        cert = s.server.0.display(),
        key = s.server.1.display(),
        ca = s.pki.dir.path().join("ca.pem").display(),
    );
    let file = s.root.join(format!("{}.yaml", node.id));
    std::fs::write(&file, text).expect("config");
    file
}

fn spawn(config: &Path, node: &Node) -> Child {
    let err = std::fs::File::create(node.log_dir.join("stderr.log")).expect("stderr");
    Command::new(env!("CARGO_BIN_EXE_galley-coordinator"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn galley-coordinator serve")
}

async fn client(s: &Setup, port: u16) -> Option<CoordinatorServiceClient<Channel>> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(s.pki.dir.path().join("ca.pem")).expect("ca"),
        ))
        .identity(Identity::from_pem(
            std::fs::read(&s.ops.0).expect("cert"),
            std::fs::read(&s.ops.1).expect("key"),
        ))
        .domain_name("localhost");
    let ch = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .ok()?
        .tls_config(tls)
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .ok()?;
    Some(CoordinatorServiceClient::new(ch))
}

async fn status(s: &Setup, port: u16) -> Option<pb::GetStatusResponse> {
    let mut c = client(s, port).await?;
    c.get_status(pb::GetStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Waits until exactly one of the live nodes leads and the others name it; returns its index.
async fn one_leader(s: &Setup, nodes: &[Node], timeout: Duration) -> usize {
    let start = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.child.is_some() {
                statuses.push((i, status(s, n.port).await));
            }
        }
        let leaders: Vec<usize> = statuses
            .iter()
            .filter(|(_, st)| st.as_ref().is_some_and(|st| st.leader))
            .map(|(i, _)| *i)
            .collect();
        assert!(leaders.len() <= 1, "two leaders: {statuses:?}");
        if let [l] = leaders[..] {
            let all_agree = statuses
                .iter()
                .all(|(_, st)| st.as_ref().is_some_and(|st| st.leader_id == nodes[l].id));
            if all_agree {
                return l;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "no agreed leader after {timeout:?}: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_apps(sim: &MarathonSim, want: &[&str], timeout: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let mut apps: Vec<String> = sim.app_ids();
        apps.sort();
        let ok =
            apps.len() == want.len() && want.iter().all(|w| apps.iter().any(|a| a.contains(w)));
        if ok {
            return apps;
        }
        assert!(
            start.elapsed() < timeout,
            "apps {apps:?} never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Per message ("create /x", "delete old app /x"), how many times any deploy log has it.
fn actions(nodes: &[Node]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for n in nodes {
        let Ok(text) = std::fs::read_to_string(n.log_dir.join("svc.log")) else {
            continue;
        };
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("log line");
            let m = v["message"].as_str().unwrap_or_default();
            if m.starts_with("create ") || m.starts_with("delete ") || m.starts_with("kill ") {
                *counts.entry(m.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Three `serve` processes on one emulator, all running SHA1 of `svc`.
async fn start_cluster(zk: &str, test: &str) -> (tempfile::TempDir, Setup, MarathonSim, Vec<Node>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().to_path_buf();
    let pki = Pki::new();
    let ca_pem = pki.ca.pem.clone();
    pki.write("ca.pem", &ca_pem);
    let (sc, sk) = pki.ca.issue(&["localhost"], false);
    let server = (pki.write("server.crt", &sc), pki.write("server.key", &sk));
    let ops = pki.client(&pki.ca, "ops", &["ops.example"], false);
    let s = Setup {
        soa: root.join("soa"),
        sys: root.join("etc-paasta"),
        root: root.clone(),
        pki,
        ops,
        server,
    };
    std::fs::create_dir_all(&s.sys).expect("mkdir");
    std::fs::write(s.sys.join("cluster.json"), r#"{"cluster": "testcluster"}"#).expect("w");
    std::fs::write(
        s.sys.join("docker.json"),
        r#"{"docker_registry": "registry.example.com:443", "volumes": []}"#,
    )
    .expect("w");
    write_service(&s.soa, SHA1);
    let sim = MarathonSim::start(MarathonSimConfig::real_time())
        .await
        .expect("sim");
    let path = format!("{}/leader", unique_path(test));
    let mut nodes: Vec<Node> = Vec::new();
    for id in ["c1", "c2", "c3"] {
        let log_dir = root.join(id);
        std::fs::create_dir_all(&log_dir).expect("mkdir");
        // Each coordinator's own system config, naming its own Sensu listener.
        let sys = root.join(format!("etc-paasta-{id}"));
        std::fs::create_dir_all(&sys).expect("mkdir");
        for f in ["cluster.json", "docker.json"] {
            std::fs::copy(s.sys.join(f), sys.join(f)).expect("copy");
        }
        let sensu = SensuListener::start().await;
        std::fs::write(
            sys.join("sensu.json"),
            format!(
                r#"{{"sensu_host": "127.0.0.1", "sensu_port": {}}}"#,
                sensu.port
            ),
        )
        .expect("w");
        nodes.push(Node {
            id: id.to_string(),
            port: free_port(),
            metrics_port: free_port(),
            log_dir,
            sys,
            sensu,
            child: None,
        });
    }
    for node in &mut nodes {
        let cfg = config(&s, &sim, zk, &path, node);
        node.child = Some(spawn(&cfg, node));
    }

    (tmp, s, sim, nodes)
}

/// Waits for a leader and the SHA1 apps; returns the leader's index and the apps.
async fn first_deploy(s: &Setup, sim: &MarathonSim, nodes: &[Node]) -> (usize, Vec<String>) {
    let leader = one_leader(s, nodes, Duration::from_secs(60)).await;
    let apps = wait_apps(
        sim,
        &["svc.main.git11111111", "svc.canary.git11111111"],
        Duration::from_secs(30),
    )
    .await;
    (leader, apps)
}

/// SIGTERM to every live coordinator (a clean leave), then the emulator down.
async fn stop_all(sim: MarathonSim, nodes: &mut [Node]) {
    for n in nodes {
        if let Some(mut c) = n.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_coordinators_one_acts_and_a_successor_finishes_the_bounce() {
    let Some(zk) = zookeeper() else { return };
    let (_tmp, s, sim, mut nodes) = start_cluster(&zk, "serve").await;
    let (leader, old_apps) = first_deploy(&s, &sim, &nodes).await;
    eprintln!("leader {}; apps {old_apps:?}", nodes[leader].id);

    // A follower serves reads and refuses writes, naming the leader.
    let follower = (leader + 1) % 3;
    let mut c = client(&s, nodes[follower].port)
        .await
        .expect("follower client");
    let e = c
        .freeze_cluster(pb::FreezeClusterRequest {
            reason: "test".into(),
        })
        .await
        .expect_err("follower refuses writes");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains(&nodes[leader].id), "{}", e.message());
    let st = status(&s, nodes[follower].port)
        .await
        .expect("follower status");
    let pass = st.last_pass.expect("followers run passes");
    assert_eq!(pass.outcome, pb::PassOutcome::Follower as i32, "{pass:?}");

    // Only the leader alerts, and the metrics say who leads.
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes[leader].sensu.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "the leader never sent a Sensu event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, n) in nodes.iter().enumerate() {
        let term = metric(n.metrics_port, "leader_term")
            .await
            .expect("metrics");
        if i == leader {
            assert!(term >= 1.0, "leader term {term}");
        } else {
            assert_eq!(term, 0.0, "{} is a follower", n.id);
            assert_eq!(n.sensu.count(), 0, "follower {} sent Sensu events", n.id);
        }
    }

    // kill -9 the leader, then ask for a bounce.
    nodes[leader].child.take().map(|mut c| {
        c.kill().expect("kill");
        c.wait().expect("wait")
    });
    let killed_at = Instant::now();
    write_service(&s.soa, SHA2);
    let next = one_leader(&s, &nodes, Duration::from_secs(20)).await;
    let takeover = killed_at.elapsed();
    eprintln!("successor {} after {takeover:?}", nodes[next].id);
    assert_ne!(next, leader);
    assert!(
        takeover < Duration::from_secs_f64(SESSION_S * 3.0),
        "takeover took {takeover:?}"
    );
    let new_apps = wait_apps(
        &sim,
        &["svc.main.git22222222", "svc.canary.git22222222"],
        Duration::from_secs(60),
    )
    .await;
    eprintln!("after the bounce: {new_apps:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes[next].sensu.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "the new leader never sent a Sensu event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let third = 3 - leader - next;
    assert_eq!(
        nodes[third].sensu.count(),
        0,
        "the remaining follower alerted"
    );
    eprintln!(
        "Sensu events: {:?}",
        nodes
            .iter()
            .map(|n| (&n.id, n.sensu.count()))
            .collect::<Vec<_>>()
    );

    // Events are logged after the pass that made them: wait until every expected action is in
    // some log, then a few more passes, so a duplicate would have time to show.
    let expected: Vec<String> = old_apps
        .iter()
        .chain(&new_apps)
        .map(|a| format!("create {a}"))
        .chain(old_apps.iter().map(|a| format!("delete old app {a}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !expected.iter().all(|e| actions(&nodes).contains_key(e)) {
        assert!(
            Instant::now() < deadline,
            "actions never all logged: {:#?}",
            actions(&nodes)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = actions(&nodes);
    let real = &counts;
    eprintln!("actions across the three deploy logs: {real:#?}");
    for app in old_apps.iter().chain(&new_apps) {
        let created = counts
            .get(&format!("create /{}", app.trim_start_matches('/')))
            .copied()
            .unwrap_or(0);
        assert_eq!(created, 1, "{app} created {created} times: {real:#?}");
    }
    for app in &old_apps {
        let deleted = counts
            .iter()
            .filter(|(m, _)| m.starts_with("delete ") && m.contains(app.trim_start_matches('/')))
            .map(|(_, n)| *n)
            .sum::<usize>();
        assert_eq!(deleted, 1, "{app} deleted {deleted} times: {real:#?}");
    }
    // Only the two leaders ever wrote.
    for (i, n) in nodes.iter().enumerate() {
        if i != leader && i != next {
            let text = std::fs::read_to_string(n.log_dir.join("svc.log")).unwrap_or_default();
            assert!(
                !text.contains("\"create ") && !text.contains("\"delete "),
                "follower {} acted:\n{text}",
                n.id
            );
        }
    }
    stop_all(sim, &mut nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_survives_a_fail_over() {
    let Some(zk) = zookeeper() else { return };
    let (_tmp, s, sim, mut nodes) = start_cluster(&zk, "freeze").await;
    let (leader, old_apps) = first_deploy(&s, &sim, &nodes).await;
    let mut c = client(&s, nodes[leader].port).await.expect("leader client");
    c.freeze_cluster(pb::FreezeClusterRequest {
        reason: "incident 4711".into(),
    })
    .await
    .expect("freeze on the leader");
    // Every follower mirrors the freeze.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, n) in nodes.iter().enumerate() {
        if i == leader {
            continue;
        }
        loop {
            let st = status(&s, n.port).await.expect("status");
            if st.frozen_reason == "incident 4711" {
                break;
            }
            assert!(Instant::now() < deadline, "{} never saw the freeze", n.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The leader dies; a new version is deployed while frozen: the new leader must not bounce.
    if let Some(mut c) = nodes[leader].child.take() {
        c.kill().expect("kill");
        c.wait().expect("wait");
    }
    write_service(&s.soa, SHA2);
    let next = one_leader(&s, &nodes, Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = status(&s, nodes[next].port).await.expect("status");
        let frozen_pass = st
            .last_pass
            .as_ref()
            .is_some_and(|p| p.outcome == pb::PassOutcome::Frozen as i32);
        if frozen_pass {
            assert_eq!(st.frozen_reason, "incident 4711");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new leader never reported a frozen pass: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut apps = sim.app_ids();
    apps.sort();
    assert_eq!(apps, old_apps, "nothing may change while frozen");

    // Unfreezing on the new leader lets the bounce happen.
    let mut c = client(&s, nodes[next].port).await.expect("client");
    c.unfreeze_cluster(pb::UnfreezeClusterRequest {})
        .await
        .expect("unfreeze on the new leader");
    wait_apps(
        &sim,
        &["svc.main.git22222222", "svc.canary.git22222222"],
        Duration::from_secs(60),
    )
    .await;
    stop_all(sim, &mut nodes).await;
}
