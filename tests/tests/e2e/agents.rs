//! Agents and the orphan reaper, set up as README.md shows: `galley-coordinator serve` with a
//! `reaper:` section, one `galley-agent --config agent.yaml` per slave, and `galley-sim
//! marathon --docker-dir`, whose slaves' Docker engines show their Marathon tasks as Mesos
//! containers. Three agents watch emulated engines; a fourth watches the private real dockerd
//! of `scripts/test.sh` as the 4th slave's engine (SKIPPED without one).
//!
//! The story: orphans (`mesos-` containers whose task is not live) are reported in report
//! mode and left alone, then reaped once the operator switches to enforce; live-task
//! containers and non-`mesos-` containers are never touched; nothing is reaped while the
//! coordinator is stopped, and the orphan that appeared meanwhile goes once it is back.
//! Watched from outside: Docker's API, Marathon's API, grpcurl, `/metrics`, the deploy log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use galley_e2e::cluster::{Cluster, SimProc};
use galley_e2e::docker::{Engine, RealDockerd, real_dockerd, unique_id};
use galley_e2e::observe::{deploy_log_messages, marathon_apps, metric};
use galley_e2e::{Grpcurl, Proc, bin, eventually, free_port};
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);
/// `reaper.min_age_seconds` and the agents' `min_age_secs`.
const MIN_AGE: Duration = Duration::from_secs(3);
/// `reaper.interval_seconds`.
const INTERVAL: Duration = Duration::from_secs(1);

/// README.md's `serve` config with a `reaper:` section in `mode` (`report` | `enforce`).
fn coordinator_config(c: &Cluster, sim: &SimProc, port: u16, metrics: u16, mode: &str) -> PathBuf {
    let extra = format!(
        "metrics_listen: 127.0.0.1:{metrics}
git:
  poll_interval_seconds: 3600
reaper:
  mode: {mode}
  min_age_seconds: {min_age}
  interval_seconds: {interval}
  sightings: 2
  max_fraction_per_host: 0.5     # one orphan beside one live task per host: exactly 0.5
  max_reaps_per_minute: 30
  max_reaps_per_host_per_minute: 5
  stop_grace_seconds: 1          # busybox sleep ignores SIGTERM: SIGKILL after 1 s
  order_timeout_seconds: 30
  agent_stale_after_seconds: 10
",
        min_age = MIN_AGE.as_secs(),
        interval = INTERVAL.as_secs(),
    );
    c.write("coordinator.yaml", &c.serve_config(sim, port, 2.0, &extra))
}

/// deploy/etc/galley/agent.yaml's shape, for the slave `host` whose Docker is `socket`.
fn agent_config(c: &Cluster, host: &str, socket: &str, port: u16, metrics: u16) -> PathBuf {
    c.write(
        &format!("agent-{host}.yaml"),
        &format!(
            "coordinator_url: http://127.0.0.1:{port}
docker_socket: {socket}
hostname: {host}
heartbeat_interval_secs: 1
relist_interval_secs: 300
min_age_secs: {min_age}
max_reaps_per_minute: 10
reconnect_min_ms: 100
reconnect_max_ms: 1000
docker_timeout_secs: 10
metrics_listen: 127.0.0.1:{metrics}
",
            min_age = MIN_AGE.as_secs(),
        ),
    )
}

/// One slave: its Docker engine and its agent.
struct Slave {
    /// Its index in the story's list.
    index: usize,
    host: String,
    engine: Engine,
    agent: Proc,
    /// The agent's `/metrics` port.
    metrics: u16,
}

/// A container the story watches.
#[derive(Debug, Clone)]
struct Tracked {
    /// Index of its slave.
    slave: usize,
    id: String,
    name: String,
    task_id: String,
}

impl Slave {
    /// Runs a container `<prefix>-<uuid>` carrying `task_id` (env and label `MESOS_TASK_ID`)
    /// on this slave's Docker.
    async fn run(&self, prefix: &str, task_id: &str) -> Tracked {
        let name = format!("{prefix}-{}", unique_id());
        Tracked {
            slave: self.index,
            id: self.engine.run(&name, Some(task_id)).await,
            name,
            task_id: task_id.to_owned(),
        }
    }

