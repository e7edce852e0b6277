//! The wiring of [`super::Coordinator::start`], one named step per part: election, shared
//! clients, reconciler, switch sync, monitor and `/metrics`, git watch, gRPC with the agent
//! service and the reaper. Every task it starts is either put in the root's `JoinSet` or ends
//! with a channel that the shutdown closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::{StartError, StartOptions, deploy_log, server_tls, signalled, stop_switch};
use crate::agents::{AgentRegistry, MarathonSource, agent_service_audited};
use crate::apply::{ApplyBudget, ApplyEvent};
use crate::config::{ConfigError, CoordinatorConfig, ElectionSection};
use crate::deploy_log::{Component, DeployEvent, DeployLog, Level};
use crate::election::{
    Election, LeaderElection, Leadership, SoleLeader, ZkElection, ZkSettings, acting_term,
    destructive_term, spawn_gate, spawn_switch_sync, switches_path,
};
use crate::error_chain::ErrorChain;
use crate::gitwatch::{self, GitWatchHandle, GitWatchSettings, TagWriter, spawn_git_watch};
use crate::grpc::view::ViewSources;
use crate::grpc::{OperatorDeps, OperatorService, ReaperSlot};
use crate::haproxy::{HaproxyClient, HaproxySettings};
use crate::marathon::{MarathonClient, MarathonConfig};
use crate::mesos::MesosClient;
use crate::metrics::{Metrics, OpLabels, serve_metrics};
use crate::monitor::{Monitor, SmartstackSources};
use crate::observed::metered::Metered;
use crate::observed::view::{MarathonView, ViewSettings};
use crate::plan::CleanupPolicy;
use crate::reconciler::{EventSink, ReconcileSettings, Reconciler, ReconcilerHandle};
use crate::rollback::{RollbackDeps, Roller};
use crate::sensu::{LeaderOnly, QueuedSink, SensuClient};
use crate::server::{self, DeployLogAudit, Services};
use crate::system_dir::read_system_config;

/// What the root keeps of a started coordinator.
pub(super) struct Parts {
    pub grpc_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub reconciler: ReconcilerHandle,
    pub operator: OperatorService,
    pub registry: AgentRegistry,
    pub reaper: Arc<ReaperSlot>,
    pub deploy_log: Arc<DeployLog>,
    pub leadership: watch::Receiver<Leadership>,
    pub election: Election,
    pub grpc_stop: oneshot::Sender<()>,
}

/// What the long-running parts share: one Marathon and one Mesos client (one connection pool
/// each), the metrics, and the acting leader term.
struct Shared {
    marathon: Arc<Metered<MarathonClient>>,
    mesos: Arc<Metered<MesosClient>>,
    metrics: Arc<Metrics>,
    acting: watch::Receiver<Option<u64>>,
}

