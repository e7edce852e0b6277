//! `galley-demo` (`cargo run --release`): the embedded default. One process runs the emulated cluster
//! (Marathon + Mesos with three slaves, a Docker Engine emulator per slave, a real
//! `galley-agent` per slave), the example soa-configs of `deploy/examples/soa-configs` with real
//! git repositories in a work dir, and the real coordinator (reconciler, agent service, orphan
//! reaper, operator gRPC API with reflection). It prints the grpcurl commands to try, then
//! plays a few minutes of life in real time ([`script`]): a deploy tag is pushed and the
//! instance bounces, a service is stopped, an orphan container appears and is reported, and is
//! reaped once the reaper is switched to enforce.

mod cluster;
mod script;
pub mod tree;

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use galley_coordinator::agents::{AgentRegistry, ReaperPolicy, agent_service};
use galley_coordinator::apply::{ApplyBudget, ApplyEvent};
use galley_coordinator::atomic::Durability;
use galley_coordinator::deploy_log::{Component, DeployEvent, DeployLog, DeployLogConfig, Level};
use galley_coordinator::generate::GenerateOptions;
use galley_coordinator::grpc::{OperatorDeps, OperatorService, ReaperSlot};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{ReconcileSettings, Reconciler};
use galley_coordinator::server::{self, DeployLogAudit, Services};

pub use cluster::EmulatedCluster;
pub use script::DemoSummary;
pub use tree::{DemoTree, EXAMPLE_FILES, prepare};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Work dir for the soa-configs, repositories and Docker sockets.
    pub root: PathBuf,
    /// gRPC listen address (port 0: any).
    pub listen: String,
    /// Prometheus `/metrics` listen address, if any.
    pub metrics_listen: Option<String>,
    /// Stop after this long and print the summary (headless); `None`: until the shutdown future.
    pub run_for: Option<Duration>,
    /// Time between the script's steps.
    pub step: Duration,
}

