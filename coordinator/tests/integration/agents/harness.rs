//! The test harness: a tonic server with the agent service on 127.0.0.1, a Marathon/Mesos
//! emulator, one Docker emulator socket per host, and real `galley-agent` instances (the
//! library, in-process) connected over real gRPC.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use galley_agent::docker::BollardDocker;
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_agent::{AgentHandle, AgentSettings};
use galley_coordinator::agents::{
    AgentRegistry, AuditEvent, ChannelAudit, MarathonSource, ReaperHandle, ReaperMode,
    ReaperPolicy, agent_service,
};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::observed::view::{MarathonView, ViewSettings};
use galley_sim::SimClock;
use galley_sim::docker::{ContainerSpec, DockerEngine, DockerSim, DockerSimHandle};
use galley_sim::marathon::{AgentSpec, MarathonSim, MarathonSimConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::TcpListenerStream;

pub const HEARTBEAT: Duration = Duration::from_millis(100);
pub const STALE_AFTER: Duration = Duration::from_millis(500);

/// A running coordinator-side agent service.
pub struct CoordinatorServer {
    pub addr: SocketAddr,
    registry: AgentRegistry,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl CoordinatorServer {
    /// Serves the agent service on `addr` (port 0 for any).
    pub async fn start(
        addr: SocketAddr,
        registry: AgentRegistry,
        leader: watch::Receiver<Option<u64>>,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind coordinator");
        let addr = listener.local_addr().expect("addr");
        let (stop, stop_rx) = oneshot::channel::<()>();
        let svc = agent_service(registry.clone(), leader, 1);
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            registry,
            stop: Some(stop),
            task,
        }
    }

    /// Ends every session and stops serving (graceful shutdown).
    pub async fn stop(mut self) {
        self.registry.disconnect_all();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

pub struct Harness {
    pub sim: MarathonSim,
    pub engines: BTreeMap<String, DockerEngine>,
    pub sockets: BTreeMap<String, std::path::PathBuf>,
    docker_sims: Vec<DockerSimHandle>,
    _dir: tempfile::TempDir,
    pub registry: AgentRegistry,
    pub leader: watch::Sender<Option<u64>>,
    pub server: Option<CoordinatorServer>,
    pub reaper: ReaperHandle,
    pub audit: mpsc::Receiver<AuditEvent>,
    pub agents: BTreeMap<String, AgentHandle>,
    mode: ReaperMode,
}

/// The emulator's Marathon through the real client.
pub fn marathon_client(sim: &MarathonSim) -> Arc<MarathonClient> {
    Arc::new(MarathonClient::new(MarathonConfig {
        url: sim.marathon_url(),
        credentials: None,
        timeout: Duration::from_secs(2),
    }))
}

/// A reaper over HTTP clients of the emulator (grace 1 s, answers within 5 s).
pub fn build_reaper(
    sim: &MarathonSim,
    registry: &AgentRegistry,
    leader_rx: watch::Receiver<Option<u64>>,
    mode: ReaperMode,
) -> (ReaperHandle, mpsc::Receiver<AuditEvent>) {
    let source = MarathonSource::List(marathon_client(sim));
    build_reaper_from(source, sim, registry, leader_rx, mode)
}

/// As [`build_reaper`], taking Marathon's tasks from `source`.
pub fn build_reaper_from(
    source: MarathonSource<MarathonClient>,
    sim: &MarathonSim,
    registry: &AgentRegistry,
    leader_rx: watch::Receiver<Option<u64>>,
    mode: ReaperMode,
) -> (ReaperHandle, mpsc::Receiver<AuditEvent>) {
    let mesos = Arc::new(MesosClient::new(&sim.mesos_url(), Duration::from_secs(2)));
    let (audit, audit_rx) = ChannelAudit::new(10_000);
    let policy = ReaperPolicy {
        // Passes are driven back to back: every one is a sighting.
        sighting_gap: Duration::ZERO,
        mode,
        grace_seconds: 1,
        order_timeout: Duration::from_secs(5),
        ..ReaperPolicy::defaults()
    };
    let reaper = ReaperHandle::new(
        source,
        mesos,
        registry.clone(),
        leader_rx,
        policy,
        Arc::new(audit),
    );
    (reaper, audit_rx)
}

/// The reaper as `serve` runs it: its own loop, passes every `interval` (report mode).
pub fn spawn_reaper_loop(
    sim: &MarathonSim,
    registry: &AgentRegistry,
    leader_rx: watch::Receiver<Option<u64>>,
    interval: Duration,
) -> (ReaperHandle, tokio::task::JoinHandle<()>) {
    let mesos = Arc::new(MesosClient::new(&sim.mesos_url(), Duration::from_secs(2)));
    let (audit, _) = ChannelAudit::new(10_000);
    let policy = ReaperPolicy {
        interval,
        sighting_gap: Duration::ZERO,
        mode: ReaperMode::Report,
        ..ReaperPolicy::defaults()
    };
    ReaperHandle::spawn(
        MarathonSource::List(marathon_client(sim)),
        mesos,
        registry.clone(),
        leader_rx,
        policy,
        Arc::new(audit),
    )
}

pub fn host_name(i: usize) -> String {
    format!("slave-{i}.example.com")
}

impl Harness {
    /// `n_hosts` emulated slaves, each with a Docker emulator socket; the reaper in `mode`.
    pub async fn start(n_hosts: usize, mode: ReaperMode) -> Self {
        let agents = (0..n_hosts)
            .map(|i| AgentSpec::new(&host_name(i)))
            .collect();
        let sim = MarathonSim::start(MarathonSimConfig::virtual_time().agents(agents))
            .await
            .expect("marathon sim");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut engines = BTreeMap::new();
        let mut sockets = BTreeMap::new();
        let mut docker_sims = Vec::new();
        for i in 0..n_hosts {
            let engine = DockerEngine::new(SimClock::real());
            let sock = dir.path().join(format!("docker-{i}.sock"));
            docker_sims.push(
                DockerSim::serve_engine(&sock, engine.clone())
                    .await
                    .expect("docker sim"),
            );
            engines.insert(host_name(i), engine);
            sockets.insert(host_name(i), sock);
        }
        let registry = AgentRegistry::new(STALE_AFTER);
        let (leader, leader_rx) = watch::channel(Some(7));
        let server = CoordinatorServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            registry.clone(),
            leader_rx.clone(),
        )
        .await;
        let (reaper, audit_rx) = build_reaper(&sim, &registry, leader_rx, mode);
        Self {
            sim,
            engines,
            sockets,
            docker_sims,
            _dir: dir,
            registry,
            leader,
            server: Some(server),
            reaper,
            audit: audit_rx,
            agents: BTreeMap::new(),
            mode,
        }
    }

    /// A new coordinator process on `addr`: empty registry, new reaper state.
    pub async fn restart_coordinator(&mut self, addr: SocketAddr) {
        self.registry = AgentRegistry::new(STALE_AFTER);
        let leader_rx = self.leader.subscribe();
        let server = CoordinatorServer::start(addr, self.registry.clone(), leader_rx.clone()).await;
        self.server = Some(server);
        let (reaper, audit) = build_reaper(&self.sim, &self.registry, leader_rx, self.mode);
        self.reaper = reaper;
        self.audit = audit;
    }

    /// Replaces the reaper with one that takes Marathon's tasks from a list-then-watch view
    /// of the emulator (not started: run it with [`Self::run_view`]).
    pub fn use_marathon_view(&mut self) -> MarathonView {
        let view = MarathonView::new();
        let (reaper, audit) = build_reaper_from(
            MarathonSource::View(view.clone()),
            &self.sim,
            &self.registry,
            self.leader.subscribe(),
            self.mode,
        );
        self.reaper = reaper;
        self.audit = audit;
        view
    }

    /// Keeps `view` current from the emulator until the returned switch is set (or dropped).
    pub fn run_view(&self, view: &MarathonView) -> watch::Sender<bool> {
        let (stop, stopped) = watch::channel(false);
        let settings = ViewSettings {
            backoff: (Duration::from_millis(20), Duration::from_millis(100)),
            ..ViewSettings::default()
        };
        tokio::spawn(
            view.clone()
                .run(marathon_client(&self.sim), settings, stopped),
        );
        stop
    }

    pub fn coordinator_url(&self, addr: Option<SocketAddr>) -> String {
        let addr = addr.unwrap_or_else(|| self.server.as_ref().expect("server").addr);
        format!("http://{addr}")
    }

    /// Starts (or restarts) the agent of `host`, dialing `addr` (default: the server).
    pub fn start_agent(&mut self, host: &str, addr: Option<SocketAddr>) {
        let url = self.coordinator_url(addr);
        self.start_agent_to(host, vec![url]);
    }

    /// Starts (or restarts) the agent of `host` with a session to each of `urls`.
    pub fn start_agent_to(&mut self, host: &str, urls: Vec<String>) {
        let docker =
            BollardDocker::connect(self.sockets[host].to_str().expect("utf8"), 5).expect("connect");
        let settings = AgentSettings {
            session: SessionSettings {
                coordinator_urls: urls,
                tls: None,
                hello: hello(host, None),
                heartbeat: HEARTBEAT,
                backoff_min: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            relist_every: Duration::from_secs(5),
            limits: ReaperLimits {
                min_age: Duration::from_secs(3600),
                max_per_minute: 100,
            },
        };
        self.agents.insert(
            host.to_owned(),
            galley_agent::spawn(Arc::new(docker), settings),
        );
    }

    /// Waits until every listed host is fresh with `n` containers each (by host).
    pub async fn wait_inventories(&self, expect: &[(&str, usize)]) {
        wait_for("inventories", || {
            expect.iter().all(|(h, n)| {
                self.registry
                    .host(h)
                    .is_some_and(|s| s.fresh && s.containers.len() == *n)
            })
        })
        .await;
    }

    /// A live Mesos task on `host` with an old container; returns the container id.
    pub fn live_task(&self, host: &str, task_id: &str) -> String {
        self.sim
            .sim_add_foreign_task(host, task_id)
            .expect("foreign task");
        self.engines[host]
            .sim_inject(ContainerSpec::mesos_orphan(Some(task_id), "img").created_at(hours_ago(2)))
            .expect("inject")
    }

    /// An orphan (task id unknown to Mesos/Marathon), `age_h` hours old.
    pub fn orphan(&self, host: &str, age_h: i64) -> String {
        let task = format!("gone.main.{}", uuid::Uuid::new_v4().simple());
        self.engines[host]
            .sim_inject(
                ContainerSpec::mesos_orphan(Some(&task), "img").created_at(hours_ago(age_h)),
            )
            .expect("inject")
    }

    pub fn exists(&self, host: &str, id: &str) -> bool {
        self.engines[host].container(id).is_ok()
    }

    pub async fn shutdown(mut self) {
        self.agents.clear();
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        for d in self.docker_sims.drain(..) {
            d.shutdown().await;
        }
        self.sim.shutdown().await;
    }
}

pub fn hours_ago(h: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::hours(h)
}

/// Polls `cond` every 10 ms for up to 10 s.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
