//! Continuous desired state from git, and the write side of PaaSTA's CLI.
//!
//! Tasks spawned by [`spawn_git_watch`]:
//! - the **poller**: every `poll_interval` (default 10 s) checks every service (`jobs` at a
//!   time, each listing under the per-repository timeout) through [`watcher::Watcher`], which
//!   uses generate-deployments' own per-service code and skips services whose config files and
//!   refs did not change;
//! - the **webhook** server (optional): an HMAC-authenticated `POST` that re-checks one
//!   repository's services at once ([`webhook`]).
//!
//! A rewritten deployments.json calls the [`ReconcileTrigger`] (the reconciler's `trigger()`).
//! An unreachable repository keeps its last deployments.json, is counted in
//! `galley_git_repos_unreachable` and alerts after `unreachable_alert_after`.
//!
//! Writing tags: [`tags::TagWriter`] (shared by the [`grpc`] `DeployService` and the
//! `mark-for-deployment`/`start`/`stop`/`restart` subcommands).

pub mod grpc;
pub mod push;
pub mod tags;
pub mod watcher;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::atomic::Durability;
use crate::config::{ConfigError, CoordinatorConfig, GitSection};
use crate::error_chain::ErrorChain;
use crate::generate::GenerateOptions;
use crate::git::GitSource;
use crate::metrics::{Metrics, OutcomeLabels};
pub use grpc::deploy_service;
pub use push::PushCredentials;
pub use tags::{TagError, TagRequest, TagWriter, TagWriterSettings, TagWritten};
pub use watcher::{CheckOutcome, RoundReport, UnreachableRepo, Watcher};

/// Asks the reconciler for an immediate pass (`move || handle.trigger()`).
pub type ReconcileTrigger = Arc<dyn Fn() + Send + Sync>;

/// Poller settings.
#[derive(Debug, Clone)]
pub struct GitWatchSettings {
    /// The generation options (soa dir, jobs, legacy branches, durability); `services` unused.
    pub generate: GenerateOptions,
    /// Between the starts of two poll rounds.
    pub poll_interval: Duration,
    /// Unreachable this long → alert.
    pub unreachable_alert_after: Duration,
}

/// The webhook's listener and shared secret.
pub struct WebhookSettings {
    /// Bound by the caller (port 0 in tests).
    pub listener: TcpListener,
    /// The HMAC secret.
    pub secret: Vec<u8>,
}

impl GitWatchSettings {
    /// The settings of `config`'s `git:` section (defaults when absent).
    pub fn from_config(config: &CoordinatorConfig) -> Self {
        let g = config.git.clone().unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            generate: GenerateOptions {
                soa_dir: config.soa_dir.clone(),
                services: vec![],
                jobs: g.jobs.unwrap_or(cores * 4),
                legacy_branches: false,
                durability: Durability::NoFsync,
                stamps: false,
            },
            poll_interval: Duration::from_secs_f64(g.poll_interval_seconds),
            unreachable_alert_after: Duration::from_secs_f64(g.unreachable_alert_after_seconds),
        }
    }
}

/// Binds the webhook listener of `config` and reads its secret; `None` without `webhook_listen`.
pub async fn webhook_from_config(
    config: &CoordinatorConfig,
) -> Result<Option<WebhookSettings>, ConfigError> {
    let g = config.git.clone().unwrap_or_default();
    let (Some(listen), Some(secret_file)) = (g.webhook_listen, g.webhook_secret_file) else {
        return Ok(None);
    };
    let secret = std::fs::read_to_string(&secret_file).map_err(|source| ConfigError::Io {
        path: secret_file.clone(),
        source,
    })?;
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|source| ConfigError::Io {
            path: PathBuf::from(format!("git.webhook_listen {listen}")),
            source,
        })?;
    Ok(Some(WebhookSettings {
        listener,
        secret: secret.trim().as_bytes().to_vec(),
    }))
}

/// The tag writer settings of `config` (credentials files are read here).
pub fn tag_writer_settings(config: &CoordinatorConfig) -> Result<TagWriterSettings, ConfigError> {
    let g: GitSection = config.git.clone().unwrap_or_default();
    let user_pass = match &g.credentials_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            let (u, p) = text
                .trim()
                .split_once(':')
                .ok_or_else(|| ConfigError::Invalid {
                    path: path.clone(),
                    message: "expected `user:password`".into(),
                })?;
            Some((u.to_string(), p.to_string()))
        }
    };
    Ok(TagWriterSettings {
        soa_dir: config.soa_dir.clone(),
        timeout: Duration::from_secs_f64(g.timeout_seconds),
        credentials: PushCredentials {
            ssh_key: g.ssh_key,
            ssh_user: g.ssh_user,
            user_pass,
        },
        mirror_dir: g
            .mirror_dir
            .unwrap_or_else(|| std::env::temp_dir().join("galley-git")),
    })
}

