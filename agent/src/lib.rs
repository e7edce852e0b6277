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

pub mod config;
pub mod convert;
pub mod docker;
pub mod error_chain;
pub mod inventory;
pub mod reaper;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::docker::{BollardDocker, DockerApi, DockerError};
use crate::inventory::InventoryTask;
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
}

impl AgentHandle {
    /// Ends every task of the agent (as a process exit would).
    pub fn stop(self) {}
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the inventory and session tasks over `docker`.
pub fn spawn<D: DockerApi>(docker: Arc<D>, settings: AgentSettings) -> AgentHandle {
    let (inventory, ready, inv_task) = InventoryTask::spawn(docker.clone(), settings.relist_every);
    let reaper = Reaper::new(docker, settings.limits);
    let sessions = tokio::spawn(run_sessions(settings.session, inventory, ready, reaper));
    AgentHandle {
        tasks: vec![inv_task, sessions],
    }
}

/// Runs the agent of `cfg` until `shutdown` completes.
pub async fn run(cfg: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), DockerError> {
    let docker = Arc::new(BollardDocker::connect(
        &cfg.docker_socket,
        cfg.docker_timeout_secs,
    )?);
    let settings = AgentSettings::from_config(&cfg);
    tracing::info!(
        hostname = %settings.session.hello.hostname,
        coordinators = ?settings.session.coordinator_urls,
        docker = %cfg.docker_socket,
        "galley-agent starting"
    );
    let agent = spawn(docker, settings);
    shutdown.await;
    agent.stop();
    tracing::info!("galley-agent stopped");
    Ok(())
}
