//! Executes the coordinator's reap orders, re-checking everything locally at execution time.
//!
//! # Guarantees
//! An order stops (`docker stop -t grace`) and removes (`docker rm -v`) a container only when
//! all of these hold at that moment:
//! 1. the order is well formed and its leader term is not older than the newest term seen;
//! 2. a container named as in the order still exists with the order's id and creation time
//!    (otherwise: gone → done; replaced by a new one of the same name → refused);
//! 3. its name starts with `mesos-`;
//! 4. it is older than the agent's minimum age (agent wall clock);
//! 5. the agent's own token bucket has a reap left.
//!
//! Stop and remove go by id, never by name, so a container created after the check under the
//! same name is never touched. Orders are idempotent: a repeated order id returns the first
//! outcome (the last [`RECENT_ORDERS`] ids are remembered), and a container already gone is
//! done.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use galley_proto::v1::{ReapOrder, ReapResult, ReapStatus, RefusalReason};
use tokio::time::Instant;

use crate::docker::DockerApi;
use crate::error_chain::ErrorChain;
use crate::inventory::now_unix_nanos;
use crate::recheck;

/// How many order outcomes are remembered for duplicate detection.
pub const RECENT_ORDERS: usize = 256;
/// Docker's own limit for a grace period the agent will honour.
pub const MAX_GRACE_SECS: u32 = 300;

/// Local reaping limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaperLimits {
    /// Containers younger than this are never reaped.
    pub min_age: Duration,
    /// Token bucket: at most this many reaps per minute (burst of the same size).
    pub max_per_minute: u32,
}

/// The order executor. One per agent; orders run one at a time.
pub struct Reaper<D> {
    docker: Arc<D>,
    limits: ReaperLimits,
    max_term_seen: u64,
    tokens: f64,
    refilled_at: Instant,
    recent: VecDeque<ReapResult>,
}

impl<D: DockerApi> Reaper<D> {
    /// A reaper with a full budget.
    pub fn new(docker: Arc<D>, limits: ReaperLimits) -> Self {
        Self {
            tokens: f64::from(limits.max_per_minute),
            docker,
            limits,
            max_term_seen: 0,
            refilled_at: Instant::now(),
            recent: VecDeque::new(),
        }
    }

    /// Records a leader term seen outside orders (the session's ack).
    pub fn observe_term(&mut self, term: u64) {
        self.max_term_seen = self.max_term_seen.max(term);
    }

    /// The newest leader term seen.
    pub fn max_term_seen(&self) -> u64 {
        self.max_term_seen
    }

    /// Checks and carries out one order; never panics, always answers.
    pub async fn execute(&mut self, order: &ReapOrder) -> ReapResult {
        if let Some(prev) = self.recent.iter().find(|r| r.order_id == order.order_id) {
            let mut again = prev.clone();
            again.detail = format!("duplicate order; first outcome: {}", prev.detail);
            return again;
        }
        let result = self.execute_once(order).await;
        tracing::info!(
            order_id = %order.order_id,
            container = %order.container_name,
            status = ?result.status(),
            refusal = ?result.refusal(),
            detail = %result.detail,
            "reap order"
        );
        if self.recent.len() == RECENT_ORDERS {
            self.recent.pop_front();
        }
        self.recent.push_back(result.clone());
        result
    }

    async fn execute_once(&mut self, order: &ReapOrder) -> ReapResult {
        let id = order.order_id.clone();
        if let Err((reason, why)) = recheck::check_order(order, self.max_term_seen) {
            return refused(id, reason, &why);
        }
        self.max_term_seen = order.leader_term;
        let current = match self.docker.inspect(&order.container_name).await {
            Ok(Some(c)) => c,
            Ok(None) => return done(id, "already gone"),
            Err(err) => return failed(id, &ErrorChain(&err).to_string()),
        };
        if let Err((reason, why)) =
            recheck::check_container(order, &current, now_unix_nanos(), self.limits.min_age)
        {
            return refused(id, reason, &why);
        }
        if !self.take_token() {
            return refused(id, RefusalReason::RateLimited, "agent reap budget spent");
        }
        let grace = order.grace_seconds.min(MAX_GRACE_SECS);
        if let Err(err) = self.docker.stop(&current.id, grace).await {
            return failed(id, &ErrorChain(&err).to_string());
        }
        match self.docker.remove(&current.id).await {
            Ok(true) => done(id, "stopped and removed"),
            Ok(false) => done(id, "gone during stop"),
            Err(err) => failed(id, &ErrorChain(&err).to_string()),
        }
    }

    fn take_token(&mut self) -> bool {
        let cap = f64::from(self.limits.max_per_minute);
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.refilled_at = now;
        self.tokens = (self.tokens + elapsed * cap / 60.0).min(cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn done(order_id: String, detail: &str) -> ReapResult {
    ReapResult {
        order_id,
        status: ReapStatus::Done.into(),
        refusal: RefusalReason::Unspecified.into(),
        detail: detail.to_owned(),
    }
}

fn refused(order_id: String, reason: RefusalReason, detail: &str) -> ReapResult {
    ReapResult {
        order_id,
        status: ReapStatus::Refused.into(),
        refusal: reason.into(),
        detail: detail.to_owned(),
    }
}

/// A refusal without executing (e.g. the order queue is full).
pub fn refusal(order_id: String, reason: RefusalReason, detail: &str) -> ReapResult {
    refused(order_id, reason, detail)
}

fn failed(order_id: String, detail: &str) -> ReapResult {
    ReapResult {
        order_id,
        status: ReapStatus::Failed.into(),
        refusal: RefusalReason::Unspecified.into(),
        detail: detail.to_owned(),
    }
}
