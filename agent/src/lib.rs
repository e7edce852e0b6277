//! `galley-agent`: runs on every Mesos slave, reports the local Docker inventory to the
//! coordinator and reaps orphaned containers when (and only when) the coordinator orders it
//! and every local check still holds.
//!
//! Tasks and channels (all in one process, one current-thread runtime in the binary):
//! - [`inventory::InventoryTask`]: list + inspect-new + `/events`, re-list on a timer and after
//!   stream errors → `watch<Snapshot>`.
//! - [`session::run_sessions`]: the gRPC stream to the coordinator (reconnecting), diffing
//!   snapshots into deltas; orders go through a bounded queue to
//! - the order executor ([`reaper::Reaper`]), whose results return on a bounded channel.
//! - optionally, [`metrics::serve`]: `/metrics` and `/healthz` on `metrics_listen`; Docker
//!   calls go through [`metrics::MeteredDocker`] and the session reports into the same
//!   [`metrics::AgentMetrics`].

pub mod config;
pub mod convert;
pub mod docker;
pub mod error_chain;
pub mod inventory;
pub mod metrics;
pub mod reaper;
pub mod recheck;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::docker::{BollardDocker, DockerApi, DockerError};
use crate::inventory::InventoryTask;
use crate::metrics::{AgentMetrics, MeteredDocker};
use crate::reaper::{Reaper, ReaperLimits};
use crate::session::{SessionSettings, run_sessions};

/// Everything a running agent needs besides Docker.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Coordinator connection and hello.
    pub session: SessionSettings,
    /// Full re-list period.
    pub relist_every: Duration,
    /// Local reap limits.
    pub limits: ReaperLimits,
}

impl AgentSettings {
    /// Settings from a config file's contents.
    pub fn from_config(cfg: &AgentConfig) -> Self {
        let hostname = cfg.effective_hostname();
        Self {
            session: SessionSettings {
                coordinator_urls: cfg.coordinators(),
                tls: cfg.tls.clone(),
                hello: session::hello(&hostname, cfg.mesos_slave_id.as_deref()),
                heartbeat: cfg.heartbeat_interval(),
                backoff_min: Duration::from_millis(cfg.reconnect_min_ms),
                backoff_max: Duration::from_millis(cfg.reconnect_max_ms),
            },
            relist_every: Duration::from_secs(cfg.relist_interval_secs),
            limits: ReaperLimits {
                min_age: Duration::from_secs(cfg.min_age_secs),
                max_per_minute: cfg.max_reaps_per_minute,
            },
        }
    }
}

/// A running agent; dropping it (or [`AgentHandle::stop`]) ends its tasks.
pub struct AgentHandle {
    tasks: Vec<JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl AgentHandle {
    /// Ends every task of the agent at once (as a process exit would).
    pub fn stop(self) {}

    /// Ends the agent cleanly: each coordinator session is half-closed (the coordinator sees
    /// the stream end, not an error), the order being executed finishes, then every task
    /// ends. Waits at most `timeout`, then aborts what is left; returns whether it was clean.
    pub async fn shutdown(mut self, timeout: std::time::Duration) -> bool {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut clean = true;
        for task in &mut self.tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                clean = false;
            }
        }
        clean
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the inventory and session tasks over `docker` (metrics are kept but not served).
pub fn spawn<D: DockerApi>(docker: Arc<D>, settings: AgentSettings) -> AgentHandle {
    spawn_with_metrics(docker, settings, Arc::new(AgentMetrics::new()))
}

/// Starts the inventory and session tasks over `docker`, recording into `metrics`.
pub fn spawn_with_metrics<D: DockerApi>(
    docker: Arc<D>,
    settings: AgentSettings,
    metrics: Arc<AgentMetrics>,
) -> AgentHandle {
    let docker = Arc::new(MeteredDocker::new(docker, metrics.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (inventory, ready, inv_task) =
        InventoryTask::spawn(docker.clone(), settings.relist_every, stopped.clone());
    let counter = tokio::spawn(count_containers(inventory.clone(), metrics.clone()));
    let reaper = Reaper::new(docker, settings.limits);
    // Sessions first: they half-close their streams before the inventory goes away.
    let sessions = tokio::spawn(run_sessions(
        settings.session,
        inventory,
        ready,
        reaper,
        metrics,
        stopped,
    ));
    AgentHandle {
        tasks: vec![sessions, inv_task, counter],
        stop,
    }
}

/// Keeps the container gauge equal to the inventory's size.
async fn count_containers(
    mut inventory: tokio::sync::watch::Receiver<inventory::Snapshot>,
    metrics: Arc<AgentMetrics>,
) {
    loop {
        let n = inventory.borrow_and_update().len();
        metrics.containers.set(i64::try_from(n).unwrap_or(i64::MAX));
        if inventory.changed().await.is_err() {
            return;
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The Docker socket could not be set up.
    #[error(transparent)]
    Docker(DockerError),
    /// `metrics_listen` could not be bound.
    #[error("metrics_listen {addr}: cannot listen")]
    MetricsListen {
        /// The configured address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the agent of `cfg` until `shutdown` completes.
pub async fn run(cfg: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let docker = Arc::new(
        BollardDocker::connect(&cfg.docker_socket, cfg.docker_timeout_secs)
            .map_err(AgentError::Docker)?,
    );
    let settings = AgentSettings::from_config(&cfg);
    let metrics = Arc::new(AgentMetrics::new());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(addr) = &cfg.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr.as_str())
            .await
            .map_err(|source| AgentError::MetricsListen {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        let stopped = async {
            let _ = http_stopped.await;
        };
        let served = metrics.clone();
        tokio::spawn(async move {
            if let Err(err) = crate::metrics::serve(listener, served, stopped).await {
                tracing::warn!(error = %err, "metrics server ended");
            }
        });
    }
    tracing::info!(
        hostname = %settings.session.hello.hostname,
        coordinators = ?settings.session.coordinator_urls,
        docker = %cfg.docker_socket,
        "galley-agent starting"
    );
    let agent = spawn_with_metrics(docker, settings, metrics);
    shutdown.await;
    if !agent.shutdown(std::time::Duration::from_secs(10)).await {
        tracing::warn!("galley-agent: some tasks did not stop in time");
    }
    let _ = stop_http.send(());
    tracing::info!("galley-agent stopped");
    Ok(())
}
