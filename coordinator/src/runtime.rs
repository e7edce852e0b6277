//! The composition root: [`Coordinator::start`] wires every part of a running coordinator
//! from one [`CoordinatorConfig`] — leader election, the reconciler, the monitor (Sensu,
//! metrics), git watching and tag writing, the agent service with the orphan reaper, and the
//! gRPC API — and [`Running::shutdown`] takes it down in order, as mini-redis's `server.rs`
//! does: one shutdown signal every task listens to, agent sessions ended cleanly, the gRPC
//! server drained, the election left (its ZooKeeper node deleted, so a successor leads at
//! once), and every task awaited. `serve` is this plus a signal handler.
//!
//! Architecture Invariant: every task this module starts ends when the shutdown signal fires
//! (or when a channel it reads closes because of it); none is detached.

mod trim;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::agents::AgentRegistry;
use crate::config::{ConfigError, CoordinatorConfig};
use crate::deploy_log::{DeployLog, DeployLogConfig};
use crate::election::Leadership;
use crate::error_chain::ErrorChain;
use crate::grpc::OperatorService;
use crate::reconciler::ReconcilerHandle;
use crate::server::ServerError;
use crate::tls::{ServerTls, TlsError};

pub(crate) use trim::trim as trim_heap;
pub use wiring::{clients, event_sink, settings};

/// How `serve` was asked to run beyond its config file.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The config file (named in errors).
    pub config_path: PathBuf,
    /// Let cleanup delete more than the kill threshold (explicit, logged).
    pub force_cleanup: bool,
    /// Serve plaintext gRPC without a `tls` section.
    pub insecure: bool,
}

/// Why a coordinator could not start (nothing it started is left running).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config (or a file it names) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS files are unusable.
    #[error("config file {path}: tls")]
    Tls {
        /// The config file.
        path: PathBuf,
        /// Why.
        #[source]
        source: TlsError,
    },
    /// No `tls` section and not `--insecure`.
    #[error(
        "config file {path}: no `tls` section (cert_file, key_file, client_ca_file): refusing to \
         serve plaintext; pass --insecure to do it anyway"
    )]
    Plaintext {
        /// The config file.
        path: PathBuf,
    },
    /// The system config dir cannot be read.
    #[error("system config: {0}")]
    SystemConfig(String),
    /// A listen address cannot be bound.
    #[error("cannot listen on {addr} for {what}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// The coordinator's parts, started.
pub struct Coordinator;

impl Coordinator {
    /// Starts everything `config` asks for; see the module docs.
    pub async fn start(
        config: CoordinatorConfig,
        opts: StartOptions,
    ) -> Result<Running, StartError> {
        let (shutdown_tx, shutdown) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let result = wiring::start(&config, &opts, &shutdown, &mut tasks).await;
        match result {
            Ok(parts) => Ok(Running {
                shutdown: shutdown_tx,
                tasks,
                parts,
            }),
            Err(e) => {
                // Nothing half-started outlives a failed start.
                let _ = shutdown_tx.send(true);
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                Err(e)
            }
        }
    }
}

/// What [`Coordinator::start`] built; [`Running::shutdown`] ends it.
pub struct Running {
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<&'static str>,
    parts: wiring::Parts,
}

/// How a shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Tasks that had not ended within the timeout and were aborted (empty: a clean stop).
    pub aborted: Vec<&'static str>,
}

impl Running {
    /// The gRPC address (operator API, agent service).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.parts.grpc_addr
    }

    /// The `/metrics` address, if served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.parts.metrics_addr
    }

    /// The reconciler's handle (status, trigger, operator switches).
    pub fn reconciler(&self) -> &ReconcilerHandle {
        &self.parts.reconciler
    }

    /// The operator API (for in-process callers such as the demo).
    pub fn operator(&self) -> &OperatorService {
        &self.parts.operator
    }

    /// The orphan reaper (mode switches, status).
    pub fn reaper(&self) -> &Arc<crate::grpc::ReaperSlot> {
        &self.parts.reaper
    }

    /// The agents' registry.
    pub fn agents(&self) -> &AgentRegistry {
        &self.parts.registry
    }

    /// The deploy log.
    pub fn deploy_log(&self) -> &Arc<DeployLog> {
        &self.parts.deploy_log
    }

    /// What this coordinator may do now.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.parts.leadership.clone()
    }

    /// Stops everything in order (see the module docs) and waits for every task, at most
    /// `timeout` (then the rest is aborted and named in the report).
    pub async fn shutdown(self, timeout: Duration) -> ShutdownReport {
        let Running {
            shutdown,
            mut tasks,
            parts,
        } = self;
        tracing::info!("shutting down");
        let _ = shutdown.send(true);
        // Agents see their stream end cleanly, then the server drains.
        parts.registry.disconnect_all();
        let _ = parts.grpc_stop.send(());
        parts.election.leave(Duration::from_secs(5)).await;
        drop(parts.reconciler);
        drop(parts.operator);
        parts.reaper.stop();
        drop(parts.reaper);
        let deadline = tokio::time::Instant::now() + timeout;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok(_name))) => {}
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %ErrorChain(&e), "a task ended abnormally")
                }
                Ok(None) | Err(_) => break,
            }
        }
        let aborted = pending_names(&mut tasks).await;
        if !aborted.is_empty() {
            tracing::warn!(?aborted, "tasks did not stop in time: aborted");
        }
        ShutdownReport { aborted }
    }
}

/// Aborts what is left of `tasks` and names it.
async fn pending_names(tasks: &mut JoinSet<&'static str>) -> Vec<&'static str> {
    let mut names = Vec::new();
    if tasks.is_empty() {
        return names;
    }
    tasks.abort_all();
    while let Some(r) = tasks.join_next().await {
        if let Ok(name) = r {
            names.push(name);
        } else {
            names.push("(aborted)");
        }
    }
    names
}

/// The deploy log `config` asks for.
fn deploy_log(config: &CoordinatorConfig) -> Arc<DeployLog> {
    Arc::new(DeployLog::new(DeployLogConfig {
        path_format: config.deploy_log.as_ref().map(|p| p.display().to_string()),
        recent_capacity: 1000,
        broadcast_capacity: 1024,
    }))
}

/// The mutual TLS of `config.tls` (reloading until shutdown), or `None` with `--insecure`;
/// plaintext without `--insecure` is refused.
fn server_tls(
    config: &CoordinatorConfig,
    opts: &StartOptions,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<&'static str>,
) -> Result<Option<ServerTls>, StartError> {
    match (&config.tls, opts.insecure) {
        (Some(t), _) => {
            let tls = ServerTls::load(t.files()).map_err(|source| StartError::Tls {
                path: opts.config_path.clone(),
                source,
            })?;
            let reloader = tls.clone();
            let every = Duration::from_secs_f64(t.reload_interval_seconds);
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = reloader.reload_every(every) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                "tls reloader"
            });
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
        (None, false) => Err(StartError::Plaintext {
            path: opts.config_path.clone(),
        }),
    }
}

/// A future that completes when `shutdown` turns true (or its sender is dropped).
fn signalled(
    shutdown: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut s = shutdown.clone();
    async move {
        let _ = s.wait_for(|v| *v).await;
    }
}

/// A one-shot stop switch and the future it completes.
fn stop_switch() -> (
    oneshot::Sender<()>,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}
