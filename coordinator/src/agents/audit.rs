//! What the reaper tells the outside world: structured [`AuditEvent`]s through an
//! [`AuditSink`] (the deploy log / audit trail hook) and [`ReaperCounters`] (plain atomics, to
//! be exported as metrics).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::model::OrderOutcome;
use super::planner::OrphanReason;

/// One auditable fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// A container was first flagged as an orphan (or without task id).
    OrphanFlagged {
        /// Host.
        host: String,
        /// Container id.
        container_id: String,
        /// Name.
        name: String,
        /// Task id it carries, if any.
        task_id: Option<String>,
        /// Why.
        reason: OrphanReason,
    },
    /// Report mode or dry run: this order would have been sent.
    WouldReap {
        /// Host.
        host: String,
        /// Container id.
        container_id: String,
        /// Name.
        name: String,
        /// Why.
        reason: String,
    },
    /// An order went to an agent.
    OrderSent {
        /// Order id.
        order_id: String,
        /// Host.
        host: String,
        /// Container id.
        container_id: String,
        /// Name.
        name: String,
        /// Why (`NO_SUCH_TASK`, `OPERATOR`).
        reason: String,
        /// Leader term.
        leader_term: u64,
    },
    /// An agent answered an order (or it timed out / could not be delivered).
    OrderResult {
        /// Order id.
        order_id: String,
        /// Host.
        host: String,
        /// Container id.
        container_id: String,
        /// The answer; `None` when none came.
        outcome: Option<OrderOutcome>,
        /// Why there was no answer.
        error: Option<String>,
    },
    /// A pass computed no orders because a fail-closed rule held everywhere.
    PassBlocked {
        /// Named reason (`VIEW_UNAVAILABLE`, `NOT_LEADER`).
        reason: String,
        /// Detail.
        detail: String,
    },
}

/// Receives audit events; must not block.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: AuditEvent);
}

/// Logs events through `tracing` only.
#[derive(Debug, Default, Clone)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, event: AuditEvent) {
        tracing::info!(?event, "agent reaper audit");
    }
}

/// Logs and forwards events on a bounded channel (events are dropped, and counted, when the
/// reader falls behind).
#[derive(Debug, Clone)]
pub struct ChannelAudit {
    tx: mpsc::Sender<AuditEvent>,
    dropped: std::sync::Arc<AtomicU64>,
}

impl ChannelAudit {
    /// A sink and its reader.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<AuditEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        let sink = Self {
            tx,
            dropped: Default::default(),
        };
        (sink, rx)
    }

    /// Events dropped because the reader was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AuditSink for ChannelAudit {
    fn record(&self, event: AuditEvent) {
        tracing::info!(?event, "agent reaper audit");
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reaper metrics (monotonic counters unless noted).
#[derive(Debug, Default)]
pub struct ReaperCounters {
    /// Planning passes run.
    pub passes: AtomicU64,
    /// Passes that could not plan (Mesos or Marathon unavailable).
    pub passes_blocked: AtomicU64,
    /// Gauge: containers flagged NO_SUCH_TASK in the last pass.
    pub orphans_flagged: AtomicU64,
    /// Gauge: containers flagged NO_TASK_ID in the last pass.
    pub no_task_id_flagged: AtomicU64,
    /// Gauge: orders held back by a fail-closed rule in the last pass.
    pub orders_held: AtomicU64,
    /// Orders sent to agents.
    pub orders_sent: AtomicU64,
    /// Orders that would have been sent (report mode, dry runs).
    pub orders_would_send: AtomicU64,
    /// Results: done.
    pub results_done: AtomicU64,
    /// Results: refused by the agent.
    pub results_refused: AtomicU64,
    /// Results: Docker failed.
    pub results_failed: AtomicU64,
    /// Orders without an answer (timeout, agent gone).
    pub results_lost: AtomicU64,
}

impl ReaperCounters {
    /// Adds one.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
