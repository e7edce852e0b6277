//! `serve --config FILE`: the long-running coordinator.

use galley_coordinator::gitwatch::grpc::DeployApi;
use galley_proto::v1::deploy_service_server::DeployServiceServer;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use galley_coordinator::apply::{ApplyBudget, ApplyEvent};
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::deploy_log::{Component, DeployEvent, DeployLog, DeployLogConfig, Level};
use galley_coordinator::election::{
    Election, LeaderElection, Leadership, SoleLeader, ZkElection, ZkSettings, acting_term,
    destructive_term, spawn_gate,
};
use galley_coordinator::haproxy::{HaproxyClient, HaproxySettings};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::metrics::{Metrics, serve_metrics};
use galley_coordinator::monitor::{Monitor, SmartstackSources};
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{ReconcileSettings, Reconciler};
use galley_coordinator::sensu::{LeaderOnly, QueuedSink, SensuClient};
use galley_coordinator::system_dir::read_system_config;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator config file.
    #[arg(long, default_value = "/etc/galley/coordinator.yaml")]
    config: PathBuf,
    /// Let cleanup delete more than the kill threshold (an explicit, logged override).
    #[arg(long)]
    force_cleanup: bool,
    /// Serve gRPC in plaintext without a `tls` section (every caller is an operator). For a
    /// laptop or a test; never on a cluster.
    #[arg(long)]
    insecure: bool,
}

/// Builds the Marathon and Mesos clients of `config`.
pub fn clients(config: &CoordinatorConfig) -> anyhow::Result<(MarathonClient, MesosClient)> {
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

/// The TLS of `config.tls` (started reloading), or `None` with `--insecure`; plaintext
/// without `--insecure` is refused.
fn server_tls(
    config: &CoordinatorConfig,
    args: &Args,
) -> anyhow::Result<Option<galley_coordinator::tls::ServerTls>> {
    match (&config.tls, args.insecure) {
        (Some(t), _) => {
            let tls = galley_coordinator::tls::ServerTls::load(t.files())?;
            let _reloader = tls.spawn_reloader(Duration::from_secs_f64(t.reload_interval_seconds));
            tracing::info!(cert = %t.cert_file.display(), roles = config.roles.len(), "gRPC over mutual TLS");
            Ok(Some(tls))
        }
        (None, true) => {
            tracing::warn!(
                "INSECURE: --insecure and no `tls` section: gRPC is plaintext and every caller \
                 is an operator; anyone who reaches the port can steer this coordinator"
            );
            Ok(None)
        }
        (None, false) => anyhow::bail!(
            "config file {}: no `tls` section (cert_file, key_file, client_ca_file): refusing to \
             serve plaintext; pass --insecure to do it anyway",
            args.config.display()
        ),
    }
}

/// Runs until SIGINT/SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = CoordinatorConfig::from_file(&args.config)?;
    let tls = server_tls(&config, &args)?;
    let mut settings = settings(&config);
    if args.force_cleanup {
        tracing::warn!("--force-cleanup: cleanup may delete more than the kill threshold of apps");
        settings.cleanup.force = true;
    }
    let cluster = match &config.cluster {
        Some(c) => c.clone(),
        None => read_system_config(&config.system_config_dir)
            .map_err(anyhow::Error::msg)?
            .cluster
            .unwrap_or_default(),
    };
    let deploy_log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: config.deploy_log.as_ref().map(|p| p.display().to_string()),
        recent_capacity: 1000,
        broadcast_capacity: 1024,
    }));
    let events = event_sink(deploy_log.clone(), cluster.clone());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (election, leadership) = start_election(&config, &cluster, shutdown_rx.clone());
    let shared = Shared::new(&config, &leadership)?;
    let handle = Reconciler::new(
        shared.marathon.clone(),
        shared.mesos.clone(),
        settings,
        events.clone(),
    )
    .with_leadership(leadership.clone())
    .spawn(shutdown_rx.clone());
    if let Some(e) = &config.election {
        let zk = zk_settings(e, &cluster, "switches".into());
        let path = galley_coordinator::election::switches_path(&zk.path);
        galley_coordinator::election::spawn_switch_sync(
            ZkSettings {
                path: path.clone(),
                ..zk
            },
            path,
            handle.control.clone(),
            shared.acting.clone(),
            shutdown_rx.clone(),
        );
    }
    export_leadership(shared.metrics.clone(), leadership.clone());
    // The monitor's lines ("Replication: ...") are PaaSTA's `monitoring` component, and only
    // the acting coordinator writes them (as PaaSTA's check ran on one host).
    let monitor_events = leader_only(
        component_sink(deploy_log.clone(), cluster.clone(), Component::Monitoring),
        shared.acting.clone(),
    );
    let _replication = start_monitoring(
        &config,
        &cluster,
        &handle,
        &shared,
        monitor_events,
        shutdown_rx,
    )
    .await?;
    let deploy = start_git_watch(
        &config,
        &handle,
        &shared.metrics,
        &deploy_log,
        shutdown_tx.subscribe(),
    )
    .await?;
    let (grpc_stop, grpc) = start_grpc(
        &config,
        &cluster,
        &handle,
        deploy_log,
        Some(deploy),
        &shared,
        Security { leadership, tls },
    )
    .await?;
    tracing::info!(config = %args.config.display(), "galley-coordinator serving");
    wait_for_signal().await;
    let _ = shutdown_tx.send(true);
    let _ = grpc_stop.send(());
    election.leave(Duration::from_secs(5)).await;
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(10), grpc).await {
        tracing::warn!(error = %galley_coordinator::error_chain::ErrorChain(&e), "gRPC server");
    }
    drop(handle);
    Ok(ExitCode::SUCCESS)
}

