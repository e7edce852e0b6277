//! The agent's own observability: Prometheus metrics in a `prometheus-client` registry and a
//! health verdict, served on `metrics_listen` as `/metrics` (OpenMetrics text) and `/healthz`
//! (200 `ok`, or 503 with the reason) by [`serve`].
//!
//! Docker calls are measured by wrapping the engine in [`MeteredDocker`] (latency per `op`,
//! errors per `op`, and whether the inventory is current), so the inventory task itself stays
//! unaware of metrics; the session marks itself connected and counts reap orders and their
//! outcomes. Labels are a fixed set (`op`, `outcome`, `reason`), never container ids.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use futures::stream::BoxStream;
use galley_proto::v1::{ReapResult, ReapStatus, RefusalReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::docker::{ContainerRecord, ContainerSummary, DockerApi, DockerError, DockerEvent};

/// A Docker operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DockerOpLabels {
    /// `list`, `inspect`, `events`, `stop`, `remove`.
    pub op: &'static str,
}

/// The outcome of a reap order.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReapOutcomeLabels {
    /// `done`, `refused` or `failed`.
    pub outcome: &'static str,
    /// The refusal reason in lower case (`too_young`, `busy`, ...); empty unless refused.
    pub reason: String,
}

fn docker_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every agent metric, plus the health inputs. Share it in an `Arc`.
#[derive(Debug)]
pub struct AgentMetrics {
    registry: Registry,
    /// Containers in the inventory (all states).
    pub containers: Gauge,
    /// 1 while a coordinator session is open, else 0.
    pub session_connected: Gauge,
    /// Connection attempts after the first (each follows a session that ended or failed).
    pub session_reconnects: Counter,
    /// Full Docker re-lists (one `list` call each: start-up, timer, after stream errors).
    pub inventory_relists: Counter,
    /// Failed Docker calls, by `op` (an event-stream error counts as `events`).
    pub docker_errors: Family<DockerOpLabels, Counter>,
    /// Docker call latency (seconds), by `op` (not `events`, which is a stream).
    pub docker_call_duration: Family<DockerOpLabels, Histogram, fn() -> Histogram>,
    /// Reap orders received from the coordinator.
    pub reap_orders: Counter,
    /// Reap order outcomes, by `outcome` and refusal `reason`.
    pub reap_results: Family<ReapOutcomeLabels, Counter>,
    inventory_current: AtomicBool,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// A fresh registry with every metric registered under the `galley_agent_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("galley_agent");
        let m = Self {
            containers: Gauge::default(),
            session_connected: Gauge::default(),
            session_reconnects: Counter::default(),
            inventory_relists: Counter::default(),
            docker_errors: Family::default(),
            docker_call_duration: Family::new_with_constructor(docker_histogram),
            reap_orders: Counter::default(),
            reap_results: Family::default(),
            inventory_current: AtomicBool::new(false),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "containers",
            "Containers in the Docker inventory",
            m.containers.clone(),
        );
        r.register(
            "session_connected",
            "Coordinator sessions open (one per coordinator when all are reachable)",
            m.session_connected.clone(),
        );
        r.register(
            "session_reconnects",
            "Coordinator connection attempts after the first",
            m.session_reconnects.clone(),
        );
        r.register(
            "inventory_relists",
            "Full Docker inventory re-lists",
            m.inventory_relists.clone(),
        );
        r.register(
            "docker_errors",
            "Failed Docker calls by operation",
            m.docker_errors.clone(),
        );
        r.register(
            "docker_call_duration_seconds",
            "Latency of Docker calls by operation",
            m.docker_call_duration.clone(),
        );
        r.register(
            "reap_orders",
            "Reap orders received from the coordinator",
            m.reap_orders.clone(),
        );
        r.register(
            "reap_results",
            "Reap order outcomes (done, refused with a reason, failed)",
            m.reap_results.clone(),
        );
        Self { registry, ..m }
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Counts one reap outcome.
    pub fn count_reap(&self, result: &ReapResult) {
        let outcome = match result.status() {
            ReapStatus::Done => "done",
            ReapStatus::Refused => "refused",
            ReapStatus::Failed | ReapStatus::Unspecified => "failed",
        };
        let reason = match result.status() {
            ReapStatus::Refused => reason_label(result.refusal()),
            _ => String::new(),
        };
        self.reap_results
            .get_or_create(&ReapOutcomeLabels { outcome, reason })
            .inc();
    }

