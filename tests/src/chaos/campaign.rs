//! One run: starts the processes, plays a [`Schedule`], clears every fault, waits for
//! convergence, collects the [`Evidence`] and checks the invariants (`super::invariants`).
//!
//! The cluster: `galley-sim marathon` with `slaves` slaves, a Docker engine per slave and
//! synapse's haproxy; three `galley-coordinator --log-json serve` (`c1`…`c3`) on one ZooKeeper
//! election (2 s sessions, 0.5 s grace), each with its own soa dir (as each master has its
//! own checkout; config changes are written to all three), its own Marathon and Mesos user
//! (`cN`, so the emulator's request log names who asked), git polling every second, a pass
//! every 2 s, the reaper in enforce mode (3 s minimum age); a `galley-agent` per slave with a
//! session to every coordinator; a bare git repository per service.
//!
//! **Convergence** (checked after every fault is undone and every process runs again): each
//! configured instance has exactly one Marathon app, on its deploy group's sha, with the
//! configured cpus and `instances` (0 when stopped) tasks running; removed instances have no
//! app; there is no other app; every orphan container the schedule made on a slave that runs
//! a task is reaped (on a slave without tasks the reaper holds it, `MESOS_NO_TASKS_ON_HOST`,
//! by design) and every foreign one is still there; exactly one coordinator reports a leader term
//! (`galley_leader_term`). It must hold within [`Settings::converge_bound`] (90 s by default:
//! a bounce, a leader's grace, a git poll and two reaper sightings, with periodic passes
//! refreshing instances in flight whose events were lost, with room for a loaded 2-core machine; measured: 0.1–27.3 s
//! over 28 seeds).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::evidence::{self, DockerEvent, Evidence, Window};
use super::invariants::{self, Bounds, Checked, Violation};
use super::model::Model;
use super::schedule::{COORDINATORS, INSTANCES, Schedule, Shape};
use crate::cluster::{CLUSTER, Cluster, SimProc, copy_dir};
use crate::docker::Engine;
use crate::observe::{get_json, http, marathon_apps, metric};
use crate::proc::{Proc, bin, free_port};
use crate::zookeeper::unique_znode;

/// ZooKeeper session timeout of the coordinators.
pub const SESSION_MS: u64 = 2_000;

/// `marathon.resync_seconds` of the coordinators: the default. Marathon loses events silently
/// (a slow consumer; the `event_drop` fault) and nothing tells a watching coordinator; seed 22
/// (48 steps over 60 s) found a bounce stalled 90 s on lost task events, waiting for the next
/// full list. Periodic passes now fetch the apps of instances in flight again, so the
/// convergence bound no longer has to cover a resync, and the campaign runs the default.
pub const RESYNC_SECONDS: u64 = 300;

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Steps per schedule.
    pub steps: usize,
    /// The span the steps are spread over.
    pub span_ms: u64,
    /// Slaves (one agent each).
    pub slaves: usize,
    /// How long convergence may take once the faults stop.
    pub converge_bound: Duration,
    /// Largest resident set a coordinator or agent may reach (bytes).
    pub memory_bound: u64,
    /// The invariants' windows.
    pub bounds: Bounds,
    /// ZooKeeper's connect string.
    pub zookeeper: String,
}

impl Settings {
    /// The shape of the schedules.
    pub fn shape(&self) -> Shape {
        Shape {
            steps: self.steps,
            span_ms: self.span_ms,
            slaves: self.slaves,
            session_ms: SESSION_MS,
        }
    }
}

/// What one run found.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The schedule played.
    pub schedule: Schedule,
    /// Broken invariants (empty: the run passed).
    pub violations: Vec<Violation>,
    /// How much was checked.
    pub checked: Checked,
    /// Steps applied, by kind.
    pub applied: BTreeMap<&'static str, usize>,
    /// Seconds from the end of the faults to convergence (`None`: not within the bound).
    pub converged_after: Option<f64>,
    /// The whole run.
    pub wall: Duration,
    /// The kept temp dir (logs, configs) of a failed run.
    pub kept: Option<PathBuf>,
    /// How much evidence there was: requests, leadership spans, tasks, Docker destroys.
    pub evidence: (usize, usize, usize, usize),
    /// Largest resident set seen per process (bytes).
    pub rss: BTreeMap<String, u64>,
}