/// Keeps the `leader_term` and `destructive_allowed` gauges equal to the leadership gate.
fn export_leadership(
    metrics: Arc<Metrics>,
    mut leadership: tokio::sync::watch::Receiver<Leadership>,
) {
    tokio::spawn(async move {
        loop {
            let l = leadership.borrow_and_update().clone();
            metrics
                .leader_term
                .set(l.acting.and_then(|t| i64::try_from(t).ok()).unwrap_or(0));
            metrics
                .destructive_allowed
                .set(i64::from(l.destructive.is_some()));
            if leadership.changed().await.is_err() {
                return;
            }
        }
    });
}

/// What the long-running parts of `serve` share: one Marathon and one Mesos client (one
/// connection pool each), the metrics, and the acting leader term.
pub struct Shared {
    /// Marathon.
    pub marathon: Arc<MarathonClient>,
    /// The Mesos master.
    pub mesos: Arc<MesosClient>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The acting leader term (`None`: not leading).
    pub acting: tokio::sync::watch::Receiver<Option<u64>>,
}

impl Shared {
    /// The clients of `config`, fresh metrics, and `leadership`'s acting term.
    pub fn new(
        config: &CoordinatorConfig,
        leadership: &tokio::sync::watch::Receiver<Leadership>,
    ) -> anyhow::Result<Self> {
        let (marathon, mesos) = clients(config)?;
        Ok(Self {
            marathon: Arc::new(marathon),
            mesos: Arc::new(mesos),
            metrics: Arc::new(Metrics::new()),
            acting: acting_term(leadership),
        })
    }
}

