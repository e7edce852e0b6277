//! `bench-agents [AGENTS] [CONTAINERS] [SECONDS]`: one coordinator (agent service + registry +
//! reaper loop in enforce mode) against AGENTS emulated agents (default 1,000 × 50) that run in
//! a child process (so CPU and RSS figures are the coordinator's alone) over loopback gRPC,
//! heartbeating every 10 s, with 1% container churn per minute (new tasks start; tasks die so
//! that their containers become orphans). Prints coordinator CPU %, RSS, and the orphan
//! detected → reaped latency (first flag to the agent's `done`).
//! Emulated agents share 20 HTTP/2 connections (1,000 sockets would exceed default fd limits).

use futures::stream as futures_stream;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use galley_common::observed::{MesosSlave, MesosState, MesosTask, ObservedApp};
use galley_coordinator::agents::{
    AgentRegistry, AuditEvent, ChannelAudit, ReaperCounters, ReaperHandle, ReaperMode,
    ReaperPolicy, agent_service,
};
use galley_coordinator::marathon::{MarathonApi, MarathonError};
use galley_coordinator::mesos::{MesosApi, MesosError};
use galley_proto::v1::agent_message::Body as Up;
use galley_proto::v1::agent_service_client::AgentServiceClient;
use galley_proto::v1::coordinator_message::Body as Down;
use galley_proto::v1::{
    AgentHello, AgentMessage, Container, ContainerState, Heartbeat, Inventory, InventoryDelta,
    ReapResult, ReapStatus,
};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

const HEARTBEAT: Duration = Duration::from_secs(10);

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Agents (fake hosts).
    #[arg(default_value_t = 1000)]
    agents: usize,
    /// Containers per agent.
    #[arg(default_value_t = 50)]
    containers: usize,
    /// Seconds to run.
    #[arg(default_value_t = 150)]
    seconds: u64,
    /// Child mode: the agents' side, dialing this coordinator address.
    #[arg(long, hide = true)]
    child: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(addr) = args.child {
        return rt.block_on(child(addr, args.agents, args.containers));
    }
    rt.block_on(parent(args.agents, args.containers, args.seconds))
}

/// Mesos: every task id any agent reports, minus the ones churn killed.
struct FakeCluster {
    registry: AgentRegistry,
    dead: Mutex<BTreeSet<String>>,
}

impl MesosApi for FakeCluster {
    async fn state(&self) -> Result<MesosState, MesosError> {
        let dead = self.dead.lock().expect("dead").clone();
        let mut st = MesosState::default();
        for h in self.registry.snapshot() {
            st.slaves.push(MesosSlave {
                id: h.host.clone(),
                hostname: h.host.clone(),
                ..Default::default()
            });
            for c in h.containers {
                let Some(t) = c.task_id_env.filter(|t| !dead.contains(t)) else {
                    continue;
                };
                st.tasks.push(MesosTask {
                    id: t,
                    slave_id: h.host.clone(),
                    state: "TASK_RUNNING".into(),
                });
            }
        }
        Ok(st)
    }
}

struct NoMarathon;

impl MarathonApi for NoMarathon {
    async fn get_app(&self, _: &str) -> Result<Option<ObservedApp>, MarathonError> {
        Ok(None)
    }
    fn events(
        &self,
    ) -> futures_stream::BoxStream<
        'static,
        Result<galley_coordinator::marathon::MarathonEvent, MarathonError>,
    > {
        Box::pin(futures_stream::pending())
    }
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        Ok(Vec::new())
    }
    async fn create_app(&self, _: &serde_json::Value) -> Result<(), MarathonError> {
        Ok(())
    }
    async fn scale_app(&self, _: &str, _: u32, _: bool) -> Result<(), MarathonError> {
        Ok(())
    }
    async fn kill_tasks(&self, _: &[String], _: bool, _: bool) -> Result<(), MarathonError> {
        Ok(())
    }
    async fn delete_app(&self, _: &str) -> Result<(), MarathonError> {
        Ok(())
    }
    async fn queue(&self) -> Result<Vec<galley_common::replication::QueueSignal>, MarathonError> {
        Ok(Vec::new())
    }
}