/// What the webhook and the deploy service need of a running watch (type-erased).
trait WatchOps: Send + Sync {
    fn refresh(&self, service: &str);
    fn services_for_url(&self, url: &str) -> Vec<String>;
    fn knows_service(&self, service: &str) -> bool;
    fn unreachable(&self) -> Vec<UnreachableRepo>;
    fn metrics(&self) -> Option<&Metrics>;
}

impl<G: GitSource> WatchOps for Arc<Watcher<G>> {
    fn refresh(&self, service: &str) {
        let (me, service) = (self.clone(), service.to_string());
        tokio::spawn(async move { me.check_service(&service).await });
    }
    fn services_for_url(&self, url: &str) -> Vec<String> {
        Watcher::services_for_url(self, url)
    }
    fn knows_service(&self, service: &str) -> bool {
        self.settings().generate.soa_dir.join(service).is_dir()
    }
    fn unreachable(&self) -> Vec<UnreachableRepo> {
        Watcher::unreachable(self)
    }
    fn metrics(&self) -> Option<&Metrics> {
        self.metrics_ref()
    }
}

/// Handle to the running poller (and webhook server).
#[derive(Clone)]
pub struct GitWatchHandle {
    ops: Arc<dyn WatchOps>,
    /// The latest finished poll round.
    pub rounds: watch::Receiver<Option<RoundReport>>,
    /// Where the webhook listens, if it does.
    pub webhook_addr: Option<SocketAddr>,
}

impl GitWatchHandle {
    /// Re-checks `service` now (in the background).
    pub fn refresh(&self, service: &str) {
        self.ops.refresh(service);
    }
    /// Services whose `git_url` is `url` (compared normalized).
    pub fn services_for_url(&self, url: &str) -> Vec<String> {
        self.ops.services_for_url(url)
    }
    /// Whether `service` is a service directory the watch knows.
    pub fn knows_service(&self, service: &str) -> bool {
        galley_common::names::check("service", service).is_ok() && self.ops.knows_service(service)
    }
    /// Repositories whose last listing failed.
    pub fn unreachable(&self) -> Vec<UnreachableRepo> {
        self.ops.unreachable()
    }
    fn count_webhook(&self, labels: OutcomeLabels) {
        if let Some(m) = self.ops.metrics() {
            m.webhook_requests.get_or_create(&labels).inc();
        }
    }
}

/// Spawns the poller (first round at once) and, with `webhook`, the webhook server; both stop
/// when `shutdown` turns `true` (or its sender drops).
pub fn spawn_git_watch<G: GitSource>(
    settings: GitWatchSettings,
    git: Arc<G>,
    trigger: ReconcileTrigger,
    metrics: Option<Arc<Metrics>>,
    webhook: Option<WebhookSettings>,
    shutdown: watch::Receiver<bool>,
) -> GitWatchHandle {
    let interval = settings.poll_interval;
    let watcher = Arc::new(Watcher::new(settings, git, trigger, metrics));
    let (rounds_tx, rounds_rx) = watch::channel(None);
    let webhook_addr = webhook.as_ref().and_then(|w| w.listener.local_addr().ok());
    let handle = GitWatchHandle {
        ops: Arc::new(watcher.clone()),
        rounds: rounds_rx,
        webhook_addr,
    };
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // Both arms are cancel-safe; nothing is awaited inside an arm.
            tokio::select! {
                _ = ticks.tick() => {},
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            match watcher.poll_round().await {
                Ok(report) => {
                    tracing::debug!(?report, "git watch: poll round done");
                    rounds_tx.send_replace(Some(report));
                }
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "git watch: cannot list the soa dir")
                }
            }
        }
    });
    if let Some(WebhookSettings { listener, secret }) = webhook {
        let app = webhook::router(secret, handle.clone());
        let mut stop = shutdown;
        tokio::spawn(async move {
            let done = async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            let limits = crate::http_server::HttpLimits::default();
            if let Err(e) = crate::http_server::serve(listener, app, limits, done).await {
                tracing::error!(error = %ErrorChain(&e), "git webhook server failed");
            }
        });
    }
    handle
}