    /// Runs an orphan: a `mesos-` container whose task was retired long ago.
    async fn orphan(&self) -> Tracked {
        self.run("mesos", &format!("retired.main.{}", unique_id()))
            .await
    }
}

/// The running api.main tasks of Marathon: slave hostname → task id (one per slave, by the
/// UNIQUE hostname constraint).
async fn live_tasks(sim: &SimProc) -> Result<BTreeMap<String, String>, String> {
    let apps = marathon_apps(&sim.marathon).await?;
    let mut out = BTreeMap::new();
    for a in apps.iter().filter(|a| {
        a["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("/api.main."))
    }) {
        for t in a["tasks"].as_array().into_iter().flatten() {
            if t["state"] != "TASK_RUNNING" {
                continue;
            }
            let (Some(host), Some(id)) = (t["host"].as_str(), t["id"].as_str()) else {
                continue;
            };
            if out.insert(host.to_owned(), id.to_owned()).is_some() {
                return Err(format!("two api.main tasks on {host}: {apps:?}"));
            }
        }
    }
    Ok(out)
}

/// `ListOrphans`' findings by container name.
fn orphans(grpc: &Grpcurl) -> (Value, BTreeMap<String, Value>) {
    let answer = grpc.ok("ListOrphans", None);
    let by_name = answer["orphans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["containerName"].as_str()?.to_owned(), o.clone())))
        .collect();
    (answer, by_name)
}

/// Whether every agent in `hosts` is connected and fresh in `ListAgents`.
fn agents_fresh(grpc: &Grpcurl, hosts: &[&str]) -> Result<(), String> {
    let out = grpc.call("ListAgents", None);
    if !out.ok {
        return Err(out.stderr);
    }
    let answer = out.json();
    let ok = hosts.iter().all(|h| {
        answer["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["host"] == *h && a["connected"] == true && a["fresh"] == true)
    });
    if ok { Ok(()) } else { Err(answer.to_string()) }
}

/// `ListOrphans`' `passes`.
fn passes(grpc: &Grpcurl) -> u64 {
    grpc.ok("ListOrphans", None)["passes"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Whether each container still runs (and is the same container: same id).
async fn assert_running(slaves: &[Slave], tracked: &[Tracked], what: &str) {
    for m in tracked {
        let s = &slaves[m.slave];
        let running = s.engine.running().await.expect("docker ps");
        assert!(
            running.iter().any(|c| c.id == m.id),
            "{what}: {} ({}) on {} was touched; running there: {running:?}",
            m.name,
            m.task_id,
            s.host
        );
    }
}

/// Waits until each container is gone from its engine.
async fn expect_gone(slaves: &[Slave], tracked: &[Tracked], what: &str) {
    for m in tracked {
        let s = &slaves[m.slave];
        eventually(what, MINUTE, || async {
            match s.engine.exists(&m.id).await? {
                false => Ok(()),
                true => Err(format!("{} still on {}", m.name, s.host)),
            }
        })
        .await;
    }
}

/// Reap orders each agent has received (`galley_agent_reap_orders_total`).
async fn orders_received(slaves: &[Slave]) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for s in slaves {
        out.push(metric(s.metrics, "galley_agent_reap_orders_total").await);
    }
    out
}

/// On a failure, prints the end of every log under the dir (the temp dir goes with the test).
struct TailsOnFailure(PathBuf);

impl Drop for TailsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            eprintln!("==== {} (last 25 lines)\n{tail}", f.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_report_then_reap_orphans_and_leave_live_and_foreign_containers() {
    let real = real_dockerd("agents: the 4th slave's agent on a real dockerd");
    // The 4th agent sees every container of the real dockerd: no other test may use it now.
    let _held = match &real {
        Some(r) => Some(r.exclusive().await),
        None => None,
    };
    let run = unique_id();
    let outcome = tokio::spawn(story(real.clone(), run.clone())).await;
    // Pass or fail, remove what this run created on the real dockerd (the emulators' go with
    // galley-sim).
    if let Some(r) = &real {
        Engine::connect(&r.socket, &r.image, &run)
            .remove_mine()
            .await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn story(real: Option<RealDockerd>, run: String) {
    let c = Cluster::from_examples();
    let _tails = TailsOnFailure(c.logs.clone());
    let (port, metrics_port) = (free_port(), free_port());
    let Some(grpc) = Grpcurl::find(&format!("127.0.0.1:{port}")) else {
        return;
    };

    // api.main runs one task on each of the four slaves, so every slave (the real dockerd's
    // too) has a live Mesos task: a host with task containers and no live Mesos task is held
    // (MESOS_NO_TASKS_ON_HOST). Only api.main is deployed.
    c.write_soa(
        "api/marathon-norcal-prod.yaml",
        "main:\n  instances: 4\n  cpus: 0.25\n  mem: 512\n  constraints: [[\"hostname\", \"UNIQUE\"]]\n",
    );
    let api = c.repo("api");
    let sha = api.commit("api v1");
    api.deploy("norcal-prod.main", &sha);
    c.generate_deployments();

    let sim = SimProc::start(&c, 4, Some(&c.root.join("docker"))).await;
    let hosts: Vec<String> = sim.docker.keys().cloned().collect();
    assert_eq!(hosts.len(), 4, "one Docker emulator per slave: {hosts:?}");
    let cfg = coordinator_config(&c, &sim, port, metrics_port, "report");
    let mut serve = c.serve("coordinator", &cfg, &["--insecure"]);

    let tasks = eventually("api.main runs one task per slave", MINUTE, || async {
        let t = live_tasks(&sim).await?;
        if t.len() == 4 {
            Ok(t)
        } else {
            Err(format!("{t:?}"))
        }
    })
    .await;

    // An agent per slave: the first three on their emulated engines, the 4th on the real
    // dockerd (as the 4th slave's Docker).
    let mut slaves = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let (socket, image) = match (i, &real) {
            (0..=2, _) => (sim.docker[host].clone(), "busybox".to_owned()),
            (_, Some(r)) => (r.socket.clone(), r.image.clone()),
            (_, None) => break,
        };
        let metrics = free_port();
        let path = agent_config(&c, host, &socket.display().to_string(), port, metrics);
        let path = path.display().to_string();
        slaves.push(Slave {
            index: i,
            host: host.clone(),
            engine: Engine::connect(&socket, &image, &run),
            agent: Proc::start(
                &format!("agent-{}", i + 1),
                &bin("galley-agent"),
                &["--config", &path],
                &c.logs,
            ),
            metrics,
        });
    }
    let names: Vec<&str> = slaves.iter().map(|s| s.host.as_str()).collect();
    eventually("every agent is connected and fresh", MINUTE, || async {
        agents_fresh(&grpc, &names)
    })
    .await;

    // What must survive: each emulated slave's api.main container (the emulator runs it as
    // `mesos-<container id>` with the live task id), and on the real dockerd a `mesos-`
    // container carrying slave 4's live task id.
    let mut keep = Vec::new();
    for s in &slaves {
        let task = &tasks[&s.host];
        if s.index == 3 {
            keep.push(s.run("mesos", task).await);
            continue;
        }
        let c = eventually(
            "the emulator shows the task's container",
            MINUTE,
            || async {
                let running = s.engine.running().await?;
                running
                    .into_iter()
                    .find(|c| c.task_id.as_ref() == Some(task) && c.name.starts_with("mesos-"))
                    .ok_or(format!("no container of {task} on {}", s.host))
            },
        )
        .await;
        keep.push(Tracked {
            slave: s.index,
            id: c.id,
            name: c.name,
            task_id: task.clone(),
        });
    }
    // Not Mesos' (no `mesos-` prefix), though it carries a dead task id: never touched. On the
    // first emulated slave and on the real dockerd.
    for s in slaves.iter().filter(|s| s.index == 0 || s.index == 3) {
        let task = format!("retired.sidecar.{}", unique_id());
        keep.push(s.run("sidecar", &task).await);
    }
    // The orphans: one per slave.
    let mut orphaned = Vec::new();
    for s in &slaves {
        orphaned.push(s.orphan().await);
    }

    // Report mode: each orphan is listed (NO_SUCH_TASK, seen twice, nothing holding it: it
    // would be reaped) and audited as "would reap"; nothing else is listed.
    let mut holds_seen = std::collections::BTreeSet::new();
    let listed = eventually("ListOrphans reports every orphan", MINUTE, || {
        let (answer, by_name) = orphans(&grpc);
        for o in by_name.values() {
            holds_seen.insert(o["hold"].as_str().unwrap_or("").to_owned());
        }
        let ready = orphaned.iter().all(|m| {
            by_name.get(&m.name).is_some_and(|o| {
                o["host"] == slaves[m.slave].host.as_str()
                    && o["taskId"] == m.task_id.as_str()
                    && o["reason"] == "NO_SUCH_TASK"
                    && o.get("hold").is_none()
                    && o["sightings"].as_u64().unwrap_or(0) >= 2
            })
        });
        std::future::ready(if ready { Ok(answer) } else { Err(answer) })
    })
    .await;
    eprintln!("ListOrphans holds seen before the orphans were due: {holds_seen:?}");
    assert_eq!(listed["mode"], "REAPER_MODE_REPORT", "{listed}");
    for k in &keep {
        assert!(
            !listed.to_string().contains(&k.name),
            "{} must not be an orphan: {listed}",
            k.name
        );
    }
    let cluster_log = c.logs.join("deploy-_cluster.log");
    eventually("the deploy log says what would be reaped", MINUTE, || {
        let log = deploy_log_messages(&cluster_log);
        let missing: Vec<String> = orphaned
            .iter()
            .flat_map(|m| {
                let host = &slaves[m.slave].host;
                [
                    format!(
                        "Orphan container {} ({}) on {host}: NO_SUCH_TASK (task {})",
                        m.name,
                        &m.id[..12],
                        m.task_id
                    ),
                    format!(
                        "Would reap container {} on {host} (NO_SUCH_TASK; not enforcing)",
                        m.name
                    ),
                ]
            })
            .filter(|want| !log.contains(want))
            .collect();
        std::future::ready(if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        })
    })
    .await;
    // Three more passes in report mode: no order went out, every container is still there.
    let p = passes(&grpc);
    eventually("three more reaper passes", MINUTE, || {
        let now = passes(&grpc);
        std::future::ready(if now >= p + 3 { Ok(()) } else { Err(now) })
    })
    .await;
    assert_eq!(
        orders_received(&slaves).await,
        vec![Some(0.0); slaves.len()],
        "no agent got a reap order in report mode"
    );
    assert_running(&slaves, &orphaned, "report mode").await;
    assert_running(&slaves, &keep, "report mode").await;

    // The operator switches to enforce: the orphans go, nothing else does.
    let previous = grpc.ok("SetReaperMode", Some(r#"{"mode": "REAPER_MODE_ENFORCE"}"#));
    assert_eq!(previous["previous"], "REAPER_MODE_REPORT", "{previous}");
    expect_gone(&slaves, &orphaned, "enforce mode reaps every orphan").await;
    assert_running(&slaves, &keep, "enforce mode").await;
    let log = deploy_log_messages(&cluster_log);
    assert!(
        log.iter()
            .any(|m| m.contains("set the orphan reaper mode to Enforce (was Report)")),
        "{log:?}"
    );
    for m in &orphaned {
        let host = &slaves[m.slave].host;
        let sent = format!(
            "Reaping container {} on {host} (NO_SUCH_TASK, order ",
            m.name
        );
        let done = format!("Reap of {} on {host}: done (", &m.id[..12]);
        eventually("the deploy log records the reap", MINUTE, || {
            let log = deploy_log_messages(&cluster_log);
            let ok = log.iter().any(|l| l.starts_with(&sent))
                && log.iter().any(|l| l.starts_with(&done));
            std::future::ready(if ok {
                Ok(())
            } else {
                Err(format!("{sent} / {done}"))
            })
        })
        .await;
    }
    for s in &slaves {
        let done = metric(
            s.metrics,
            r#"galley_agent_reap_results_total{outcome="done",reason=""}"#,
        )
        .await;
        assert!(
            done.is_some_and(|v| v >= 1.0),
            "{}'s agent reports its reap: {done:?}",
            s.host
        );
    }
    let n = slaves.len() as f64;
    eventually(
        "the coordinator's /metrics counts the reaps",
        MINUTE,
        || async {
            match metric(metrics_port, r#"galley_reaps_total{op="done"}"#).await {
                Some(v) if v >= n => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;
    // Marathon's tasks are the same four: reaping touched no live task.
    assert_eq!(live_tasks(&sim).await.expect("tasks"), tasks);

    // The coordinator stops (SIGTERM). An orphan appears; the agents never reap on their own.
    let exit = serve.stop().await.expect("was running");
    assert!(exit.success(), "serve exited {exit:?}:\n{}", serve.tail(30));
    for s in &slaves {
        eventually(
            "the agent notices the coordinator is gone",
            MINUTE,
            || async {
                match metric(s.metrics, "galley_agent_session_connected").await {
                    Some(0.0) => Ok(()),
                    other => Err(other),
                }
            },
        )
        .await;
    }
    let before = orders_received(&slaves).await;
    let late = slaves[1].orphan().await;
    // Nothing may happen over this period: well past the minimum age and five reaper
    // intervals, so a running coordinator would have reaped it.
    tokio::time::sleep(MIN_AGE + 5 * INTERVAL + Duration::from_secs(2)).await;
    assert_running(&slaves, std::slice::from_ref(&late), "coordinator stopped").await;
    assert_eq!(
        orders_received(&slaves).await,
        before,
        "no order while the coordinator is stopped"
    );

    // The operator makes enforce permanent in the config (SetReaperMode is not persisted: a
    // restarted coordinator starts in the file's mode) and starts the coordinator again. The
    // agents reconnect and the late orphan is reaped; the rest stays.
    coordinator_config(&c, &sim, port, metrics_port, "enforce");
    serve.restart();
    eventually("every agent reconnects", MINUTE, || async {
        agents_fresh(&grpc, &names)
    })
    .await;
    let listed = eventually("the reaper runs again", MINUTE, || {
        let out = grpc.call("ListOrphans", None);
        std::future::ready(if out.ok {
            Ok(out.json())
        } else {
            Err(out.stderr)
        })
    })
    .await;
    assert_eq!(listed["mode"], "REAPER_MODE_ENFORCE", "{listed}");
    expect_gone(
        &slaves,
        std::slice::from_ref(&late),
        "the restarted coordinator reaps the late orphan",
    )
    .await;
    let log = deploy_log_messages(&cluster_log);
    assert!(
        log.iter().any(|l| l.starts_with(&format!(
            "Reaping container {} on {}",
            late.name, slaves[1].host
        ))),
        "{log:?}"
    );
    assert_running(&slaves, &keep, "after the restart").await;
    assert_eq!(live_tasks(&sim).await.expect("tasks"), tasks);

    // SIGTERM everywhere: clean exits.
    for s in &mut slaves {
        let exit = s.agent.stop().await.expect("agent was running");
        assert!(
            exit.success(),
            "{} exited {exit:?}:\n{}",
            s.agent.name,
            s.agent.tail(30)
        );
    }
    let exit = serve.stop().await.expect("was running");
    assert!(exit.success(), "serve exited {exit:?}:\n{}", serve.tail(30));
    drop(sim);
}