async fn parent(n: usize, c: usize, secs: u64) -> anyhow::Result<()> {
    let registry = AgentRegistry::new(HEARTBEAT * 3);
    let (_leader_tx, leader) = watch::channel(Some(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let svc = agent_service(registry.clone(), leader.clone(), 10);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let cluster = Arc::new(FakeCluster {
        registry: registry.clone(),
        dead: Mutex::default(),
    });
    let (audit, mut audit_rx) = ChannelAudit::new(100_000);
    let policy = ReaperPolicy {
        sighting_gap: Duration::ZERO,
        mode: ReaperMode::Enforce,
        global_per_minute: 10_000,
        host_per_minute: 20,
        interval: HEARTBEAT,
        grace_seconds: 0,
        ..ReaperPolicy::defaults()
    };
    let (reaper, _loop) = ReaperHandle::spawn(
        galley_coordinator::agents::MarathonSource::List(Arc::new(NoMarathon)),
        cluster.clone(),
        registry.clone(),
        leader,
        policy,
        Arc::new(audit),
    );
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "--child",
            &format!("http://{addr}"),
            &n.to_string(),
            &c.to_string(),
        ])
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    while registry.snapshot().iter().filter(|h| h.fresh).count() < n {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{n} agents × {c} containers inventoried in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Churn (deaths): 1% of containers per minute; half the churn kills tasks, half (in the
    // child) starts new ones.
    let deaths_per_sec = (n * c) as f64 * 0.01 / 60.0 / 2.0;
    let cl = cluster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut owed = 0.0;
        loop {
            tick.tick().await;
            owed += deaths_per_sec / 10.0;
            while owed >= 1.0 {
                owed -= 1.0;
                let snap = cl.registry.snapshot();
                let h = &snap[rand::rng().random_range(0..snap.len())];
                if let Some(t) = h
                    .containers
                    .get(rand::rng().random_range(0..h.containers.len().max(1)))
                    .and_then(|c| c.task_id_env.clone())
                {
                    cl.dead.lock().expect("dead").insert(t);
                }
            }
        }
    });
    let (cpu0, t0) = (galley_bench::cpu_seconds(), Instant::now());
    let mut flagged: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut peak_rss = 0;
    while Instant::now() < end {
        let ev = tokio::time::timeout(Duration::from_millis(500), audit_rx.recv()).await;
        peak_rss = peak_rss.max(galley_bench::rss_kib());
        match ev {
            Ok(Some(AuditEvent::OrphanFlagged { container_id, .. })) => {
                flagged.entry(container_id).or_insert_with(Instant::now);
            }
            Ok(Some(AuditEvent::OrderResult {
                container_id,
                outcome: Some(_),
                ..
            })) => {
                if let Some(t) = flagged.remove(&container_id) {
                    latencies.push(t.elapsed());
                }
            }
            _ => {}
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = galley_bench::cpu_seconds() - cpu0;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let k = reaper.counters();
    println!(
        "measured {wall:.0}s: coordinator CPU {:.1}% of one core, RSS {} MB (peak {} MB)",
        100.0 * cpu / wall,
        galley_bench::rss_kib() / 1024,
        peak_rss / 1024
    );
    println!(
        "orders sent {}, done {}, refused {}, lost {}; passes {}",
        ReaperCounters::get(&k.orders_sent),
        ReaperCounters::get(&k.results_done),
        ReaperCounters::get(&k.results_refused),
        ReaperCounters::get(&k.results_lost),
        ReaperCounters::get(&k.passes)
    );
    println!(
        "orphan detected → reaped: n={} p50 {:.2}s p99 {:.2}s (reaper pass interval {}s, two observations required)",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        HEARTBEAT.as_secs()
    );
    child.kill().await?;
    Ok(())
}

fn container(host: usize, k: u64) -> Container {
    Container {
        id: format!("{host:08}{k:056}"),
        name: format!("mesos-{host}-{k}"),
        created_unix_nanos: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
            - 7_200_000_000_000,
        state: ContainerState::Running.into(),
        task_id_env: format!("svc.main.h{host}.k{k}"),
        ..Default::default()
    }
}

async fn child(addr: String, n: usize, c: usize) -> anyhow::Result<()> {
    let mut channels = Vec::new();
    for _ in 0..20 {
        channels.push(
            tonic::transport::Endpoint::from_shared(addr.clone())?
                .connect()
                .await?,
        );
    }
    for host in 0..n {
        let ch = channels[host % channels.len()].clone();
        tokio::spawn(async move {
            let _ = emulated_agent(ch, host, c).await;
        });
        if host % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

async fn emulated_agent(
    ch: tonic::transport::Channel,
    host: usize,
    c: usize,
) -> anyhow::Result<()> {
    let mut containers: BTreeMap<String, Container> = (0..c as u64)
        .map(|k| container(host, k))
        .map(|x| (x.id.clone(), x))
        .collect();
    let mut next = c as u64;
    let (tx, rx) = mpsc::channel(64);
    let mut seq = 0;
    let mut msg = |body| {
        seq += 1;
        AgentMessage {
            seq,
            body: Some(body),
        }
    };
    tx.send(msg(Up::Hello(AgentHello {
        hostname: format!("host-{host}"),
        ..Default::default()
    })))
    .await?;
    tx.send(msg(Up::Inventory(Inventory {
        containers: containers.values().cloned().collect(),
    })))
    .await?;
    let mut inbound = AgentServiceClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let jitter = Duration::from_millis(rand::rng().random_range(0..10_000));
    let mut hb = tokio::time::interval_at(Instant::now() + jitter, HEARTBEAT);
    // New tasks: half of the 1%/min churn.
    let birth_every = Duration::from_secs_f64(60.0 / (c as f64 * 0.01 / 2.0));
    let mut births = tokio::time::interval_at(Instant::now() + jitter + birth_every, birth_every);
    loop {
        tokio::select! {
            m = inbound.message() => {
                let Some(m) = m? else { return Ok(()) };
                if let Some(Down::ReapOrder(o)) = m.body {
                    containers.remove(&o.container_id);
                    tx.send(msg(Up::ReapResult(ReapResult { order_id: o.order_id, status: ReapStatus::Done.into(), ..Default::default() }))).await?;
                    tx.send(msg(Up::Delta(InventoryDelta { upserted: vec![], removed_ids: vec![o.container_id] }))).await?;
                }
            }
            _ = hb.tick() => {
                tx.send(msg(Up::Heartbeat(Heartbeat { container_count: containers.len() as u32 }))).await?;
            }
            _ = births.tick() => {
                let x = container(host, next);
                next += 1;
                containers.insert(x.id.clone(), x.clone());
                tx.send(msg(Up::Delta(InventoryDelta { upserted: vec![x], removed_ids: vec![] }))).await?;
            }
        }
    }
}