/// Starts every part; see the module docs.
pub(super) async fn start(
    config: &CoordinatorConfig,
    opts: &StartOptions,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) -> Result<Parts, StartError> {
    let tls = server_tls(config, opts, shutdown, tasks)?;
    let mut settings = settings(config);
    if opts.force_cleanup {
        tracing::warn!("--force-cleanup: cleanup may delete more than the kill threshold of apps");
        settings.cleanup.force = true;
    }
    let cluster = match &config.cluster {
        Some(c) => c.clone(),
        None => read_system_config(&config.system_config_dir)
            .map_err(StartError::SystemConfig)?
            .cluster
            .unwrap_or_default(),
    };
    let deploy_log = deploy_log(config);
    let (election, leadership) = start_election(config, &cluster, shutdown.clone());
    let (marathon, mesos) = clients(config)?;
    let metrics = Arc::new(Metrics::new());
    let shared = Shared {
        marathon: Arc::new(Metered::new(marathon, metrics.clone())),
        mesos: Arc::new(Metered::new(mesos, metrics.clone())),
        metrics,
        acting: acting_term(&leadership),
    };
    let events = event_sink(deploy_log.clone(), cluster.clone());
    let view = start_view(config, &shared, shutdown, tasks);
    let mut reconciler = Reconciler::new(
        shared.marathon.clone(),
        shared.mesos.clone(),
        settings,
        events,
    )
    .with_leadership(leadership.clone());
    if let Some(view) = &view {
        reconciler = reconciler.with_view(view.clone());
    }
    let reconciler = reconciler.spawn(shutdown.clone());
    if let Some(e) = &config.election {
        start_switch_sync(e, &cluster, &reconciler, &shared, shutdown, tasks);
    }
    export_leadership(shared.metrics.clone(), leadership.clone(), tasks);
    let trim = super::trim::run(super::trim::TRIM_EVERY, shutdown.clone());
    tasks.spawn(async move {
        trim.await;
        "memory trim"
    });
    let monitor_events = leader_only(
        component_sink(deploy_log.clone(), cluster.clone(), Component::Monitoring),
        shared.acting.clone(),
    );
    start_monitor(config, &cluster, &reconciler, &shared, monitor_events)?;
    let metrics_addr = start_metrics(config, &shared, shutdown, tasks).await?;
    let (deploy, tags) =
        start_git_watch(config, &reconciler, &shared, &deploy_log, shutdown).await?;
    let rollback = start_rollback(
        config,
        &cluster,
        &reconciler,
        &shared,
        &leadership,
        tags,
        &deploy_log,
    )?;
    tasks.spawn(async move {
        rollback.await;
        "rollback"
    });
    let grpc = start_grpc(GrpcParts {
        view: view.clone(),
        config,
        cluster: &cluster,
        reconciler: &reconciler,
        deploy_log: deploy_log.clone(),
        deploy,
        shared: &shared,
        leadership: leadership.clone(),
        tls,
        shutdown,
        tasks,
    })
    .await?;
    tracing::info!(config = %opts.config_path.display(), addr = %grpc.addr, "galley-coordinator serving");
    Ok(Parts {
        grpc_addr: grpc.addr,
        metrics_addr,
        reconciler,
        operator: grpc.operator,
        registry: grpc.registry,
        reaper: grpc.reaper,
        deploy_log,
        leadership,
        election,
        grpc_stop: grpc.stop,
    })
}

/// The list-then-watch view of Marathon (with `marathon.watch_events`), kept until shutdown.
fn start_view(
    config: &CoordinatorConfig,
    shared: &Shared,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) -> Option<MarathonView> {
    if !config.marathon.watch_events {
        tracing::info!("marathon.watch_events is off: every pass lists Marathon");
        return None;
    }
    let view = MarathonView::new();
    let probe = view.clone();
    shared.metrics.set_cache_probe(Arc::new(move || {
        let s = probe.status();
        crate::metrics::CacheProbe {
            age_seconds: s.since_resync.map(|d| d.as_secs_f64()),
            complete: s.complete,
            events: s.events,
            breaks: s.breaks,
        }
    }));
    let settings = ViewSettings {
        resync_every: Duration::from_secs_f64(config.marathon.resync_seconds),
        ..ViewSettings::default()
    };
    let run = view
        .clone()
        .run(shared.marathon.clone(), settings, shutdown.clone());
    tasks.spawn(async move {
        run.await;
        "marathon view"
    });
    Some(view)
}

/// Builds the Marathon and Mesos clients of `config`.
pub fn clients(config: &CoordinatorConfig) -> Result<(MarathonClient, MesosClient), ConfigError> {
    let marathon = MarathonClient::new(MarathonConfig {
        url: config.marathon.url.clone(),
        credentials: config.marathon_credentials()?,
        timeout: Duration::from_secs_f64(config.marathon.timeout_seconds),
    });
    let mesos = MesosClient::new(
        &config.mesos.url,
        Duration::from_secs_f64(config.mesos.timeout_seconds),
    )
    .with_credentials(config.mesos_credentials()?);
    Ok((marathon, mesos))
}

