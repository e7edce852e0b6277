//! The operator's one-shot reap of named containers ([`ReaperHandle::reap_now`]), with
//! dry-run, and the low-level [`ReaperHandle::send_order_unchecked`].
//!
//! `reap_now` skips the periodic rules meant for automatic decisions (minimum age, two
//! observations, budgets, report mode) but keeps the ones that protect live work: the caller
//! must be leader (except for a dry run), the host's agent fresh, the view fetched after its
//! inventory changed, the container alive under a `mesos-` name, and none of its task ids
//! live. The agent still applies its own checks (existence, identity, name, age, budget).

use super::{ReaperHandle, ViewError, lock};
use crate::agents::model::{OrderOutcome, OrderTarget};
use crate::agents::registry::DeliveryError;
use crate::error_chain::ErrorChain;

/// Why `reap_now` did nothing at all.
#[derive(Debug, thiserror::Error)]
pub enum ReapNowError {
    /// This coordinator is not the leader.
    #[error("not the leader: no reap orders")]
    NotLeader,
    /// No agent for the host.
    #[error("no agent for host {host}")]
    UnknownHost {
        /// Host.
        host: String,
    },
    /// The agent is stale or disconnected.
    #[error("agent {host} is stale")]
    AgentStale {
        /// Host.
        host: String,
    },
    /// Mesos or Marathon could not be read.
    #[error("cluster view unavailable")]
    View(#[source] ViewError),
    /// The inventory changed while the view was fetched; try again.
    #[error("inventory of {host} changed during the check; retry")]
    ViewOlderThanInventory {
        /// Host.
        host: String,
    },
    /// The order could not be delivered or got no answer.
    #[error("order delivery failed")]
    Delivery(#[source] DeliveryError),
}

/// Per-container result of `reap_now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReapNowItem {
    /// Container id as given.
    pub container_id: String,
    /// What happened.
    pub outcome: ReapNowOutcome,
}

/// What `reap_now` did with one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReapNowOutcome {
    /// Not in the host's inventory.
    NotFound,
    /// Refused by the coordinator (`NOT_MESOS`, `NOT_RUNNING`, `TASK_LIVE`).
    Refused {
        /// Named reason.
        reason: &'static str,
    },
    /// Dry run: an order would have been sent.
    WouldReap,
    /// The agent's answer.
    Ordered(OrderOutcome),
    /// Sending failed.
    DeliveryFailed(String),
}

impl ReaperHandle {
    /// Reaps the named containers of `host` now (see module docs for the checks).
    pub async fn reap_now(
        &self,
        host: &str,
        container_ids: &[String],
        dry_run: bool,
    ) -> Result<Vec<ReapNowItem>, ReapNowError> {
        let s = &self.shared;
        let term = *s.leader.borrow();
        if term.is_none() && !dry_run {
            return Err(ReapNowError::NotLeader);
        }
        let view = (s.fetch)().await.map_err(ReapNowError::View)?;
        let unknown = || ReapNowError::UnknownHost {
            host: host.to_owned(),
        };
        let snap = s.registry.host(host).ok_or_else(unknown)?;
        if !snap.fresh {
            return Err(ReapNowError::AgentStale {
                host: host.to_owned(),
            });
        }
        if view.fetched_at < snap.last_change {
            return Err(ReapNowError::ViewOlderThanInventory {
                host: host.to_owned(),
            });
        }
        let mut items = Vec::new();
        for id in container_ids {
            let found = snap.containers.iter().find(|c| &c.id == id);
            let outcome = match found {
                None => ReapNowOutcome::NotFound,
                Some(c) if !c.is_mesos() => ReapNowOutcome::Refused {
                    reason: "NOT_MESOS",
                },
                Some(c) if !c.state.is_alive() => ReapNowOutcome::Refused {
                    reason: "NOT_RUNNING",
                },
                Some(c) if c.task_ids().any(|t| view.live_task_ids.contains(t)) => {
                    ReapNowOutcome::Refused {
                        reason: "TASK_LIVE",
                    }
                }
                Some(c) => {
                    let target = OrderTarget {
                        container_id: c.id.clone(),
                        name: c.name.clone(),
                        created_unix_nanos: c.created_unix_nanos,
                    };
                    match term {
                        Some(term) if !dry_run => {
                            let order = self.order(term, target, "OPERATOR", None);
                            match self.deliver(host, order).await {
                                Ok(o) => ReapNowOutcome::Ordered(o),
                                Err(e) => {
                                    ReapNowOutcome::DeliveryFailed(ErrorChain(&e).to_string())
                                }
                            }
                        }
                        _ => {
                            s.audit.record(super::AuditEvent::WouldReap {
                                host: host.to_owned(),
                                container_id: c.id.clone(),
                                name: c.name.clone(),
                                reason: "OPERATOR".to_owned(),
                            });
                            ReapNowOutcome::WouldReap
                        }
                    }
                }
            };
            items.push(ReapNowItem {
                container_id: id.clone(),
                outcome,
            });
        }
        Ok(items)
    }

    /// Sends one order for `target` to `host` with no coordinator-side check (the agent's
    /// checks still apply) and waits for the answer; a given `order_id` may repeat an earlier
    /// order. Audited and counted like any order. Requires leadership.
    pub async fn send_order_unchecked(
        &self,
        host: &str,
        target: OrderTarget,
        order_id: Option<String>,
    ) -> Result<OrderOutcome, ReapNowError> {
        let term = (*self.shared.leader.borrow()).ok_or(ReapNowError::NotLeader)?;
        let order = self.order(term, target, "OPERATOR", order_id);
        let key = (host.to_owned(), order.target.container_id.clone());
        lock(&self.shared.in_flight).insert(key.clone());
        let res = self.deliver(host, order).await;
        lock(&self.shared.in_flight).remove(&key);
        res.map_err(ReapNowError::Delivery)
    }
}
