//! The reaper loop and its handle: every `policy.interval`, fetch Mesos and Marathon, plan
//! with [`plan_reap`], publish the plan, and (enforce mode, while leader) send the orders.
//! Also the operator's one-shot [`ReaperHandle::reap_now`].
//!
//! The loop's first pass waits for the first full agent inventory (at most one interval), so
//! suspects start being counted as soon as there is something to count. The mode (report or
//! enforce) is switched at run time with [`ReaperHandle::set_mode`]: suspects, budgets and
//! counters carry over, and a pass runs at once (its sightings count only `interval / 2`
//! after the previous ones, so a switch never brings an order forward).
//!
//! Inputs: a [`MarathonApi`], a [`MesosApi`], the [`AgentRegistry`], the leader term
//! (`watch<Option<u64>>`, `None` = not leader = never order), the [`ReaperPolicy`], an
//! [`AuditSink`]. Outputs: [`ReaperStatus`] on a `watch`, [`AuditEvent`]s, [`ReaperCounters`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::audit::{AuditEvent, AuditSink, ReaperCounters};
use super::model::{OrderOutcome, OrderSpec, OrderTarget};
use super::planner::{ClusterView, OrphanReason, PlanInputs, ReapPlan, Suspects, plan_reap};
use super::policy::{Budgets, ReaperMode, ReaperPolicy};
use super::registry::{AgentRegistry, DeliveryError};
use crate::error_chain::ErrorChain;
use crate::marathon::{MarathonApi, MarathonError};
use crate::mesos::{MesosApi, MesosError};

mod reap_now;
pub use reap_now::{ReapNowError, ReapNowItem, ReapNowOutcome};

/// Why the cluster view could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Mesos master failed.
    #[error("mesos master state unavailable")]
    Mesos(#[source] MesosError),
    /// Marathon failed.
    #[error("marathon app list unavailable")]
    Marathon(#[source] MarathonError),
    /// The shared Marathon view is not complete and settled (stream broken, list pending).
    #[error("marathon view not complete and fresh")]
    MarathonViewStale,
}

/// Where the reaper takes Marathon's tasks from: a list of its own each pass, or the shared
/// view (never used unless complete and settled).
pub enum MarathonSource<M> {
    /// `list_apps` every pass.
    List(Arc<M>),
    /// The coordinator's list-then-watch view.
    View(crate::observed::view::MarathonView),
}

impl<M> Clone for MarathonSource<M> {
    fn clone(&self) -> Self {
        match self {
            Self::List(m) => Self::List(m.clone()),
            Self::View(v) => Self::View(v.clone()),
        }
    }
}

impl<M: MarathonApi> MarathonSource<M> {
    async fn apps(&self) -> Result<galley_common::observed::AppSnapshot, ViewError> {
        match self {
            Self::List(m) => m
                .list_apps()
                .await
                .map(|apps| Arc::new(apps.into_iter().map(Arc::new).collect()))
                .map_err(ViewError::Marathon),
            Self::View(v) => v
                .current(std::time::Duration::from_secs(2))
                .await
                .ok_or(ViewError::MarathonViewStale),
        }
    }
}

/// The last pass, for operators.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReaperStatus {
    /// Passes run.
    pub passes: u64,
    /// The last plan (findings with named reasons, orders).
    pub last_plan: Option<ReapPlan>,
    /// Why the last pass could not plan, if it could not.
    pub blocked: Option<String>,
    /// Leader term at the last pass.
    pub leader_term: Option<u64>,
    /// The mode of the last pass.
    pub mode: Option<ReaperMode>,
}

type FetchView = Box<dyn Fn() -> BoxFuture<'static, Result<ClusterView, ViewError>> + Send + Sync>;

/// Cloneable handle to the reaper.
#[derive(Clone)]
pub struct ReaperHandle {
    shared: Arc<Shared>,
}

struct Shared {
    registry: AgentRegistry,
    policy: ReaperPolicy,
    mode: watch::Sender<ReaperMode>,
    wake: Notify,
    leader: watch::Receiver<Option<u64>>,
    audit: Arc<dyn AuditSink>,
    counters: Arc<ReaperCounters>,
    status: watch::Sender<ReaperStatus>,
    fetch: FetchView,
    suspects: Mutex<Suspects>,
    in_flight: Mutex<BTreeSet<(String, String)>>,
    /// (host, container id) audited as "would reap" in the last report-mode pass.
    would_reap: Mutex<BTreeSet<(String, String)>>,
    budgets: Mutex<Budgets>,
}