/// The reconcile settings of `config`.
pub fn settings(config: &CoordinatorConfig) -> ReconcileSettings {
    ReconcileSettings {
        soa_dir: config.soa_dir.clone(),
        system_config_dir: config.system_config_dir.clone(),
        cluster: config.cluster.clone(),
        interval: config.interval(),
        cleanup: CleanupPolicy {
            kill_threshold: config.reconcile.kill_threshold,
            force: false,
        },
        budget: ApplyBudget {
            max_cleanup_deletes: config.reconcile.max_cleanup_deletes_per_pass,
            max_task_kills: config.reconcile.max_task_kills_per_pass,
        },
        dry_run: config.reconcile.dry_run,
    }
}

/// Joins the ZooKeeper election of `config.election` (or leads alone without one): the
/// election (held until shutdown, then left) and the leadership gate every part reads.
fn start_election(
    config: &CoordinatorConfig,
    cluster: &str,
    shutdown: watch::Receiver<bool>,
) -> (Election, watch::Receiver<Leadership>) {
    let port = config.listen.rsplit(':').next().unwrap_or("50051");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let Some(e) = &config.election else {
        tracing::warn!("no `election` configured: this coordinator is the only one and leads");
        let election = Election::Sole(SoleLeader::new());
        let me = format!("{hostname}:{port}");
        let gate = spawn_gate(election.states(), me, Duration::ZERO);
        return (election, gate);
    };
    let id = e.id.clone().unwrap_or_else(|| format!("{hostname}:{port}"));
    let settings = zk_settings(e, cluster, id.clone());
    tracing::info!(zookeeper = %settings.hosts, path = %settings.path, id = %id, "joining leader election");
    let zk = ZkElection::spawn(settings, shutdown);
    let grace = Duration::from_secs_f64(e.grace_period_seconds);
    let gate = spawn_gate(zk.states(), id, grace);
    (Election::Zk(zk), gate)
}

/// The ZooKeeper settings of `election` (`id`: what this client announces).
fn zk_settings(e: &ElectionSection, cluster: &str, id: String) -> ZkSettings {
    ZkSettings {
        hosts: e.zookeeper.clone(),
        path: e
            .path
            .clone()
            .unwrap_or_else(|| format!("/galley/{cluster}/leader")),
        session_timeout: Duration::from_secs_f64(e.session_timeout_seconds),
        id,
    }
}

/// Shares the operator switches through the znode next to the election node.
fn start_switch_sync(
    e: &ElectionSection,
    cluster: &str,
    reconciler: &ReconcilerHandle,
    shared: &Shared,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) {
    let zk = zk_settings(e, cluster, "switches".into());
    let path = switches_path(&zk.path);
    let task = spawn_switch_sync(
        ZkSettings {
            path: path.clone(),
            ..zk
        },
        path,
        reconciler.control.clone(),
        shared.acting.clone(),
        shutdown.clone(),
    );
    tasks.spawn(async move {
        let _ = task.await;
        "switch sync"
    });
}

/// Keeps the `leader_term` and `destructive_allowed` gauges equal to the leadership gate.
fn export_leadership(
    metrics: Arc<Metrics>,
    mut leadership: watch::Receiver<Leadership>,
    tasks: &mut JoinSet<&'static str>,
) {
    tasks.spawn(async move {
        loop {
            let l = leadership.borrow_and_update().clone();
            metrics
                .leader_term
                .set(l.acting.and_then(|t| i64::try_from(t).ok()).unwrap_or(0));
            metrics
                .destructive_allowed
                .set(i64::from(l.destructive.is_some()));
            if leadership.changed().await.is_err() {
                return "leadership gauges";
            }
        }
    });
}