/// Starts the post-pass monitor (replication, Sensu, metrics) and the `/metrics` endpoint.
pub async fn start_monitoring(
    config: &CoordinatorConfig,
    cluster: &str,
    handle: &galley_coordinator::reconciler::ReconcilerHandle,
    shared: &Shared,
    events: galley_coordinator::reconciler::EventSink,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::sync::watch::Receiver<galley_coordinator::monitor::ReplicationView>> {
    let system = read_system_config(&config.system_config_dir).map_err(anyhow::Error::msg)?;
    let host = system
        .raw
        .get("sensu_host")
        .and_then(|v| v.as_str())
        .unwrap_or("localhost")
        .to_string();
    let port = system
        .raw
        .get("sensu_port")
        .and_then(|v| v.as_u64())
        .unwrap_or(3030) as u16;
    let sink = LeaderOnly {
        inner: QueuedSink::spawn(SensuClient::new(host, port, Duration::from_secs(2)), 1024),
        acting: shared.acting.clone(),
    };
    // The monitor reads the launch queue for evidence, and slaves and haproxy for the
    // smartstack path.
    let haproxy = HaproxyClient::new(HaproxySettings::from_system_config(&system.raw));
    let metrics = shared.metrics.clone();
    let monitor = Monitor::new(cluster.to_string(), sink, metrics.clone(), events)
        .with_launch_queue(shared.marathon.clone())
        .with_smartstack(SmartstackSources {
            slaves: shared.mesos.clone(),
            haproxy,
        });
    let view = galley_coordinator::monitor::spawn(
        monitor,
        handle.status.clone(),
        Arc::new(chrono::Utc::now),
    );
    if let Some(addr) = &config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "metrics on /metrics");
        let mut shutdown = shutdown;
        tokio::spawn(serve_metrics(listener, metrics, async move {
            let _ = shutdown.changed().await;
        }));
    }
    Ok(view)
}

/// Joins the ZooKeeper election of `config.election` (or leads alone without one) and returns
/// the election (hold it until shutdown, then leave it) and the leadership gate every
/// component reads.
pub fn start_election(
    config: &CoordinatorConfig,
    cluster: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> (Election, tokio::sync::watch::Receiver<Leadership>) {
    let port = config.listen.rsplit(':').next().unwrap_or("50051");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let Some(e) = &config.election else {
        tracing::warn!("no `election` configured: this coordinator is the only one and leads");
        let election = Election::Sole(SoleLeader::new());
        let gate = spawn_gate(
            election.states(),
            format!("{hostname}:{port}"),
            Duration::ZERO,
        );
        return (election, gate);
    };
    let id = e.id.clone().unwrap_or_else(|| format!("{hostname}:{port}"));
    let settings = zk_settings(e, cluster, id.clone());
    tracing::info!(zookeeper = %settings.hosts, path = %settings.path, id = %id, "joining leader election");
    let zk = ZkElection::spawn(settings, shutdown);
    let gate = spawn_gate(
        zk.states(),
        id,
        Duration::from_secs_f64(e.grace_period_seconds),
    );
    (Election::Zk(zk), gate)
}

/// The ZooKeeper settings of `election` (`id`: what this client announces).
fn zk_settings(
    e: &galley_coordinator::config::ElectionSection,
    cluster: &str,
    id: String,
) -> ZkSettings {
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

/// Sends reconciler events to the deploy log (component `deploy`, as PaaSTA's bounce lines).
pub fn event_sink(
    log: Arc<DeployLog>,
    cluster: String,
) -> galley_coordinator::reconciler::EventSink {
    component_sink(log, cluster, Component::Deploy)
}

/// Passes events on only while this coordinator acts (leads).
fn leader_only(
    inner: galley_coordinator::reconciler::EventSink,
    acting: tokio::sync::watch::Receiver<Option<u64>>,
) -> galley_coordinator::reconciler::EventSink {
    Arc::new(move |e: ApplyEvent| {
        if acting.borrow().is_some() {
            inner(e);
        }
    })
}

/// Sends events to the deploy log as `component`.
fn component_sink(
    log: Arc<DeployLog>,
    cluster: String,
    component: Component,
) -> galley_coordinator::reconciler::EventSink {
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
            tracing::warn!(error = %galley_coordinator::error_chain::ErrorChain(&err), "deploy log write failed");
        }
    })
}

pub use galley_coordinator::signal::wait_for_signal;

/// Copies agent and reaper state into Prometheus every 5 s: agents connected/stale, and the
/// reaper's order and result counters.
fn export_agent_metrics(
    metrics: Arc<Metrics>,
    registry: galley_coordinator::agents::AgentRegistry,
    reaper: Arc<galley_coordinator::grpc::ReaperSlot>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    tokio::spawn(async move {
        let mut last = [0u64; 4];
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
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
                let delta = now[i].saturating_sub(last[i]);
                metrics
                    .reaps
                    .get_or_create(&galley_coordinator::metrics::OpLabels { op })
                    .inc_by(delta);
            }
            last = now;
        }
    });
}

