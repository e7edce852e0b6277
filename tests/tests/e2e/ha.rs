//! "Three `serve` processes with ZooKeeper: one acts; `kill -9` of the leader hands over."
//!
//! Three `galley-coordinator serve` processes, as on three masters (README.md's config with
//! `election`, mutual TLS and `roles`), each with its own system config pointing at its own
//! Sensu client, all on one `galley-sim marathon` and a real ZooKeeper. Told from outside:
//!
//! 1. exactly one leads (GetStatus, `galley_leader_term`) and creates the apps; the followers
//!    answer reads and refuse writes with FAILED_PRECONDITION naming the leader;
//! 2. only the leader's Sensu client hears events;
//! 3. `kill -9` of the leader: another leads within the ZooKeeper session timeout (plus a
//!    margin) with a greater term, and carries out a new deploy (web.main bounces);
//! 4. across the three deploy logs every app is created once and deleted at most once;
//! 5. the killed coordinator, restarted, joins as a follower.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use galley_e2e::cluster::{CLUSTER, Cluster, SimProc};
use galley_e2e::observe::{SensuListener, apps_of, deploy_log_messages, marathon_app_ids, metric};
use galley_e2e::pki::Pki;
use galley_e2e::zookeeper::{unique_znode, zookeeper};
use galley_e2e::{Grpcurl, Proc, eventually, free_port};
use serde_json::Value;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);
/// `election.session_timeout_seconds`: a crashed leader's node goes when its session expires.
const SESSION: Duration = Duration::from_secs(2);
/// What a takeover may take beyond the session timeout: ZooKeeper's expiry tick, the watch,
/// the new leader's gate, and grpcurl (a Go process per call) on a 2-core machine that runs
/// the rest of the suite at the same time. Measured: 1.9–2.2 s in all; the bound is generous
/// so the test is never flaky, and the measured time is printed.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(13);

/// One master: its coordinator process and how a user reaches it.
struct Node {
    id: &'static str,
    metrics_port: u16,
    /// Its own Sensu client.
    sensu: SensuListener,
    /// grpcurl with the operator certificate, dialing `localhost:<listen port>`.
    grpc: Grpcurl,
    proc: Proc,
}

impl Node {
    /// Whether its process runs (not killed).
    fn live(&self) -> bool {
        self.proc.pid().is_some()
    }

    /// `GetStatus` as grpcurl prints it (proto3 JSON: `false`/`0` fields are left out).
    fn status(&self) -> Result<Value, String> {
        let out = self.grpc.call("GetStatus", None);
        if out.ok {
            Ok(out.json())
        } else {
            Err(format!("{}: {}", self.id, out.stderr.trim()))
        }
    }

    /// Its deploy log files (`<logs>/deploy/<id>-<service>.log`).
    fn deploy_logs(&self, c: &Cluster) -> Vec<PathBuf> {
        let prefix = format!("{}-", self.id);
        let mut files: Vec<PathBuf> = std::fs::read_dir(c.logs.join("deploy"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        });
        files.sort();
        files
    }
}

/// README.md's `serve` config for one master: election, mutual TLS, roles.
#[allow(clippy::too_many_arguments)]
fn config(
    c: &Cluster,
    sim: &SimProc,
    tls: &Tls,
    zk: &str,
    election_path: &str,
    id: &str,
    sys: &Path,
    port: u16,
    metrics_port: u16,
) -> PathBuf {
    c.write(
        &format!("{id}.yaml"),
        &format!(
            "cluster: {CLUSTER}
soa_dir: {soa}
system_config_dir: {sys}
marathon:
  url: {marathon}
  timeout_seconds: 10
mesos:
  url: {mesos}
reconcile:
  interval_seconds: 1
  kill_threshold: 0.5
  max_cleanup_deletes_per_pass: 20
  max_task_kills_per_pass: 1000
deploy_log: {logs}/deploy/{id}-{{service}}.log
listen: 127.0.0.1:{port}
metrics_listen: 127.0.0.1:{metrics_port}
git:
  poll_interval_seconds: 3600
election:
  zookeeper: {zk}
  path: {election_path}
  session_timeout_seconds: {session}
  grace_period_seconds: 0.5
  id: {id}
tls:
  cert_file: {cert}
  key_file: {key}
  client_ca_file: {ca}
roles:
  ops.example: operator
",
            soa = c.soa.display(),
            sys = sys.display(),
            marathon = sim.marathon,
            mesos = sim.mesos,
            logs = c.logs.display(),
            session = SESSION.as_secs_f64(),
            cert = tls.server.0.display(),
            key = tls.server.1.display(),
            ca = tls.ca.display(),
        ),
    )
}