/// The post-pass monitor (replication, Sensu, metrics); it ends with the reconciler.
fn start_monitor(
    config: &CoordinatorConfig,
    cluster: &str,
    reconciler: &ReconcilerHandle,
    shared: &Shared,
    events: EventSink,
) -> Result<(), StartError> {
    let system = read_system_config(&config.system_config_dir).map_err(StartError::SystemConfig)?;
    let raw = &system.raw;
    let sink = LeaderOnly {
        inner: QueuedSink::spawn(sensu_client(raw), 1024),
        acting: shared.acting.clone(),
    };
    let haproxy = HaproxyClient::new(HaproxySettings::from_system_config(raw));
    // The monitor times its own reads (`queue`, `slaves`): it gets the clients unwrapped.
    let monitor = Monitor::new(cluster.to_string(), sink, shared.metrics.clone(), events)
        .with_launch_queue(Arc::new(shared.marathon.inner().clone()))
        .with_smartstack(SmartstackSources {
            slaves: Arc::new(shared.mesos.inner().clone()),
            haproxy,
        });
    let _view = crate::monitor::spawn(
        monitor,
        reconciler.status.clone(),
        Arc::new(chrono::Utc::now),
    );
    Ok(())
}

/// The Sensu client socket of the system config (`sensu_host`, `sensu_port`).
fn sensu_client(raw: &serde_json::Map<String, serde_json::Value>) -> SensuClient {
    let host = raw
        .get("sensu_host")
        .and_then(|v| v.as_str())
        .unwrap_or("localhost")
        .to_string();
    let port = raw
        .get("sensu_port")
        .and_then(|v| v.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(3030);
    SensuClient::new(host, port, Duration::from_secs(2))
}

/// The `/metrics` endpoint, if configured.
async fn start_metrics(
    config: &CoordinatorConfig,
    shared: &Shared,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(addr) = &config.metrics_listen else {
        return Ok(None);
    };
    let bind = |source| StartError::Bind {
        what: "metrics",
        addr: addr.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    tracing::info!(addr = %local, "metrics on /metrics");
    let metrics = shared.metrics.clone();
    let stop = signalled(shutdown);
    tasks.spawn(async move {
        if let Err(e) = serve_metrics(listener, metrics, stop).await {
            tracing::warn!(error = %e, "metrics server");
        }
        "metrics server"
    });
    Ok(Some(local))
}

/// The tag writer and the git watch it refreshes, shared by `DeployService` and the rollback.
struct Tags {
    writer: Arc<TagWriter>,
    watch: GitWatchHandle,
}

/// The git poller (and webhook, if configured) and the DeployService: pushed tags regenerate
/// deployments.json and trigger a pass at once. Both end on shutdown.
async fn start_git_watch(
    config: &CoordinatorConfig,
    reconciler: &ReconcilerHandle,
    shared: &Shared,
    deploy_log: &Arc<DeployLog>,
    shutdown: &watch::Receiver<bool>,
) -> Result<
    (
        galley_proto::v1::deploy_service_server::DeployServiceServer<gitwatch::grpc::DeployApi>,
        Tags,
    ),
    StartError,
> {
    let git_cfg = config.git.clone().unwrap_or_default();
    let trigger = reconciler.clone();
    let watch = spawn_git_watch(
        GitWatchSettings::from_config(config),
        Arc::new(crate::git::Git2Source::new(Duration::from_secs_f64(
            git_cfg.timeout_seconds,
        ))),
        Arc::new(move || trigger.trigger()),
        Some(shared.metrics.clone()),
        gitwatch::webhook_from_config(config).await?,
        shutdown.clone(),
    );
    let writer = Arc::new(TagWriter::new(
        gitwatch::tag_writer_settings(config)?,
        Some(deploy_log.clone()),
        Some(shared.metrics.clone()),
    ));
    let tags = Tags {
        writer: writer.clone(),
        watch: watch.clone(),
    };
    Ok((gitwatch::deploy_service(writer, Some(watch)), tags))
}

/// The automatic rollback of bounces that cannot converge: a task body that follows the
/// reconciler's passes (as the monitor does) and ends with it.
fn start_rollback(
    config: &CoordinatorConfig,
    cluster: &str,
    reconciler: &ReconcilerHandle,
    shared: &Shared,
    leadership: &watch::Receiver<Leadership>,
    tags: Tags,
    deploy_log: &Arc<DeployLog>,
) -> Result<impl Future<Output = ()> + use<>, StartError> {
    let system = read_system_config(&config.system_config_dir).map_err(StartError::SystemConfig)?;
    let git_timeout = config.git.clone().unwrap_or_default().timeout_seconds;
    let roller = Roller::new(RollbackDeps {
        cluster: cluster.to_owned(),
        soa_dir: config.soa_dir.clone(),
        default: config.rollback.default_policy(),
        dry_run: config.reconcile.dry_run,
        writer: tags.writer,
        git_watch: Some(tags.watch),
        queue: Some(shared.marathon.clone()),
        sensu: LeaderOnly {
            inner: QueuedSink::spawn(sensu_client(&system.raw), 64),
            acting: shared.acting.clone(),
        },
        events: event_sink(deploy_log.clone(), cluster.to_owned()),
        control: reconciler.control.clone(),
        leadership: leadership.clone(),
        git_timeout: Duration::from_secs_f64(git_timeout),
    });
    Ok(crate::rollback::run(roller, reconciler.status.clone()))
}

/// Everything the gRPC server is built from.
struct GrpcParts<'a> {
    view: Option<MarathonView>,
    config: &'a CoordinatorConfig,
    cluster: &'a str,
    reconciler: &'a ReconcilerHandle,
    deploy_log: Arc<DeployLog>,
    deploy: galley_proto::v1::deploy_service_server::DeployServiceServer<gitwatch::grpc::DeployApi>,
    shared: &'a Shared,
    leadership: watch::Receiver<Leadership>,
    tls: Option<crate::tls::ServerTls>,
    shutdown: &'a watch::Receiver<bool>,
    tasks: &'a mut JoinSet<&'static str>,
}

/// What the gRPC step started.
struct Grpc {
    addr: SocketAddr,
    operator: OperatorService,
    registry: AgentRegistry,
    reaper: Arc<ReaperSlot>,
    stop: oneshot::Sender<()>,
}

/// The gRPC server: operator API, agent service (with the orphan reaper), deploy service,
/// health and reflection.
async fn start_grpc(p: GrpcParts<'_>) -> Result<Grpc, StartError> {
    let listener = server::bind(&p.config.listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        what: "gRPC",
        addr: p.config.listen.clone(),
        source,
    })?;
    tracing::info!(%addr, "gRPC API (reflection, health) listening");
    let registry = AgentRegistry::new(p.config.reaper.agent_stale_after());
    let audit = Arc::new(DeployLogAudit {
        log: p.deploy_log.clone(),
        cluster: p.cluster.to_owned(),
    });
    let policy = p.config.reaper.policy();
    tracing::info!(mode = ?policy.mode, min_age_seconds = policy.min_age.as_secs_f64(),
        interval_seconds = policy.interval.as_secs_f64(), sightings = policy.sightings, "orphan reaper");
    // Orders need the destructive term (leading, grace over); acks carry the acting term.
    let marathon = match &p.view {
        Some(view) => MarathonSource::View(view.clone()),
        None => MarathonSource::List(p.shared.marathon.clone()),
    };
    let reaper = Arc::new(ReaperSlot::spawning(
        policy,
        marathon,
        p.shared.mesos.clone(),
        registry.clone(),
        destructive_term(&p.leadership),
        audit,
    ));
    export_agent_metrics(
        p.shared.metrics.clone(),
        registry.clone(),
        reaper.clone(),
        p.shutdown,
        p.tasks,
    );
    let sources = ViewSources {
        launch_queue: Some(p.shared.marathon.clone()),
        rollback_default: p.config.rollback.default_policy(),
    };
    let operator = OperatorService::with_sources(
        OperatorDeps {
            cluster: p.cluster.to_owned(),
            reconciler: p.reconciler.clone(),
            deploy_log: p.deploy_log,
            leadership: p.leadership,
            agents: Some(registry.clone()),
            reaper: Some(reaper.clone()),
            marathon_view: p.view.clone(),
        },
        sources,
    );
    let audit_to = operator.clone();
    let services = Services {
        operator: operator.clone(),
        agents: Some((
            agent_service_audited(
                registry.clone(),
                p.shared.acting.clone(),
                10,
                Some(Arc::new(move |m: &str| audit_to.audit(None, None, m))),
            ),
            registry.clone(),
        )),
        deploy: Some(p.deploy),
        tls: p.tls,
        roles: p.config.roles.clone(),
    };
    let (stop, stopped) = stop_switch();
    p.tasks.spawn(async move {
        if let Err(e) = server::serve(listener, services, stopped).await {
            tracing::warn!(error = %ErrorChain(&e), "gRPC server");
        }
        "gRPC server"
    });
    Ok(Grpc {
        addr,
        operator,
        registry,
        reaper,
        stop,
    })
}