    /// A coordinator session opened (one per coordinator).
    pub fn session_opened(&self) {
        self.session_connected.inc();
    }

    /// A coordinator session that was open ended.
    pub fn session_closed(&self) {
        self.session_connected.dec();
    }

    /// Whether the last Docker list succeeded and no event-stream error came after it.
    pub fn inventory_current(&self) -> bool {
        self.inventory_current.load(Ordering::Relaxed)
    }

    /// `None` when healthy, else why not.
    pub fn unhealthy_reason(&self) -> Option<&'static str> {
        if !self.inventory_current() {
            Some(
                "docker inventory not current (listing or event stream failing, or not listed yet)",
            )
        } else if self.session_connected.get() == 0 {
            Some("not connected to the coordinator")
        } else {
            None
        }
    }

    fn docker_failed(&self, op: &'static str) {
        self.docker_errors
            .get_or_create(&DockerOpLabels { op })
            .inc();
    }
}

/// `REFUSAL_REASON_TOO_YOUNG` → `too_young`.
fn reason_label(reason: RefusalReason) -> String {
    let name = reason.as_str_name();
    name.strip_prefix("REFUSAL_REASON_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// A [`DockerApi`] that records every call in [`AgentMetrics`].
pub struct MeteredDocker<D> {
    inner: Arc<D>,
    metrics: Arc<AgentMetrics>,
}

impl<D> MeteredDocker<D> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<D>, metrics: Arc<AgentMetrics>) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, DockerError> {
        let start = tokio::time::Instant::now();
        let result = call.await;
        self.metrics
            .docker_call_duration
            .get_or_create(&DockerOpLabels { op })
            .observe(start.elapsed().as_secs_f64());
        if result.is_err() {
            self.metrics.docker_failed(op);
        }
        result
    }
}

impl<D: DockerApi> DockerApi for MeteredDocker<D> {
    async fn list(&self) -> Result<Vec<ContainerSummary>, DockerError> {
        self.metrics.inventory_relists.inc();
        let result = self.timed("list", self.inner.list()).await;
        self.metrics
            .inventory_current
            .store(result.is_ok(), Ordering::Relaxed);
        result
    }

    async fn inspect(&self, id_or_name: &str) -> Result<Option<ContainerRecord>, DockerError> {
        self.timed("inspect", self.inner.inspect(id_or_name)).await
    }

    fn events(
        &self,
        since_unix_nanos: i64,
    ) -> BoxStream<'static, Result<DockerEvent, DockerError>> {
        let metrics = self.metrics.clone();
        self.inner
            .events(since_unix_nanos)
            .inspect(move |ev| {
                if ev.is_err() {
                    metrics.docker_failed("events");
                    metrics.inventory_current.store(false, Ordering::Relaxed);
                }
            })
            .boxed()
    }

    async fn stop(&self, id: &str, grace_secs: u32) -> Result<bool, DockerError> {
        self.timed("stop", self.inner.stop(id, grace_secs)).await
    }

    async fn remove(&self, id: &str) -> Result<bool, DockerError> {
        self.timed("remove", self.inner.remove(id)).await
    }
}

/// The `/metrics` and `/healthz` router.
pub fn router(metrics: Arc<AgentMetrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<AgentMetrics>>) -> Response {
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

async fn healthz(State(metrics): State<Arc<AgentMetrics>>) -> Response {
    match metrics.unhealthy_reason() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<AgentMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}
