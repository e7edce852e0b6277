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

use galley_coordinator::atomic::Durability;
use galley_coordinator::config::{ConfigError, CoordinatorConfig};
use galley_coordinator::deploy_log::DeployLog;
use galley_coordinator::generate::GenerateOptions;
use galley_coordinator::grpc::{OperatorService, ReaperSlot};
use galley_coordinator::runtime::{Coordinator, StartError, StartOptions};
use galley_coordinator::server;

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
    /// The demo's coordinator config is unusable.
    #[error("demo: coordinator config")]
    Config(#[from] ConfigError),
    /// The coordinator could not start.
    #[error("demo: coordinator")]
    Start(#[from] StartError),
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
        stamps: false,
    };
    galley_coordinator::generate::generate_all(&generate, git.clone()).await?;
    let cluster = EmulatedCluster::start(&opts.root).await?;
    let sensu = sensu_sink(&tree.system_config_dir).await?;
    let config = coordinator_config(&tree, &cluster, opts)?;
    let coordinator = Coordinator::start(
        config,
        StartOptions {
            config_path: opts.root.join("coordinator.yaml"),
            // The demo runs on loopback in plaintext (as `serve --insecure`).
            insecure: true,
            force_cleanup: false,
        },
    )
    .await?;
    let addr = coordinator.grpc_addr();
    let mut cluster = cluster;
    cluster.start_agents(&format!("http://{addr}"))?;

    let mut running = Running {
        tree,
        cluster,
        operator: coordinator.operator().clone(),
        reaper: coordinator.reaper().clone(),
        deploy_log: coordinator.deploy_log().clone(),
        reconciler: coordinator.reconciler().clone(),
        generate,
        git,
        first_web_app: std::sync::Mutex::default(),
    };
    let summary = script::play(&mut running, opts, addr, out, shutdown).await;

    running.cluster.stop_agents().await;
    let report = coordinator.shutdown(Duration::from_secs(10)).await;
    if !report.aborted.is_empty() {
        tracing::warn!(aborted = ?report.aborted, "demo: coordinator tasks aborted at shutdown");
    }
    sensu.abort();
    running.cluster.shutdown().await;
    Ok(summary)
}

/// The coordinator config the demo runs: README's `serve` config on the emulated cluster, a
/// pass every 2 s, and an orphan reaper that waits 10 minutes and passes every half step.
fn coordinator_config(
    tree: &DemoTree,
    cluster: &EmulatedCluster,
    opts: &DemoOptions,
) -> Result<CoordinatorConfig, DemoError> {
    let reaper_interval = (opts.step / 2).max(Duration::from_millis(500));
    let metrics = opts
        .metrics_listen
        .as_ref()
        .map(|m| format!("metrics_listen: \"{m}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "cluster: {cluster}\nsoa_dir: {soa}\nsystem_config_dir: {sys}\n\
         marathon: {{url: \"{marathon}\", timeout_seconds: 5}}\n\
         mesos: {{url: \"{mesos}\", timeout_seconds: 5}}\n\
         reconcile: {{interval_seconds: 2}}\nlisten: \"{listen}\"\n{metrics}\
         git: {{poll_interval_seconds: 3600}}\n\
         reaper: {{min_age_seconds: 600, interval_seconds: {interval}, stop_grace_seconds: 1, \
         order_timeout_seconds: 10, agent_stale_after_seconds: 5}}\n",
        cluster = tree::CLUSTER,
        soa = tree.soa_dir.display(),
        sys = tree.system_config_dir.display(),
        marathon = cluster.sim.marathon_url(),
        mesos = cluster.sim.mesos_url(),
        listen = opts.listen,
        interval = reaper_interval.as_secs_f64(),
    );
    let path = tree.soa_dir.with_file_name("coordinator.yaml");
    std::fs::write(&path, &text).map_err(|source| DemoError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(CoordinatorConfig::from_yaml(&path, &text)?)
}

/// A Sensu client socket for the demo's monitor to send its events to (they are counted in
/// the coordinator's metrics, and dropped here); `sensu.json` names it.
async fn sensu_sink(
    system_config_dir: &std::path::Path,
) -> Result<tokio::task::JoinHandle<()>, DemoError> {
    let bind = |source| DemoError::Io {
        path: system_config_dir.join("sensu.json"),
        source,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(bind)?;
    let port = listener.local_addr().map_err(bind)?.port();
    std::fs::write(
        system_config_dir.join("sensu.json"),
        format!("{{\"sensu_host\": \"127.0.0.1\", \"sensu_port\": {port}}}\n"),
    )
    .map_err(bind)?;
    Ok(tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
            });
        }
    }))
}