/// Copies agent and reaper state into Prometheus every 5 s until shutdown: agents
/// connected/stale, orphans, and the reaper's order and result counters.
fn export_agent_metrics(
    metrics: Arc<Metrics>,
    registry: AgentRegistry,
    reaper: Arc<ReaperSlot>,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut stop = shutdown.clone();
    tasks.spawn(async move {
        let mut last = [0u64; 4];
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.wait_for(|s| *s) => return "agent metrics",
            }
            let agents = registry.agents();
            metrics
                .agents_connected
                .set(agents.iter().filter(|a| a.connected).count() as i64);
            metrics
                .agents_stale
                .set(agents.iter().filter(|a| a.connected && !a.fresh).count() as i64);
            let c = reaper.handle().counters();
            metrics
                .orphans
                .set(i64::try_from(c.orphans_flagged.load(Relaxed)).unwrap_or(i64::MAX));
            let now = [
                c.orders_sent.load(Relaxed),
                c.results_done.load(Relaxed),
                c.results_refused.load(Relaxed),
                c.results_failed.load(Relaxed),
            ];
            for (i, op) in ["ordered", "done", "refused", "failed"]
                .into_iter()
                .enumerate()
            {
                metrics
                    .reaps
                    .get_or_create(&OpLabels { op })
                    .inc_by(now[i].saturating_sub(last[i]));
            }
            last = now;
        }
    });
}