/// Runs schedules.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Its settings.
    pub settings: Settings,
}

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A coordinator.
pub(super) struct Node {
    pub id: String,
    pub port: u16,
    pub metrics: u16,
    pub soa: PathBuf,
    pub proc: Proc,
    /// SIGSTOPped (its pid).
    pub stopped: Option<u32>,
}

/// A slave: its engine and agent.
pub(super) struct Slave {
    pub host: String,
    pub socket: PathBuf,
    pub engine: Engine,
    pub agent: Proc,
    pub stopped: Option<u32>,
}

/// Everything a run drives and records.
pub(super) struct World {
    pub c: Cluster,
    pub sim: SimProc,
    pub nodes: Vec<Node>,
    pub slaves: Vec<Slave>,
    pub model: Model,
    /// Marathon fault rules active, by step index.
    pub marathon_faults: Vec<(usize, serde_json::Value)>,
    /// Services whose repository is away, with how many steps hold it away.
    pub away: BTreeMap<String, usize>,
    pub windows: Vec<Window>,
    /// Open fault windows by step index.
    pub open: BTreeMap<usize, Window>,
    pub kills: Vec<(String, f64)>,
    pub config: BTreeMap<(String, String), Vec<(f64, bool)>>,
    pub jumps: Vec<(f64, f64)>,
    /// Orphans (host index, container id) the reaper must take; foreign ones it must not.
    pub orphans: Vec<(usize, String)>,
    pub foreign: Vec<(usize, String)>,
    pub applied: BTreeMap<&'static str, usize>,
    /// The coordinator each coordinator step hit (by step index).
    pub resolved: BTreeMap<usize, usize>,
    pub rss: BTreeMap<String, u64>,
    pub docker_events: Arc<Mutex<Vec<DockerEvent>>>,
    pub stop_pollers: Arc<AtomicBool>,
}

impl Campaign {
    /// Plays `schedule` on a fresh cluster and checks everything.
    pub async fn run(&self, schedule: &Schedule) -> RunOutcome {
        let started = Instant::now();
        let s = &self.settings;
        let mut w = World::start(s).await;
        let mut violations = Vec::new();
        if let Err(e) = w.wait_converged(Duration::from_secs(120)).await {
            violations.push(Violation {
                invariant: "setup",
                at: now(),
                detail: e,
            });
        }
        if violations.is_empty() {
            w.play(schedule).await;
        }
        w.clear_all().await;
        let faults_end = Instant::now();
        let converged = w.wait_converged(s.converge_bound).await;
        let converged_after = converged
            .as_ref()
            .ok()
            .map(|()| faults_end.elapsed().as_secs_f64());
        if let Err(e) = &converged
            && violations.is_empty()
        {
            violations.push(Violation {
                invariant: "converged",
                at: now(),
                detail: format!(
                    "not converged {:?} after the faults stopped: {e}\n{}",
                    s.converge_bound,
                    w.diagnose().await
                ),
            });
        }
        // Let the last passes write their deploy-log lines.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let evidence = w.collect().await;
        let (found, checked) = invariants::check(&evidence, &s.bounds);
        let sizes = (
            evidence.requests.len(),
            evidence.leaders.len(),
            evidence.tasks.len(),
            evidence.docker.len(),
        );
        violations.extend(found);
        violations.extend(w.process_health(s.memory_bound));
        w.stop_pollers.store(true, Ordering::SeqCst);
        let kept = (!violations.is_empty()).then(|| w.c.keep());
        let applied = std::mem::take(&mut w.applied);
        let rss = std::mem::take(&mut w.rss);
        drop(w);
        RunOutcome {
            schedule: schedule.clone(),
            violations,
            checked,
            applied,
            converged_after,
            wall: started.elapsed(),
            kept,
            evidence: sizes,
            rss,
        }
    }
}

