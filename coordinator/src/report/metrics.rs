//! Prometheus metrics of the coordinator (the agent has its own, `galley_agent::metrics`), kept
//! in a `prometheus-client` registry and served as text on `/metrics` (OpenMetrics exposition,
//! which Prometheus negotiates) by [`serve_metrics`].
//!
//! Label cardinality stays bounded: per-instance gauges carry `service`/`instance` only, are
//! replaced wholesale each pass ([`Metrics::record_replication`], [`Metrics::record_bounces`])
//! so removed instances disappear, and call metrics carry a fixed `target` and `op`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// `outcome` of a pass or a Sensu delivery.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// e.g. `ok`, `failed`, `sent`, `dropped`.
    pub outcome: &'static str,
}

/// `op` of an app or task action.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// `created`/`bounced`/`deleted` (apps), `drained`/`killed` (tasks),
    /// `ordered`/`done`/`refused` (reaps).
    pub op: &'static str,
}

/// One service.instance: the monitor's shared `(service, instance)` key, so that the two
/// per-instance families and their last states hold no copy of the names (at 50,000 instances
/// four copies of both names were about 25 MB).
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstanceLabels(pub Arc<(String, String)>);

impl EncodeLabelSet for InstanceLabels {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let (service, instance) = &*self.0;
        let labels = [
            ("service", service.as_str()),
            ("instance", instance.as_str()),
        ];
        EncodeLabelSet::encode(&labels.as_slice(), encoder)
    }
}

/// An outbound call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `marathon`, `mesos`, `git`, `sensu`, ...
    pub target: &'static str,
    /// The operation, e.g. `list_apps`, `ls_remote`.
    pub op: &'static str,
}

/// A finished pass: its outcome and what started it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PassLabels {
    /// `ok`, `partial`, `failed`, ...
    pub outcome: &'static str,
    /// `startup`, `periodic`, `files_changed`, `on_demand`, `marathon_changed`.
    pub trigger: &'static str,
}

/// What the observed-state cache (the Marathon view) says about itself at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheProbe {
    /// Seconds since the last full list (`None` before the first).
    pub age_seconds: Option<f64>,
    /// Listed since the stream last connected, and watching.
    pub complete: bool,
    /// Events received so far.
    pub events: u64,
    /// Stream breaks so far.
    pub breaks: u64,
}

/// Reads the cache when `/metrics` is scraped.
pub type CacheProbeFn = Arc<dyn Fn() -> CacheProbe + Send + Sync>;

#[derive(Default)]
struct ProbeSlot(Option<CacheProbeFn>);

impl std::fmt::Debug for ProbeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProbeSlot(set)"
        } else {
            "ProbeSlot(none)"
        })
    }
}

fn pass_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn call_histogram() -> Histogram {
    // 5 ms … ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Every metric the issue names. Cheap to clone handles; share it in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconcile pass durations (seconds) by outcome and trigger.
    pub pass_duration: Family<PassLabels, Histogram, fn() -> Histogram>,
    /// Reconcile passes by outcome (`ok`, `partial`, `failed`).
    pub passes: Family<OutcomeLabels, Counter>,
    /// Marathon apps created/bounced/deleted.
    pub apps: Family<OpLabels, Counter>,
    /// Tasks drained/killed.
    pub tasks: Family<OpLabels, Counter>,
    /// 1 while a bounce is in progress for the instance.
    pub bounce_in_progress: Family<InstanceLabels, Gauge>,
    /// 1 while the instance is under-replicated, 0 otherwise.
    pub under_replicated: Family<InstanceLabels, Gauge>,
    /// Cluster-wide number of under-replicated instances.
    pub under_replicated_instances: Gauge,
    /// Work waiting in the reconcile queue.
    pub queue_depth: Gauge,
    /// Outbound call latency (seconds).
    pub call_duration: Family<CallLabels, Histogram, fn() -> Histogram>,
    /// Outbound calls that failed.
    pub call_errors: Family<CallLabels, Counter>,
    /// The leader term while this coordinator leads, else 0.
    pub leader_term: Gauge,
    /// 1 while destructive actions are allowed (leading, grace period over), else 0.
    pub destructive_allowed: Gauge,
    /// Agents connected.
    pub agents_connected: Gauge,
    /// Agents connected but not heard from recently.
    pub agents_stale: Gauge,
    /// Orphan containers (`NO_SUCH_TASK`) in the reaper's last pass.
    pub orphans: Gauge,
    /// Reaps ordered/done/refused.
    pub reaps: Family<OpLabels, Counter>,
    /// Sensu events by outcome (`sent`, `failed`, `dropped`).
    pub sensu_events: Family<OutcomeLabels, Counter>,
    /// Duration of one git poll round over every service (seconds).
    pub git_poll_duration: Histogram,
    /// Service repositories whose last listing failed.
    pub git_repos_unreachable: Gauge,
    /// Service repositories unreachable for longer than the alert threshold.
    pub git_repos_alerting: Gauge,
    /// Webhook requests by outcome (`accepted`, `unauthorized`, `bad_request`, `unknown`).
    pub webhook_requests: Family<OutcomeLabels, Counter>,
    /// Deploy/start/stop tag writes by outcome (`written`, `refused`, `failed`).
    pub tag_writes: Family<OutcomeLabels, Counter>,
    /// Seconds since the observed-state cache last listed Marathon in full (-1: never).
    pub observed_cache_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// 1 while the observed-state cache is complete (listed and watching), else 0.
    pub observed_cache_complete: Gauge,
    /// Marathon events received by the observed-state cache.
    pub marathon_events: Counter,
    /// Marathon event-stream breaks (each followed by a full list).
    pub marathon_stream_breaks: Counter,
    cache_probe: Mutex<ProbeSlot>,
    instances: Mutex<InstanceSets>,
}