/// A demo step failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Laying out files failed.
    #[error("demo: cannot write {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A git operation on the demo repositories failed.
    #[error("demo: git operation on {repo} failed")]
    Git {
        /// The repository.
        repo: PathBuf,
        /// Why.
        #[source]
        source: git2::Error,
    },
    /// The soa dir could not be listed.
    #[error(transparent)]
    Generate(#[from] galley_coordinator::soa_dir::SoaReadError),
    /// An emulator could not start.
    #[error("demo: emulator: {0}")]
    Emulator(String),
    /// The gRPC server could not start or failed.
    #[error("demo: gRPC server")]
    Server(#[from] server::ServerError),
}

/// Everything the script steers and watches.
pub(crate) struct Running {
    pub tree: DemoTree,
    pub cluster: EmulatedCluster,
    pub operator: OperatorService,
    pub reaper: Arc<ReaperSlot>,
    pub deploy_log: Arc<DeployLog>,
    pub reconciler: galley_coordinator::reconciler::ReconcilerHandle,
    pub generate: GenerateOptions,
    pub git: Arc<galley_coordinator::git::Git2Source>,
    /// web.main's app id before the push.
    pub first_web_app: std::sync::Mutex<String>,
}

/// Runs the demo until `shutdown` completes (or `run_for` elapses); returns what happened.
pub async fn run(
    opts: &DemoOptions,
    out: &mut (impl Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<DemoSummary, DemoError> {
    let tree = prepare(&opts.root)?;
    let git = Arc::new(galley_coordinator::git::Git2Source::new(
        Duration::from_secs(10),
    ));
    let generate = GenerateOptions {
        soa_dir: tree.soa_dir.clone(),
        services: vec![],
        jobs: 4,
        legacy_branches: false,
        durability: Durability::NoFsync,
    };
    galley_coordinator::generate::generate_all(&generate, git.clone()).await?;
    let cluster = EmulatedCluster::start(&opts.root).await?;
    let listener = server::bind(&opts.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|source| server::ServerError::Bind {
            addr: opts.listen.clone(),
            source,
        })?;

    let deploy_log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: None,
        recent_capacity: 1000,
        broadcast_capacity: 4096,
    }));
    let marathon = Arc::new(MarathonClient::new(MarathonConfig {
        url: cluster.sim.marathon_url(),
        credentials: None,
        timeout: Duration::from_secs(5),
    }));
    let mesos = Arc::new(MesosClient::new(
        &cluster.sim.mesos_url(),
        Duration::from_secs(5),
    ));
    let settings = ReconcileSettings {
        soa_dir: tree.soa_dir.clone(),
        system_config_dir: tree.system_config_dir.clone(),
        cluster: None,
        interval: Duration::from_secs(2),
        cleanup: CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        },
        budget: ApplyBudget {
            max_cleanup_deletes: 20,
            max_task_kills: 1000,
        },
        dry_run: false,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let reconciler = Reconciler::new(
        marathon.clone(),
        mesos.clone(),
        settings,
        event_sink(deploy_log.clone()),
    )
    .spawn(stop_rx);

    let registry = AgentRegistry::new(Duration::from_secs(5));
    let (_leader_tx, leader) = watch::channel(Some(1));
    let audit = Arc::new(DeployLogAudit {
        log: deploy_log.clone(),
        cluster: tree::CLUSTER.to_owned(),
    });
    let reaper_interval = (opts.step / 2).max(Duration::from_millis(500));
    let reaper = Arc::new(ReaperSlot::spawning(
        ReaperPolicy {
            min_age: Duration::from_secs(600),
            grace_seconds: 1,
            interval: reaper_interval,
            sighting_gap: reaper_interval / 2,
            order_timeout: Duration::from_secs(10),
            ..ReaperPolicy::defaults()
        },
        marathon,
        mesos,
        registry.clone(),
        leader.clone(),
        audit,
    ));
    let operator = OperatorService::new(OperatorDeps {
        cluster: tree::CLUSTER.to_owned(),
        reconciler: reconciler.clone(),
        deploy_log: deploy_log.clone(),
        leadership: watch::channel(galley_coordinator::election::Leadership::sole("demo", 1)).1,
        agents: Some(registry.clone()),
        reaper: Some(reaper.clone()),
    });
    let services = Services {
        operator: operator.clone(),
        agents: Some((agent_service(registry.clone(), leader, 1), registry)),
        deploy: None,
        // The demo runs on loopback in plaintext (as `serve --insecure`).
        tls: None,
        roles: Default::default(),
    };
    let (server_stop, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, services, async move {
        let _ = server_stop_rx.await;
    }));
    let metrics = match &opts.metrics_listen {
        Some(a) => Some(script::start_metrics(a, reconciler.status.clone()).await?),
        None => None,
    };
    let mut cluster = cluster;
    cluster.start_agents(&format!("http://{addr}"))?;

    let mut running = Running {
        tree,
        cluster,
        operator,
        reaper,
        deploy_log,
        reconciler,
        generate,
        git,
        first_web_app: std::sync::Mutex::default(),
    };
    let summary = script::play(&mut running, opts, addr, out, shutdown).await;

    let _ = stop_tx.send(true);
    let _ = server_stop.send(());
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), server).await {
        tracing::warn!(error = %galley_coordinator::error_chain::ErrorChain(&e), "demo gRPC server");
    }
    if let Some(m) = metrics {
        m.abort();
    }
    drop(running.reaper);
    running.cluster.shutdown().await;
    Ok(summary)
}

/// Reconciler events → the deploy log.
fn event_sink(log: Arc<DeployLog>) -> galley_coordinator::reconciler::EventSink {
    Arc::new(move |e: ApplyEvent| {
        let level = if e.level == "event" {
            Level::Event
        } else {
            Level::Debug
        };
        let event = DeployEvent::new(
            chrono::Utc::now(),
            level,
            Component::Deploy,
            tree::CLUSTER,
            &e.service,
            &e.instance,
            &e.message,
        );
        if let Err(err) = log.log(event) {
            tracing::warn!(error = %galley_coordinator::error_chain::ErrorChain(&err), "deploy log write failed");
        }
    })
}