/// The cluster's certificates: the CA, the masters' server certificate (`localhost`) and an
/// operator's client certificate (`ops.example`).
struct Tls {
    _pki: Pki,
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    ops: (PathBuf, PathBuf),
}

impl Tls {
    fn new() -> Self {
        let pki = Pki::new();
        let ca = pki.write("ca.pem", &pki.ca.pem);
        let server = pki.client(&pki.ca, "server", &["localhost"], false);
        let ops = pki.client(&pki.ca, "ops", &["ops.example"], false);
        Self {
            _pki: pki,
            ca,
            server,
            ops,
        }
    }
}

/// `leaderTerm` of a GetStatus answer (a uint64: a JSON string; absent when 0).
fn term(status: &Value) -> u64 {
    match &status["leaderTerm"] {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_u64().unwrap_or(0),
    }
}

/// Exactly one live coordinator says `leader: true` with a term ≥ 1, and every other live
/// one names it in `leaderId`: (its index, its term). Two leaders at once fail the test.
fn agreed_leader(nodes: &[Node]) -> Result<(usize, u64), String> {
    let statuses: Vec<(usize, Value)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.live())
        .map(|(i, n)| n.status().map(|s| (i, s)))
        .collect::<Result<_, _>>()?;
    let leaders: Vec<&(usize, Value)> = statuses
        .iter()
        .filter(|(_, s)| s["leader"] == true)
        .collect();
    assert!(leaders.len() <= 1, "two leaders at once: {statuses:?}");
    let Some((l, st)) = leaders.first() else {
        return Err(format!("nobody leads: {statuses:?}"));
    };
    let id = nodes[*l].id;
    if term(st) < 1 || st["leaderId"] != id {
        return Err(format!("leader {id} says {st}"));
    }
    match statuses.iter().find(|(_, s)| s["leaderId"] != id) {
        Some((i, s)) => Err(format!("{} names another leader: {s}", nodes[*i].id)),
        None => Ok((*l, term(st))),
    }
}