/// Starts the git poller (and webhook, if configured) and builds the DeployService: pushed
/// tags regenerate deployments.json and trigger a pass at once.
pub async fn start_git_watch(
    config: &CoordinatorConfig,
    handle: &galley_coordinator::reconciler::ReconcilerHandle,
    metrics: &Arc<Metrics>,
    deploy_log: &Arc<DeployLog>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<DeployServiceServer<DeployApi>> {
    use galley_coordinator::gitwatch::{self, GitWatchSettings, TagWriter, spawn_git_watch};
    let git_cfg = config.git.clone().unwrap_or_default();
    let reconciler = handle.clone();
    let watch = spawn_git_watch(
        GitWatchSettings::from_config(config),
        Arc::new(galley_coordinator::git::Git2Source::new(
            Duration::from_secs_f64(git_cfg.timeout_seconds),
        )),
        Arc::new(move || reconciler.trigger()),
        Some(metrics.clone()),
        gitwatch::webhook_from_config(config).await?,
        shutdown,
    );
    let writer = Arc::new(TagWriter::new(
        gitwatch::tag_writer_settings(config)?,
        Some(deploy_log.clone()),
        Some(metrics.clone()),
    ));
    Ok(gitwatch::deploy_service(writer, Some(watch)))
}

/// Who may act and who may call: the leadership gate and the server's TLS.
pub struct Security {
    /// The leadership gate.
    pub leadership: tokio::sync::watch::Receiver<Leadership>,
    /// Mutual TLS (`None`: `--insecure`).
    pub tls: Option<galley_coordinator::tls::ServerTls>,
}

/// Starts the gRPC server: operator API, agent service (with the orphan reaper), deploy service.
pub async fn start_grpc(
    config: &CoordinatorConfig,
    cluster: &str,
    handle: &galley_coordinator::reconciler::ReconcilerHandle,
    deploy_log: Arc<DeployLog>,
    deploy: Option<DeployServiceServer<DeployApi>>,
    shared: &Shared,
    security: Security,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), galley_coordinator::server::ServerError>>,
)> {
    use galley_coordinator::agents::{AgentRegistry, agent_service_audited};
    use galley_coordinator::grpc::{OperatorDeps, OperatorService, ReaperSlot};
    use galley_coordinator::server::{self, DeployLogAudit, Services};
    let Security { leadership, tls } = security;

    let listener = server::bind(&config.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "gRPC API (reflection, health) listening");
    // Orders need the destructive term (leading, grace over); acks carry the acting term.
    let (leader, acting) = (destructive_term(&leadership), shared.acting.clone());
    let registry = AgentRegistry::new(config.reaper.agent_stale_after());
    let audit = Arc::new(DeployLogAudit {
        log: deploy_log.clone(),
        cluster: cluster.to_owned(),
    });
    let policy = config.reaper.policy();
    tracing::info!(
        mode = ?policy.mode,
        min_age_seconds = policy.min_age.as_secs_f64(),
        interval_seconds = policy.interval.as_secs_f64(),
        sightings = policy.sightings,
        "orphan reaper"
    );
    let reaper = Arc::new(ReaperSlot::spawning(
        policy,
        shared.marathon.clone(),
        shared.mesos.clone(),
        registry.clone(),
        leader,
        audit,
    ));
    export_agent_metrics(shared.metrics.clone(), registry.clone(), reaper.clone());
    let operator = OperatorService::new(OperatorDeps {
        cluster: cluster.to_owned(),
        reconciler: handle.clone(),
        deploy_log,
        leadership,
        agents: Some(registry.clone()),
        reaper: Some(reaper),
    });
    let audit_to = operator.clone();
    let services = Services {
        operator,
        agents: Some((
            agent_service_audited(
                registry.clone(),
                acting,
                10,
                Some(Arc::new(move |m: &str| audit_to.audit(None, None, m))),
            ),
            registry,
        )),
        deploy,
        tls,
        roles: config.roles.clone(),
    };
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, services, async move {
        let _ = stop_rx.await;
    }));
    Ok((stop, task))
}
