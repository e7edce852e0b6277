//! The per-service check behind both the poller and the webhook: re-read the service's config
//! only if its files changed, list the repository's refs, and regenerate deployments.json only
//! if the refs changed — then ask the reconciler for a pass at once if the file was rewritten.
//!
//! Checks of one service are serialized (a webhook arriving during a poll waits, then lists
//! again, so it always sees the push that caused it). A repository that cannot be listed keeps
//! its last deployments.json and is tracked as unreachable until a listing succeeds.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::atomic::WriteOutcome;
use crate::error_chain::ErrorChain;
use crate::generate::{
    ServiceError, ServicePlan, list_service_refs, read_service_plan, write_service_deployments,
};
use crate::git::GitSource;
use crate::soa_dir::{self, SoaReadError};

use super::webhook::normalize_url;
use super::{GitWatchSettings, ReconcileTrigger};

/// How one check of one service ended.
#[derive(Debug)]
pub enum CheckOutcome {
    /// Refs and config as last time: nothing generated.
    Unchanged,
    /// Regenerated; `Written` when deployments.json changed (a reconcile was triggered).
    Generated(WriteOutcome),
    /// The repository could not be listed; the old deployments.json stays.
    Unreachable(ServiceError),
    /// Config unreadable or the file could not be written; the old deployments.json stays.
    Failed(ServiceError),
    /// The service directory is gone.
    Gone,
}

/// Totals of one poll round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Services checked.
    pub services: usize,
    /// Services whose deployments.json was rewritten.
    pub written: usize,
    /// Services regenerated whose file did not change.
    pub regenerated_unchanged: usize,
    /// Services skipped because nothing changed.
    pub unchanged: usize,
    /// Services whose repository could not be listed.
    pub unreachable: usize,
    /// Services that failed otherwise.
    pub failed: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// A repository whose last listing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreachableRepo {
    /// The service.
    pub service: String,
    /// How long it has been failing.
    pub for_duration: Duration,
    /// Whether it is past the alert threshold.
    pub alerting: bool,
    /// The last error, with its chain.
    pub error: String,
}

#[derive(Debug, Default)]
struct ServiceState {
    config_fingerprint: Option<u64>,
    plan: Option<ServicePlan>,
    /// Hash of the ref list deployments.json was last generated from.
    refs_fingerprint: Option<u64>,
}

#[derive(Debug)]
struct Unreachable {
    since: Instant,
    alerted: bool,
    error: String,
}

/// Shared state of the poller and the webhook.
pub struct Watcher<G> {
    settings: GitWatchSettings,
    git: Arc<G>,
    trigger: ReconcileTrigger,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    services: Mutex<HashMap<String, Arc<tokio::sync::Mutex<ServiceState>>>>,
    unreachable: Mutex<BTreeMap<String, Unreachable>>,
    /// service → normalized git_url, for the webhook.
    urls: Mutex<BTreeMap<String, String>>,
}