impl ReaperHandle {
    /// Builds the handle and spawns the periodic loop.
    pub fn spawn<M: MarathonApi, Me: MesosApi>(
        marathon: MarathonSource<M>,
        mesos: Arc<Me>,
        registry: AgentRegistry,
        leader: watch::Receiver<Option<u64>>,
        policy: ReaperPolicy,
        audit: Arc<dyn AuditSink>,
    ) -> (Self, JoinHandle<()>) {
        let handle = Self::new(marathon, mesos, registry, leader, policy, audit);
        let h = handle.clone();
        let task = tokio::spawn(async move {
            let interval = h.shared.policy.interval;
            h.wait_for_first_inventory(interval).await;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = h.shared.wake.notified() => {}
                }
                h.pass().await;
            }
        });
        (handle, task)
    }

    /// Waits until an agent has sent a full inventory, or `at_most`.
    async fn wait_for_first_inventory(&self, at_most: Duration) {
        let mut inventories = self.shared.registry.inventories();
        let _ = tokio::time::timeout(at_most, inventories.wait_for(|n| *n > 0)).await;
    }

    /// The current mode.
    pub fn mode(&self) -> ReaperMode {
        *self.shared.mode.borrow()
    }

    /// Switches to `mode` and returns the previous one; a change runs a pass soon (suspects
    /// and their sightings carry over).
    pub fn set_mode(&self, mode: ReaperMode) -> ReaperMode {
        let previous = self.shared.mode.send_replace(mode);
        if previous != mode {
            self.shared.wake.notify_one();
        }
        previous
    }

    /// Builds the handle without a loop (drive it with [`Self::pass`]).
    pub fn new<M: MarathonApi, Me: MesosApi>(
        marathon: MarathonSource<M>,
        mesos: Arc<Me>,
        registry: AgentRegistry,
        leader: watch::Receiver<Option<u64>>,
        policy: ReaperPolicy,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        let fetch: FetchView = Box::new(move || {
            let (marathon, mesos) = (marathon.clone(), mesos.clone());
            Box::pin(async move {
                // Mesos is read fresh every pass (its task list protects every live container:
                // Mesos knows a task before its container starts); Marathon's tasks only add
                // ids, from the shared view when there is one.
                let fetched_at = Instant::now();
                let (apps, state) = tokio::join!(marathon.apps(), mesos.state());
                let state = state.map_err(ViewError::Mesos)?;
                let apps = apps?;
                Ok(ClusterView::build(fetched_at.into_std(), state, &apps))
            })
        });
        Self {
            shared: Arc::new(Shared {
                registry,
                mode: watch::Sender::new(policy.mode),
                wake: Notify::new(),
                policy,
                leader,
                audit,
                counters: Arc::default(),
                status: watch::channel(ReaperStatus::default()).0,
                fetch,
                suspects: Mutex::default(),
                in_flight: Mutex::default(),
                would_reap: Mutex::default(),
                budgets: Mutex::default(),
            }),
        }
    }

    /// The status channel.
    pub fn status(&self) -> watch::Receiver<ReaperStatus> {
        self.shared.status.subscribe()
    }

    /// The counters.
    pub fn counters(&self) -> Arc<ReaperCounters> {
        self.shared.counters.clone()
    }

    /// The registry this reaper reads.
    pub fn registry(&self) -> &AgentRegistry {
        &self.shared.registry
    }

    /// One pass: fetch, plan, publish, and send orders (enforce mode, leader only). Orders
    /// are sent from spawned tasks; the pass does not wait for answers.
    pub async fn pass(&self) -> ReapPlan {
        let s = &self.shared;
        ReaperCounters::inc(&s.counters.passes);
        let view = (s.fetch)().await;
        let term = *s.leader.borrow();
        let mode = self.mode();
        let blocked = view.as_ref().err().map(|e| ErrorChain(e).to_string());
        if let Some(detail) = &blocked {
            ReaperCounters::inc(&s.counters.passes_blocked);
            s.audit.record(AuditEvent::PassBlocked {
                reason: "VIEW_UNAVAILABLE".to_owned(),
                detail: detail.clone(),
            });
        }
        let hosts = s.registry.snapshot();
        let now = Instant::now();
        let (global_budget, host_budget) = lock(&s.budgets).left(now.into_std(), &s.policy);
        let previous = lock(&s.suspects).clone();
        let in_flight = lock(&s.in_flight).clone();
        let limits = s.policy.limits();
        let plan = plan_reap(&PlanInputs {
            now_unix_nanos: now_unix_nanos(),
            hosts: &hosts,
            view: view.as_ref().ok(),
            previous_suspects: &previous,
            in_flight: &in_flight,
            limits: &limits,
            global_budget,
            host_budget: &host_budget,
            default_host_budget: s.policy.host_per_minute,
        });
        self.account(&plan, &previous);
        *lock(&s.suspects) = plan.suspects.clone();
        match (mode, term) {
            (ReaperMode::Enforce, Some(term)) => {
                for (host, target) in &plan.orders {
                    lock(&s.budgets).record(now.into_std(), host);
                    lock(&s.in_flight).insert((host.clone(), target.container_id.clone()));
                    let order = self.order(term, target.clone(), "NO_SUCH_TASK", None);
                    let me = self.clone();
                    let key = (host.clone(), target.container_id.clone());
                    tokio::spawn(async move {
                        let _ = me.deliver(&key.0, order).await;
                        lock(&me.shared.in_flight).remove(&key);
                    });
                }
            }
            _ => {
                // Audited once per container while it stays reapable, not every pass.
                let mut audited = lock(&s.would_reap);
                let mut now_reapable = BTreeSet::new();
                for (host, target) in &plan.orders {
                    ReaperCounters::inc(&s.counters.orders_would_send);
                    let key = (host.clone(), target.container_id.clone());
                    if !audited.contains(&key) {
                        s.audit.record(AuditEvent::WouldReap {
                            host: host.clone(),
                            container_id: target.container_id.clone(),
                            name: target.name.clone(),
                            reason: "NO_SUCH_TASK".to_owned(),
                        });
                    }
                    now_reapable.insert(key);
                }
                *audited = now_reapable;
            }
        }
        s.status.send_modify(|st| {
            st.passes += 1;
            st.last_plan = Some(plan.clone());
            st.blocked = blocked;
            st.leader_term = term;
            st.mode = Some(mode);
        });
        plan
    }

    fn account(&self, plan: &ReapPlan, previous: &Suspects) {
        let s = &self.shared;
        let count = |r| plan.findings.iter().filter(|f| f.reason == r).count() as u64;
        let c = &s.counters;
        c.orphans_flagged.store(
            count(OrphanReason::NoSuchTask),
            std::sync::atomic::Ordering::Relaxed,
        );
        c.no_task_id_flagged.store(
            count(OrphanReason::NoTaskId),
            std::sync::atomic::Ordering::Relaxed,
        );
        let held = plan
            .findings
            .iter()
            .filter(|f| f.reason == OrphanReason::NoSuchTask && f.hold.is_some())
            .count();
        c.orders_held
            .store(held as u64, std::sync::atomic::Ordering::Relaxed);
        for f in &plan.findings {
            let key = (
                f.host.clone(),
                f.target.container_id.clone(),
                f.target.created_unix_nanos,
            );
            if f.reason == OrphanReason::NoSuchTask
                && plan.suspects.contains_key(&key)
                && !previous.contains_key(&key)
            {
                s.audit.record(AuditEvent::OrphanFlagged {
                    host: f.host.clone(),
                    container_id: f.target.container_id.clone(),
                    name: f.target.name.clone(),
                    task_id: f.task_id.clone(),
                    reason: f.reason,
                });
            }
        }
    }

    fn order(&self, term: u64, target: OrderTarget, reason: &str, id: Option<String>) -> OrderSpec {
        OrderSpec {
            order_id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            leader_term: term,
            target,
            grace_seconds: self.shared.policy.grace_seconds,
            reason: reason.to_owned(),
        }
    }

    /// Sends one order, audits and counts it and its answer.
    async fn deliver(&self, host: &str, order: OrderSpec) -> Result<OrderOutcome, DeliveryError> {
        let s = &self.shared;
        let (order_id, container_id) = (order.order_id.clone(), order.target.container_id.clone());
        s.audit.record(AuditEvent::OrderSent {
            order_id: order_id.clone(),
            host: host.to_owned(),
            container_id: container_id.clone(),
            name: order.target.name.clone(),
            reason: order.reason.clone(),
            leader_term: order.leader_term,
        });
        ReaperCounters::inc(&s.counters.orders_sent);
        let res = s
            .registry
            .send_order(host, order, s.policy.order_timeout)
            .await;
        let c = &s.counters;
        match &res {
            Ok(OrderOutcome::Done { .. }) => ReaperCounters::inc(&c.results_done),
            Ok(OrderOutcome::Refused { .. }) => ReaperCounters::inc(&c.results_refused),
            Ok(OrderOutcome::Failed { .. }) => ReaperCounters::inc(&c.results_failed),
            Err(_) => ReaperCounters::inc(&c.results_lost),
        }
        s.audit.record(AuditEvent::OrderResult {
            order_id,
            host: host.to_owned(),
            container_id,
            outcome: res.as_ref().ok().cloned(),
            error: res.as_ref().err().map(ToString::to_string),
        });
        res
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wall clock in unix nanoseconds.
pub fn now_unix_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