#[derive(Debug, Default)]
struct InstanceSets {
    replication: BTreeMap<InstanceLabels, bool>,
    bounces: BTreeMap<InstanceLabels, bool>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `galley_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("galley");
        let m = Self {
            pass_duration: Family::new_with_constructor(pass_histogram),
            passes: Family::default(),
            apps: Family::default(),
            tasks: Family::default(),
            bounce_in_progress: Family::default(),
            under_replicated: Family::default(),
            under_replicated_instances: Gauge::default(),
            queue_depth: Gauge::default(),
            call_duration: Family::new_with_constructor(call_histogram),
            call_errors: Family::default(),
            leader_term: Gauge::default(),
            destructive_allowed: Gauge::default(),
            agents_connected: Gauge::default(),
            agents_stale: Gauge::default(),
            orphans: Gauge::default(),
            reaps: Family::default(),
            sensu_events: Family::default(),
            git_poll_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            git_repos_unreachable: Gauge::default(),
            git_repos_alerting: Gauge::default(),
            webhook_requests: Family::default(),
            tag_writes: Family::default(),
            observed_cache_age: Gauge::default(),
            observed_cache_complete: Gauge::default(),
            marathon_events: Counter::default(),
            marathon_stream_breaks: Counter::default(),
            cache_probe: Mutex::new(ProbeSlot(None)),
            instances: Mutex::new(InstanceSets::default()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "pass_duration_seconds",
            "Duration of reconcile passes by outcome and trigger",
            m.pass_duration.clone(),
        );
        r.register("passes", "Reconcile passes by outcome", m.passes.clone());
        r.register(
            "apps",
            "Marathon apps created, bounced or deleted",
            m.apps.clone(),
        );
        r.register("tasks", "Marathon tasks drained or killed", m.tasks.clone());
        r.register(
            "bounce_in_progress",
            "1 while an instance is bouncing",
            m.bounce_in_progress.clone(),
        );
        r.register(
            "under_replicated",
            "1 while an instance is under-replicated",
            m.under_replicated.clone(),
        );
        r.register(
            "under_replicated_instances",
            "Under-replicated instances in the cluster",
            m.under_replicated_instances.clone(),
        );
        r.register(
            "queue_depth",
            "Work waiting in the reconcile queue",
            m.queue_depth.clone(),
        );
        r.register(
            "call_duration_seconds",
            "Latency of Marathon/Mesos/git/Sensu calls",
            m.call_duration.clone(),
        );
        r.register(
            "call_errors",
            "Failed Marathon/Mesos/git/Sensu calls",
            m.call_errors.clone(),
        );
        r.register(
            "leader_term",
            "Leader term while this coordinator leads, 0 on a follower",
            m.leader_term.clone(),
        );
        r.register(
            "destructive_allowed",
            "1 while leading past the grace period (deletes, kills, reaps allowed)",
            m.destructive_allowed.clone(),
        );
        r.register(
            "agents_connected",
            "Agents connected",
            m.agents_connected.clone(),
        );
        r.register(
            "agents_stale",
            "Agents not heard from recently",
            m.agents_stale.clone(),
        );
        r.register(
            "orphans",
            "Orphan containers (NO_SUCH_TASK) in the reaper's last pass",
            m.orphans.clone(),
        );
        r.register(
            "reaps",
            "Orphan reaps ordered, done or refused",
            m.reaps.clone(),
        );
        r.register(
            "sensu_events",
            "Sensu events by delivery outcome",
            m.sensu_events.clone(),
        );
        r.register(
            "git_poll_duration_seconds",
            "Duration of git poll rounds",
            m.git_poll_duration.clone(),
        );
        r.register(
            "git_repos_unreachable",
            "Service repositories whose last listing failed",
            m.git_repos_unreachable.clone(),
        );
        r.register(
            "git_repos_alerting",
            "Service repositories unreachable past the alert threshold",
            m.git_repos_alerting.clone(),
        );
        r.register(
            "webhook_requests",
            "Git webhook requests by outcome",
            m.webhook_requests.clone(),
        );
        r.register(
            "tag_writes",
            "Deploy/start/stop tag writes by outcome",
            m.tag_writes.clone(),
        );
        r.register(
            "observed_cache_age_seconds",
            "Seconds since the observed-state cache last listed Marathon in full (-1: never)",
            m.observed_cache_age.clone(),
        );
        r.register(
            "observed_cache_complete",
            "1 while the observed-state cache is listed and watching Marathon's events",
            m.observed_cache_complete.clone(),
        );
        r.register(
            "marathon_events",
            "Marathon events received by the observed-state cache",
            m.marathon_events.clone(),
        );
        r.register(
            "marathon_stream_breaks",
            "Marathon event-stream breaks, each followed by a full list",
            m.marathon_stream_breaks.clone(),
        );
        Self { registry, ..m }
    }

    /// Reads the observed-state cache's age, completeness and event counts at each scrape.
    pub fn set_cache_probe(&self, probe: CacheProbeFn) {
        self.cache_probe.lock().expect("metrics lock").0 = Some(probe);
    }

    fn read_cache_probe(&self) {
        let probe = self.cache_probe.lock().expect("metrics lock").0.clone();
        let Some(probe) = probe else { return };
        let p = probe();
        self.observed_cache_age.set(p.age_seconds.unwrap_or(-1.0));
        self.observed_cache_complete.set(i64::from(p.complete));
        // The view's counts only grow; the counters follow them.
        let events = self.marathon_events.get();
        self.marathon_events.inc_by(p.events.saturating_sub(events));
        let breaks = self.marathon_stream_breaks.get();
        self.marathon_stream_breaks
            .inc_by(p.breaks.saturating_sub(breaks));
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        self.read_cache_probe();
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Records a finished pass.
    pub fn pass_finished(&self, outcome: &'static str, trigger: &'static str, took: Duration) {
        self.pass_duration
            .get_or_create(&PassLabels { outcome, trigger })
            .observe(took.as_secs_f64());
        self.passes.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts an app (`created`/`bounced`/`deleted`) or task (`drained`/`killed`) action.
    pub fn count_app(&self, op: &'static str) {
        self.apps.get_or_create(&OpLabels { op }).inc();
    }

    /// Counts `n` app actions of one kind.
    pub fn count_app_n(&self, op: &'static str, n: usize) {
        self.apps.get_or_create(&OpLabels { op }).inc_by(n as u64);
    }

    /// Counts `n` task actions.
    pub fn count_tasks(&self, op: &'static str, n: u64) {
        self.tasks.get_or_create(&OpLabels { op }).inc_by(n);
    }

    /// Records one outbound call.
    pub fn observe_call(&self, target: &'static str, op: &'static str, took: Duration, ok: bool) {
        let labels = CallLabels { target, op };
        self.call_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if !ok {
            self.call_errors.get_or_create(&labels).inc();
        }
    }

    /// Runs `call`, recording its latency and whether it failed.
    pub async fn time_call<T, E>(
        &self,
        target: &'static str,
        op: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let start = tokio::time::Instant::now();
        let result = call.await;
        self.observe_call(target, op, start.elapsed(), result.is_ok());
        result
    }

    /// Replaces the per-instance under-replication gauges with this pass's results
    /// (`(service, instance, under_replicated)`) and sets the cluster aggregate.
    pub fn record_replication<'a>(
        &self,
        states: impl IntoIterator<Item = (&'a Arc<(String, String)>, bool)>,
    ) {
        let mut sets = self.instances.lock().expect("metrics lock");
        replace(&self.under_replicated, &mut sets.replication, states);
        let under = sets.replication.values().filter(|u| **u).count();
        self.under_replicated_instances.set(under as i64);
    }

    /// Replaces the per-instance bounce-in-progress gauges with this pass's.
    pub fn record_bounces<'a>(
        &self,
        states: impl IntoIterator<Item = (&'a Arc<(String, String)>, bool)>,
    ) {
        let mut sets = self.instances.lock().expect("metrics lock");
        replace(&self.bounce_in_progress, &mut sets.bounces, states);
    }
}

/// Sets `family` to `states`, removing the series of instances not in it. A pass whose states
/// equal the last pass's (the steady case) changes nothing.
fn replace<'a>(
    family: &Family<InstanceLabels, Gauge>,
    current: &mut BTreeMap<InstanceLabels, bool>,
    states: impl IntoIterator<Item = (&'a Arc<(String, String)>, bool)>,
) {
    let states: Vec<(&Arc<(String, String)>, bool)> = states.into_iter().collect();
    let unchanged = states.len() == current.len()
        && current
            .iter()
            .zip(&states)
            .all(|((k, on), (key, o))| (Arc::ptr_eq(&k.0, key) || k.0 == **key) && on == o);
    if unchanged {
        return;
    }
    let next: BTreeMap<InstanceLabels, bool> = states
        .into_iter()
        .map(|(key, on)| (InstanceLabels(Arc::clone(key)), on))
        .collect();
    for gone in current.keys().filter(|k| !next.contains_key(*k)) {
        family.remove(gone);
    }
    for (labels, on) in &next {
        family.get_or_create(labels).set(i64::from(*on));
    }
    *current = next;
}

/// The `/metrics` router.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response(),
    }
}

/// Serves `/metrics` on `listener` (bound by the caller, e.g. from `--metrics-listen`) until
/// `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::http_server::HttpLimits::default();
    crate::http_server::serve(listener, router(metrics), limits, shutdown).await
}

#[cfg(test)]
mod tests;