/// Every instance has one app running `sha` (its first 8 hex digits), and nothing else runs.
async fn expect_apps(sim: &SimProc, want: &[(&str, &str, &str)], what: &str) -> Vec<String> {
    eventually(what, Duration::from_secs(90), || async {
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

/// Who did what to which app: `(node, "create"|"delete", app id without the leading /)` for
/// every create/delete line of every node's deploy log ("create X", "delete old app X",
/// "delete X (instance no longer configured)", "Deleted stale marathon job that looks lost: X").
fn actions(c: &Cluster, nodes: &[Node]) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    for n in nodes {
        for file in n.deploy_logs(c) {
            for m in deploy_log_messages(&file) {
                let (verb, rest) = if let Some(r) = m.strip_prefix("create ") {
                    ("create", r)
                } else if let Some(r) = m.strip_prefix("delete old app ") {
                    ("delete", r)
                } else if let Some(r) =
                    m.strip_prefix("Deleted stale marathon job that looks lost: ")
                {
                    ("delete", r)
                } else if let Some(r) = m.strip_prefix("delete ") {
                    ("delete", r)
                } else {
                    continue;
                };
                let app = rest.split_whitespace().next().unwrap_or_default();
                out.push((n.id, verb, app.trim_start_matches('/').to_owned()));
            }
        }
    }
    out
}

/// How many events each node's Sensu client has heard.
fn sensu_counts(nodes: &[Node]) -> Vec<(&'static str, usize)> {
    nodes
        .iter()
        .map(|n| (n.id, n.sensu.events().len()))
        .collect()
}

/// Waits until coordinator `node` has finished `passes` more reconcile passes (GetStatus
/// `lastPass.generation`), so whatever it would do has had time to show.
async fn more_passes(node: &Node, passes: u64) {
    let generation = |n: &Node| -> Result<u64, String> {
        let st = n.status()?;
        st["lastPass"]["generation"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .ok_or(format!("no pass yet: {st}"))
    };
    let start = eventually("a first pass", MINUTE, || async { generation(node) }).await;
    eventually(
        &format!("{} runs {passes} more passes", node.id),
        MINUTE,
        || async {
            let g = generation(node)?;
            if g >= start + passes {
                Ok(())
            } else {
                Err(format!("generation {g}, from {start}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_coordinators_one_acts_and_kill_9_of_the_leader_hands_over() {
    let Some(zk) = zookeeper() else { return };
    if Grpcurl::find("localhost").is_none() {
        return;
    }

    // Everything is deployed at v1.
    let c = Cluster::from_examples();
    let (web, api) = (c.repo("web"), c.repo("api"));
    let (web1, api1) = (web.commit("web v1"), api.commit("api v1"));
    web.deploy("norcal-prod.everything", &web1);
    web.deploy("norcal-prod.canary", &web1);
    api.deploy("norcal-prod.main", &api1);
    api.deploy("norcal-prod.worker", &api1);
    c.generate_deployments();
    let sim = SimProc::start(&c, 4, None).await;
    std::fs::create_dir_all(c.logs.join("deploy")).expect("deploy log dir");

    // Three masters: the same soa dir and cluster, each its own Sensu client, ports and id.
    let tls = Tls::new();
    let election_path = format!("{}/leader", unique_znode("ha"));
    let mut nodes = Vec::new();
    for id in ["c1", "c2", "c3"] {
        let sensu = SensuListener::start().await;
        let sys = c.node_system_config(id, &sensu);
        let (port, metrics_port) = (free_port(), free_port());
        let cfg = config(
            &c,
            &sim,
            &tls,
            &zk,
            &election_path,
            id,
            &sys,
            port,
            metrics_port,
        );
        let grpc = Grpcurl::find(&format!("localhost:{port}"))
            .expect("grpcurl was found above")
            .with_tls(tls.ca.clone(), tls.ops.0.clone(), tls.ops.1.clone());
        nodes.push(Node {
            id,
            metrics_port,
            sensu,
            grpc,
            proc: c.serve(id, &cfg, &[]),
        });
    }

    // 1. Exactly one leads; the others name it.
    let (leader, term1) = eventually(
        "exactly one coordinator leads and the others name it",
        MINUTE,
        || async { agreed_leader(&nodes) },
    )
    .await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    eprintln!("{} leads with term {term1}", nodes[leader].id);

    // The leader creates every app.
    let v1 = [
        ("api", "main", api1.as_str()),
        ("api", "worker", api1.as_str()),
        ("web", "canary", web1.as_str()),
        ("web", "main", web1.as_str()),
    ];
    let v1_apps = expect_apps(&sim, &v1, "the leader creates every instance's app").await;

    // The metrics say who leads: its term on the leader, 0 on the followers.
    let lead = &nodes[leader];
    assert_eq!(
        metric(lead.metrics_port, "galley_leader_term").await,
        Some(term1 as f64),
        "the leader's galley_leader_term"
    );
    for &f in &followers {
        assert_eq!(
            metric(nodes[f].metrics_port, "galley_leader_term").await,
            Some(0.0),
            "{}'s galley_leader_term (a follower)",
            nodes[f].id
        );
    }

    // Followers answer reads from their own fresh view (passes run as PASS_OUTCOME_FOLLOWER)...
    let web_main = apps_of(&v1_apps, "web", "main")[0].trim_start_matches('/');
    for &f in &followers {
        let n = &nodes[f];
        eventually(
            &format!(
                "{} answers reads: follower passes, web.main as Marathon has it",
                n.id
            ),
            MINUTE,
            || async {
                let st = n.status()?;
                if st["lastPass"]["outcome"] != "PASS_OUTCOME_FOLLOWER" {
                    return Err(format!("status {st}"));
                }
                let out = n.grpc.call(
                    "GetInstance",
                    Some(r#"{"service": "web", "instance": "main"}"#),
                );
                if !out.ok {
                    return Err(out.stderr);
                }
                let inst = out.json();
                let desired = inst["desiredAppId"].as_str().unwrap_or_default();
                if desired.trim_start_matches('/') == web_main && inst["tasksRunning"] == 3 {
                    Ok(())
                } else {
                    Err(format!("web.main {inst}"))
                }
            },
        )
        .await;
        // ... and refuse writes, naming the leader.
        let out = n.grpc.call(
            "FreezeCluster",
            Some(r#"{"reason": "e2e: a follower must refuse"}"#),
        );
        assert!(!out.ok, "{} accepted a write as a follower", n.id);
        assert_eq!(
            out.code().as_deref(),
            Some("FailedPrecondition"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("send writes to the leader: {}", lead.id)),
            "the refusal names the leader {}: {}",
            lead.id,
            out.stderr
        );
    }
    let st = lead.status().expect("leader status");
    assert!(st.get("frozenReason").is_none(), "nothing froze: {st}");

    // 2. Only the leader's Sensu client hears events.
    eventually("the leader tells its Sensu client", MINUTE, || async {
        match lead
            .sensu
            .latest("check_marathon_services_replication.web.main")
        {
            Some(e) if e["status"] == 0 => Ok(()),
            other => Err(other),
        }
    })
    .await;
    more_passes(&nodes[followers[0]], 2).await;
    for &f in &followers {
        let heard = nodes[f].sensu.events();
        assert!(
            heard.is_empty(),
            "follower {}'s Sensu client heard {heard:?}",
            nodes[f].id
        );
    }

    // 3. kill -9 of the leader: another leads within the session timeout (plus a margin), with
    // a greater term.
    nodes[leader].proc.kill9();
    let killed = Instant::now();
    let (next, term2) = eventually(
        "a survivor leads and the other names it",
        SESSION + TAKEOVER_MARGIN,
        || async {
            match agreed_leader(&nodes)? {
                (l, t) if t > term1 => Ok((l, t)),
                (l, t) => Err(format!("{} leads with term {t}", nodes[l].id)),
            }
        },
    )
    .await;
    let takeover = killed.elapsed();
    eprintln!(
        "kill -9 of {}: {} leads with term {term2} after {takeover:?}",
        nodes[leader].id, nodes[next].id
    );
    assert_ne!(next, leader);
    let third = 3 - leader - next;
    assert_eq!(
        metric(nodes[next].metrics_port, "galley_leader_term").await,
        Some(term2 as f64),
        "the new leader's galley_leader_term"
    );
    assert_eq!(
        metric(nodes[third].metrics_port, "galley_leader_term").await,
        Some(0.0),
        "the remaining follower's galley_leader_term"
    );
    eventually(
        "the new leader may act destructively after its grace period",
        MINUTE,
        || async {
            let st = nodes[next].status()?;
            if st["destructiveAllowed"] == true {
                Ok(())
            } else {
                Err(format!("{st}"))
            }
        },
    )
    .await;

    // A new deploy of web's `everything` group: the new leader bounces web.main.
    let web2 = web.commit("web v2");
    web.deploy("norcal-prod.everything", &web2);
    c.generate_deployments();
    let v2 = [
        ("api", "main", api1.as_str()),
        ("api", "worker", api1.as_str()),
        ("web", "canary", web1.as_str()),
        ("web", "main", web2.as_str()),
    ];
    let v2_apps = expect_apps(
        &sim,
        &v2,
        "the new leader bounces web.main to v2 and deletes the old app",
    )
    .await;

    // The new leader tells its own Sensu client; the remaining follower's still heard nothing.
    let heard_by_old = nodes[leader].sensu.events().len();
    eventually("the new leader tells its Sensu client", MINUTE, || async {
        match nodes[next].sensu.events().len() {
            0 => Err(sensu_counts(&nodes)),
            _ => Ok(()),
        }
    })
    .await;

    // 5. The killed coordinator, restarted, joins as a follower of the new leader.
    nodes[leader].proc.restart();
    eventually(
        "the restarted coordinator follows the new leader",
        MINUTE,
        || async {
            match agreed_leader(&nodes)? {
                (l, t) if l == next && t == term2 => Ok(()),
                other => Err(format!("leader, term: {other:?}")),
            }
        },
    )
    .await;
    more_passes(&nodes[leader], 3).await;
    assert_eq!(
        metric(nodes[leader].metrics_port, "galley_leader_term").await,
        Some(0.0),
        "the restarted coordinator's galley_leader_term (a follower)"
    );
    let out = nodes[leader].grpc.call("Reconcile", Some("{}"));
    assert_eq!(
        out.code().as_deref(),
        Some("FailedPrecondition"),
        "the restarted coordinator refuses writes: {out:?}"
    );
    assert!(
        out.stderr
            .contains(&format!("send writes to the leader: {}", nodes[next].id)),
        "{}",
        out.stderr
    );
    let counts = sensu_counts(&nodes);
    eprintln!("Sensu events heard per coordinator: {counts:?}");
    assert!(
        nodes[third].sensu.events().is_empty(),
        "the coordinator that never led told Sensu: {counts:?}"
    );
    assert_eq!(
        nodes[leader].sensu.events().len(),
        heard_by_old,
        "the restarted follower told Sensu: {counts:?}"
    );

    // 4. No action twice: across the three deploy logs each v1 app was created once (by the
    // first leader), web.main's v2 app created once and its v1 app deleted once (by the new
    // leader), and nothing else.
    let web_main_1 = web_main.to_owned();
    let web_main_2 = apps_of(&v2_apps, "web", "main")[0]
        .trim_start_matches('/')
        .to_owned();
    let mut want: Vec<(&str, &str, String)> = v1_apps
        .iter()
        .map(|a| {
            (
                nodes[leader].id,
                "create",
                a.trim_start_matches('/').to_owned(),
            )
        })
        .collect();
    want.push((nodes[next].id, "create", web_main_2));
    want.push((nodes[next].id, "delete", web_main_1));
    want.sort();
    // Events are logged after the pass that made them.
    eventually("every action is in a deploy log", MINUTE, || async {
        let got = actions(&c, &nodes);
        if want.iter().all(|w| got.contains(w)) {
            Ok(())
        } else {
            Err(got)
        }
    })
    .await;
    more_passes(&nodes[next], 2).await;
    let mut got = actions(&c, &nodes);
    got.sort();
    let mut per_message: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (_, verb, app) in &got {
        *per_message.entry((*verb, app.as_str())).or_default() += 1;
    }
    for (message, times) in &per_message {
        assert_eq!(*times, 1, "{message:?} applied {times} times: {got:#?}");
    }
    assert_eq!(got, want, "who did what, across the three deploy logs");

    // Every coordinator still runs (none crashed along the way).
    for n in &mut nodes {
        assert!(n.proc.running(), "{} exited:\n{}", n.id, n.proc.tail(30));
    }
    drop(sim);
}