impl<G: GitSource> Watcher<G> {
    /// A watcher with no history: the first check of each service regenerates it.
    pub fn new(
        settings: GitWatchSettings,
        git: Arc<G>,
        trigger: ReconcileTrigger,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Self {
        Self {
            settings,
            git,
            trigger,
            metrics,
            services: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(BTreeMap::new()),
            urls: Mutex::new(BTreeMap::new()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &GitWatchSettings {
        &self.settings
    }

    /// The metrics, if any.
    pub fn metrics_ref(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_deref()
    }

    /// Services whose `git_url` is `url` (normalized), as of their last check.
    pub fn services_for_url(&self, url: &str) -> Vec<String> {
        let want = normalize_url(url);
        self.urls
            .lock()
            .expect("watcher lock")
            .iter()
            .filter(|(_, u)| **u == want)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Checks every service of the soa dir, `jobs` at a time.
    pub async fn poll_round(self: &Arc<Self>) -> Result<RoundReport, SoaReadError> {
        let started = Instant::now();
        let soa = self.settings.generate.soa_dir.clone();
        let services = tokio::task::spawn_blocking(move || soa_dir::list_services(&soa))
            .await
            .expect("listing the soa dir does not panic")?;
        self.forget_except(&services);
        let permits = Arc::new(Semaphore::new(self.settings.generate.jobs.max(1)));
        let mut tasks = JoinSet::new();
        for service in services {
            let (me, permits) = (self.clone(), permits.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("never closed");
                me.check_service(&service).await
            });
        }
        let mut report = RoundReport::default();
        while let Some(joined) = tasks.join_next().await {
            report.services += 1;
            match joined.expect("checks do not panic") {
                CheckOutcome::Unchanged | CheckOutcome::Gone => report.unchanged += 1,
                CheckOutcome::Generated(WriteOutcome::Written) => report.written += 1,
                CheckOutcome::Generated(WriteOutcome::Unchanged) => {
                    report.regenerated_unchanged += 1
                }
                CheckOutcome::Unreachable(_) => report.unreachable += 1,
                CheckOutcome::Failed(_) => report.failed += 1,
            }
        }
        report.elapsed = started.elapsed();
        if let Some(m) = &self.metrics {
            m.git_poll_duration.observe(report.elapsed.as_secs_f64());
        }
        Ok(report)
    }

    /// Checks one service now: config, refs, regeneration, reconcile trigger.
    pub async fn check_service(&self, service: &str) -> CheckOutcome {
        let entry = self
            .services
            .lock()
            .expect("watcher lock")
            .entry(service.to_string())
            .or_default()
            .clone();
        let mut state = entry.lock().await;
        let outcome = self.check_locked(service, &mut state).await;
        match &outcome {
            CheckOutcome::Unreachable(e) => self.mark_unreachable(service, e),
            CheckOutcome::Gone => {
                self.services.lock().expect("watcher lock").remove(service);
                self.urls.lock().expect("watcher lock").remove(service);
                self.mark_reachable(service);
            }
            _ => self.mark_reachable(service),
        }
        if let CheckOutcome::Failed(e) = &outcome {
            tracing::warn!(service, error = %ErrorChain(e), "git watch: service not regenerated");
        }
        outcome
    }

    async fn check_locked(&self, service: &str, state: &mut ServiceState) -> CheckOutcome {
        let opts = &self.settings.generate;
        let dir = opts.soa_dir.join(service);
        let fingerprint = tokio::task::spawn_blocking(move || config_fingerprint(&dir))
            .await
            .expect("stat does not panic");
        let Some(fingerprint) = fingerprint else {
            return CheckOutcome::Gone;
        };
        if state.config_fingerprint != Some(fingerprint) || state.plan.is_none() {
            match read_service_plan(&opts.soa_dir, service).await {
                Ok(plan) => {
                    let mut urls = self.urls.lock().expect("watcher lock");
                    match &plan.git_url {
                        Some(u) => urls.insert(service.to_string(), normalize_url(u)),
                        None => urls.remove(service),
                    };
                    drop(urls);
                    state.plan = Some(plan);
                    state.config_fingerprint = Some(fingerprint);
                    state.refs_fingerprint = None;
                }
                Err(ServiceError::Read(SoaReadError::NoSuchService { .. })) => {
                    return CheckOutcome::Gone;
                }
                Err(e) => {
                    state.plan = None;
                    return CheckOutcome::Failed(e);
                }
            }
        }
        let plan = state.plan.as_ref().expect("set above");
        let refs = match &plan.git_url {
            None => None,
            Some(url) => match list_service_refs(service, url, self.git.as_ref()).await {
                Ok(refs) => Some(refs),
                Err(e) => return CheckOutcome::Unreachable(e),
            },
        };
        let refs_fingerprint = hash_of(&refs);
        if state.refs_fingerprint == Some(refs_fingerprint) {
            return CheckOutcome::Unchanged;
        }
        match write_service_deployments(opts, service, plan, refs.as_deref()).await {
            Ok(written) => {
                state.refs_fingerprint = Some(refs_fingerprint);
                if written == WriteOutcome::Written {
                    tracing::info!(service, "git watch: deployments.json regenerated");
                    (self.trigger)();
                }
                CheckOutcome::Generated(written)
            }
            Err(e) => CheckOutcome::Failed(e),
        }
    }

    /// Repositories whose last listing failed, sorted by service.
    pub fn unreachable(&self) -> Vec<UnreachableRepo> {
        let now = Instant::now();
        self.unreachable
            .lock()
            .expect("watcher lock")
            .iter()
            .map(|(service, u)| UnreachableRepo {
                service: service.clone(),
                for_duration: now.saturating_duration_since(u.since),
                alerting: u.alerted,
                error: u.error.clone(),
            })
            .collect()
    }

    fn mark_unreachable(&self, service: &str, error: &ServiceError) {
        let now = Instant::now();
        let mut map = self.unreachable.lock().expect("watcher lock");
        let u = map
            .entry(service.to_string())
            .or_insert_with(|| Unreachable {
                since: now,
                alerted: false,
                error: String::new(),
            });
        u.error = ErrorChain(error).to_string();
        let down = now.saturating_duration_since(u.since);
        if !u.alerted && down >= self.settings.unreachable_alert_after {
            u.alerted = true;
            tracing::error!(service, down_seconds = down.as_secs(), error = %u.error,
                "ALERT git watch: repository unreachable; desired state frozen at the last known refs");
        } else {
            tracing::warn!(service, error = %u.error,
                "git watch: repository unreachable; keeping the last known desired state");
        }
        self.publish_gauges(&map);
    }

    fn mark_reachable(&self, service: &str) {
        let mut map = self.unreachable.lock().expect("watcher lock");
        if map.remove(service).is_some() {
            tracing::info!(service, "git watch: repository reachable again");
            self.publish_gauges(&map);
        }
    }

    fn publish_gauges(&self, map: &BTreeMap<String, Unreachable>) {
        if let Some(m) = &self.metrics {
            m.git_repos_unreachable.set(map.len() as i64);
            m.git_repos_alerting
                .set(map.values().filter(|u| u.alerted).count() as i64);
        }
    }

    fn forget_except(&self, services: &[String]) {
        let keep: std::collections::HashSet<&str> = services.iter().map(String::as_str).collect();
        self.services
            .lock()
            .expect("watcher lock")
            .retain(|s, _| keep.contains(s.as_str()));
        self.urls
            .lock()
            .expect("watcher lock")
            .retain(|s, _| keep.contains(s.as_str()));
        let mut map = self.unreachable.lock().expect("watcher lock");
        map.retain(|s, _| keep.contains(s.as_str()));
        self.publish_gauges(&map);
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// A fingerprint of a service directory's config files ([`soa_dir::config_stats`]): equal
/// fingerprints mean the config need not be parsed again. `None` if the directory is gone.
fn config_fingerprint(dir: &Path) -> Option<u64> {
    soa_dir::config_stats(dir).map(|entries| hash_of(&entries))
}