impl World {
    async fn start(s: &Settings) -> Self {
        let c = Cluster::from_examples();
        let mut model = Model::new();
        for svc in ["api", "web"] {
            c.write_soa(
                &format!("{svc}/marathon-{CLUSTER}.yaml"),
                &model.render(svc),
            );
            let repo = c.repo(svc);
            let sha = repo.commit(&format!("{svc} v1"));
            for (_, _, group) in INSTANCES.iter().filter(|(s, _, _)| *s == svc) {
                repo.deploy(group, &sha);
                model.group_sha.insert(group, sha.clone());
            }
        }
        let docker_dir = c.root.join("docker");
        let sim = SimProc::start(&c, s.slaves, Some(&docker_dir)).await;
        let record = http()
            .put(format!("{}/_sim/requests", sim.marathon))
            .json(&serde_json::json!({"record": true}))
            .send()
            .await;
        assert!(
            record.is_ok_and(|r| r.status().is_success()),
            "the Marathon emulator records requests (rebuild galley-sim?)"
        );
        std::fs::create_dir_all(c.logs.join("deploy")).expect("deploy log dir");
        let election = format!("{}/leader", unique_znode("chaos"));
        let ports: Vec<u16> = (0..COORDINATORS).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let id = format!("c{}", i + 1);
            let soa = c.root.join(format!("soa-{id}"));
            copy_dir(&c.soa, &soa);
            let creds = c.write(&format!("{id}.credentials"), &format!("{id}:chaos"));
            let metrics = free_port();
            let cfg = c.write(
                &format!("{id}.yaml"),
                &format!(
                    "cluster: {CLUSTER}
soa_dir: {soa}
system_config_dir: {sys}
marathon:
  url: {marathon}
  credentials_file: {creds}
  timeout_seconds: 5
  resync_seconds: {RESYNC_SECONDS}
mesos:
  url: {mesos}
  credentials_file: {creds}
reconcile:
  interval_seconds: 2
  kill_threshold: 0.5
deploy_log: {logs}/deploy/{id}-{{service}}.log
listen: 127.0.0.1:{port}
metrics_listen: 127.0.0.1:{metrics}
git:
  poll_interval_seconds: 1
  timeout_seconds: 5
reaper:
  mode: enforce
  min_age_seconds: 3
  interval_seconds: 2
  sightings: 2
  max_fraction_per_host: 1.0
  stop_grace_seconds: 1
  order_timeout_seconds: 10
  agent_stale_after_seconds: 5
election:
  zookeeper: {zk}
  path: {election}
  session_timeout_seconds: {session}
  grace_period_seconds: 0.5
  id: {id}
",
                    soa = soa.display(),
                    sys = c.sys.display(),
                    marathon = sim.marathon,
                    mesos = sim.mesos,
                    creds = creds.display(),
                    logs = c.logs.display(),
                    zk = s.zookeeper,
                    session = SESSION_MS as f64 / 1000.0,
                ),
            );
            let cfg = cfg.display().to_string();
            let proc = Proc::start(
                &id,
                &bin("galley-coordinator"),
                &["--log-json", "serve", "--config", &cfg, "--insecure"],
                &c.logs,
            );
            nodes.push(Node {
                id,
                port: *port,
                metrics,
                soa,
                proc,
                stopped: None,
            });
        }
        let urls: String = ports
            .iter()
            .map(|p| format!("  - http://127.0.0.1:{p}\n"))
            .collect();
        let docker_events = Arc::new(Mutex::new(Vec::new()));
        let stop_pollers = Arc::new(AtomicBool::new(false));
        let mut slaves = Vec::new();
        for (i, (host, socket)) in sim.docker.iter().enumerate() {
            let cfg = c.write(
                &format!("agent-{i}.yaml"),
                &format!(
                    "coordinator_urls:\n{urls}docker_socket: {}\nhostname: {host}\nheartbeat_interval_secs: 1\nrelist_interval_secs: 30\nmin_age_secs: 3\nmax_reaps_per_minute: 30\nreconnect_min_ms: 100\nreconnect_max_ms: 1000\ndocker_timeout_secs: 5\n",
                    socket.display()
                ),
            );
            let cfg = cfg.display().to_string();
            let agent = Proc::start(
                &format!("agent-{i}"),
                &bin("galley-agent"),
                &["--config", &cfg],
                &c.logs,
            );
            let engine = Engine::connect(socket, "busybox", "chaos");
            tokio::spawn(poll_docker(
                host.clone(),
                engine.clone(),
                docker_events.clone(),
                stop_pollers.clone(),
            ));
            slaves.push(Slave {
                host: host.clone(),
                socket: socket.clone(),
                engine,
                agent,
                stopped: None,
            });
        }
        Self {
            c,
            sim,
            nodes,
            slaves,
            model,
            marathon_faults: Vec::new(),
            away: BTreeMap::new(),
            windows: Vec::new(),
            open: BTreeMap::new(),
            kills: Vec::new(),
            config: BTreeMap::new(),
            jumps: Vec::new(),
            orphans: Vec::new(),
            foreign: Vec::new(),
            applied: BTreeMap::new(),
            resolved: BTreeMap::new(),
            rss: BTreeMap::new(),
            docker_events,
            stop_pollers,
        }
    }

    /// Waits until the cluster is what the model wants (see the module docs), at most `bound`.
    async fn wait_converged(&mut self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        loop {
            self.sample_memory();
            let last = match self.converged().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn converged(&self) -> Result<(), String> {
        let apps = marathon_apps(&self.sim.marathon).await?;
        self.model.converged(&apps)?;
        let orphans: Vec<(String, String)> = self
            .orphans
            .iter()
            .map(|(slave, id)| (self.slaves[*slave].host.clone(), id.clone()))
            .collect();
        for (host, id) in super::model::orphans_due(&apps, &orphans) {
            let slave = self
                .slaves
                .iter()
                .find(|s| s.host == *host)
                .expect("a slave");
            if slave.engine.exists(id).await? {
                return Err(format!("orphan {id} on {host} not reaped"));
            }
        }
        for (slave, id) in &self.foreign {
            if !self.slaves[*slave].engine.exists(id).await? {
                return Err(format!(
                    "foreign container {id} on {} is gone",
                    self.slaves[*slave].host
                ));
            }
        }
        let mut leaders = Vec::new();
        for n in &self.nodes {
            match metric(n.metrics, "galley_leader_term").await {
                Some(t) if t > 0.0 => leaders.push(n.id.clone()),
                Some(_) => {}
                None => return Err(format!("{} does not answer /metrics", n.id)),
            }
        }
        if leaders.len() != 1 {
            return Err(format!("leaders: {leaders:?}"));
        }
        Ok(())
    }

    /// What each coordinator says about itself (for a convergence failure): its view, term,
    /// orphans (metrics) and, with grpcurl, the leader's `ListOrphans`.
    async fn diagnose(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let mut line = format!("    {}:", n.id);
            for m in [
                "galley_leader_term",
                "galley_observed_cache_complete",
                "galley_observed_cache_age_seconds",
                "galley_orphans",
            ] {
                line.push_str(&format!(" {m}={:?}", metric(n.metrics, m).await));
            }
            out.push_str(&line);
            out.push('\n');
            if metric(n.metrics, "galley_leader_term")
                .await
                .is_some_and(|t| t > 0.0)
                && let Some(g) = crate::Grpcurl::find(&format!("127.0.0.1:{}", n.port))
            {
                for rpc in ["ListOrphans", "GetStatus"] {
                    let o = g.call(rpc, None);
                    let text: String = o.stdout.chars().take(3000).collect();
                    out.push_str(&format!("    {} {rpc}: {text}\n", n.id));
                }
            }
        }
        out
    }

    /// Largest VmRSS seen per process.
    pub(super) fn sample_memory(&mut self) {
        let procs = self
            .nodes
            .iter()
            .map(|n| &n.proc)
            .chain(self.slaves.iter().map(|s| &s.agent))
            .chain(std::iter::once(&self.sim.proc));
        for p in procs {
            let Some(pid) = p.pid() else { continue };
            let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .map_or(0, |kb| kb * 1024);
            let top = self.rss.entry(p.name.clone()).or_default();
            *top = (*top).max(rss);
        }
    }

    /// Processes that exited by themselves, panicked, or grew past the memory bound.
    fn process_health(&mut self, memory_bound: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        let procs = self
            .nodes
            .iter_mut()
            .map(|n| &mut n.proc)
            .chain(self.slaves.iter_mut().map(|s| &mut s.agent))
            .chain(std::iter::once(&mut self.sim.proc));
        for p in procs {
            if !p.running() {
                out.push(Violation {
                    invariant: "process",
                    at: now(),
                    detail: format!("{} exited by itself:\n{}", p.name, p.tail(20)),
                });
            }
            if let Some(l) = p.output().lines().find(|l| l.contains("panicked at")) {
                out.push(Violation {
                    invariant: "process",
                    at: now(),
                    detail: format!("{} panicked: {l}", p.name),
                });
            }
        }
        for (name, rss) in &self.rss {
            if *rss > memory_bound {
                out.push(Violation {
                    invariant: "memory",
                    at: now(),
                    detail: format!(
                        "{name} reached {} MB (bound {} MB)",
                        rss >> 20,
                        memory_bound >> 20
                    ),
                });
            }
        }
        out
    }

    /// Everything the invariants read.
    async fn collect(&mut self) -> Evidence {
        let requests = get_json(&format!("{}/_sim/requests", self.sim.marathon))
            .await
            .map(|v| evidence::parse_requests(&v))
            .unwrap_or_default();
        let history = get_json(&format!("{}/_sim/history", self.sim.marathon))
            .await
            .unwrap_or_default();
        let mut deploy_log = Vec::new();
        let mut leaders = Vec::new();
        for n in &self.nodes {
            deploy_log.extend(evidence::read_deploy_logs(
                &self.c.logs.join("deploy"),
                &n.id,
            ));
            let kills: Vec<f64> = self
                .kills
                .iter()
                .filter(|(k, _)| *k == n.id)
                .map(|(_, at)| *at)
                .collect();
            leaders.extend(evidence::leader_spans(&n.proc.output(), &n.id, &kills));
        }
        let mut docker = self.docker_events.lock().expect("docker events").clone();
        docker.sort_by(|a, b| a.at.total_cmp(&b.at));
        Evidence {
            requests,
            tasks: evidence::parse_tasks(&history, &self.jumps),
            docker,
            deploy_log,
            leaders,
            windows: self.windows.clone(),
            config: self.config.clone(),
            kills: self.kills.clone(),
        }
    }

    /// `POST|PUT|DELETE` to the Marathon emulator's control API.
    pub(super) async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) {
        let mut req = http().request(method, format!("{}{path}", self.sim.marathon));
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!("chaos: {path}: {}", r.status()),
            Err(e) => eprintln!("chaos: {path}: {e}"),
        }
    }
}

/// Follows one engine's containers (every 250 ms): a container that disappears was destroyed
/// then (the engines are only ever changed by Mesos, which keeps exited containers, by the
/// reaper, and by the campaign's orphans).
async fn poll_docker(
    host: String,
    engine: Engine,
    out: Arc<Mutex<Vec<DockerEvent>>>,
    stop: Arc<AtomicBool>,
) {
    let mut known: BTreeMap<String, crate::docker::Container> = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) {
        if let Ok(list) = engine.containers().await {
            let at = now();
            let ids: std::collections::BTreeSet<&String> = list.iter().map(|c| &c.id).collect();
            let gone: Vec<String> = known.keys().filter(|k| !ids.contains(k)).cloned().collect();
            let mut events = out.lock().expect("docker events");
            for id in gone {
                if let Some(c) = known.remove(&id) {
                    events.push(DockerEvent {
                        at,
                        host: host.clone(),
                        action: "destroy".into(),
                        id,
                        name: c.name,
                        task_id: c.task_id,
                    });
                }
            }
            for c in list {
                known.entry(c.id.clone()).or_insert(c);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