/// Reconciler events to the deploy log (component `deploy`, as PaaSTA's bounce lines).
pub fn event_sink(log: Arc<DeployLog>, cluster: String) -> EventSink {
    component_sink(log, cluster, Component::Deploy)
}

/// Passes events on only while this coordinator acts (leads): the monitor's "Replication:"
/// lines are written by one coordinator, as PaaSTA's check ran on one host.
fn leader_only(inner: EventSink, acting: watch::Receiver<Option<u64>>) -> EventSink {
    Arc::new(move |e: ApplyEvent| {
        if acting.borrow().is_some() {
            inner(e);
        }
    })
}

/// Events to the deploy log as `component`.
fn component_sink(log: Arc<DeployLog>, cluster: String, component: Component) -> EventSink {
    Arc::new(move |e: ApplyEvent| {
        let level = if e.level == "event" {
            Level::Event
        } else {
            Level::Debug
        };
        let event = DeployEvent::new(
            chrono::Utc::now(),
            level,
            component,
            &cluster,
            &e.service,
            &e.instance,
            &e.message,
        );
        if level == Level::Event {
            tracing::info!(service = %e.service, instance = %e.instance, "{}", e.message);
        }
        if let Err(err) = log.log(event) {
            tracing::warn!(error = %ErrorChain(&err), "deploy log write failed");
        }
    })
}
