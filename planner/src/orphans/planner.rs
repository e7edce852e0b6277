//! The pure orphan planner: `plan_reap(inputs) -> ReapPlan`. No I/O, deterministic.
//!
//! # Orphans
//! A container is flagged when it is alive (running/paused/restarting), its name starts with
//! `mesos-`, and either
//! - `NO_SUCH_TASK`: none of its task ids (env `MESOS_TASK_ID`, label `MESOS_TASK_ID`) is a
//!   live task anywhere in the Mesos master's state (any framework, any non-terminal state) or
//!   in Marathon's task list — "anywhere" is stricter than "on that host", so it never reaps
//!   more; or
//! - `NO_TASK_ID`: it carries no task id. Flagged for operators, never reaped.
//!
//! Exited containers are ignored: Mesos keeps them for `--docker_remove_delay` and removes
//! them itself.
//!
//! # Fail closed
//! A `NO_SUCH_TASK` container is ordered only when all hold (otherwise it is held, with the
//! named [`HoldReason`]): the view exists (`VIEW_UNAVAILABLE`); the host's agent is fresh
//! (`AGENT_STALE`); the view was fetched after the host's inventory last changed
//! (`VIEW_OLDER_THAN_INVENTORY`); Mesos reports live tasks for a host that has task
//! containers (`MESOS_NO_TASKS_ON_HOST`); it is older than `min_age` (`TOO_YOUNG`); it was
//! flagged in the previous fresh observation too (`FIRST_OBSERVATION`); no order for it is in
//! flight (`IN_FLIGHT`); flagged containers are at most `max_fraction_per_host` of the host's
//! live mesos containers (`TOO_MANY_ON_HOST`); and the per-host and global budgets have room
//! (`HOST_BUDGET`, `GLOBAL_BUDGET`). Only fresh observations carry a suspect to the next pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use galley_common::observed::{MesosState, ObservedApp};
use std::time::Instant;

use super::model::{ContainerObs, HostSnapshot, OrderTarget};

#[cfg(test)]
mod tests;

/// Mesos task states after which a task will not run again.
const TERMINAL_STATES: &[&str] = &[
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// Why a container was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrphanReason {
    /// Its task id is not a live task.
    NoSuchTask,
    /// It carries no task id (flag only).
    NoTaskId,
}

/// Why a flagged container is not ordered this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HoldReason {
    /// No Mesos/Marathon view this pass.
    ViewUnavailable,
    /// The agent is stale or disconnected.
    AgentStale,
    /// The inventory changed after the view was fetched.
    ViewOlderThanInventory,
    /// Mesos reports no live task on a host that has task containers.
    MesosNoTasksOnHost,
    /// Younger than `min_age`.
    TooYoung,
    /// Flagged in fewer than `sightings` fresh observations (`sighting_gap` apart).
    TooFewSightings,
    /// An order for it is already out.
    InFlight,
    /// Too large a fraction of the host's containers would go.
    TooManyOnHost,
    /// Per-host budget spent.
    HostBudget,
    /// Global budget spent.
    GlobalBudget,
    /// Flag-only reason (`NO_TASK_ID`).
    NeverReaped,
}

macro_rules! named {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The reason's operator-facing name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named!(OrphanReason { NoSuchTask => "NO_SUCH_TASK", NoTaskId => "NO_TASK_ID" });
named!(HoldReason {
    ViewUnavailable => "VIEW_UNAVAILABLE",
    AgentStale => "AGENT_STALE",
    ViewOlderThanInventory => "VIEW_OLDER_THAN_INVENTORY",
    MesosNoTasksOnHost => "MESOS_NO_TASKS_ON_HOST",
    TooYoung => "TOO_YOUNG",
    TooFewSightings => "TOO_FEW_SIGHTINGS",
    InFlight => "IN_FLIGHT",
    TooManyOnHost => "TOO_MANY_ON_HOST",
    HostBudget => "HOST_BUDGET",
    GlobalBudget => "GLOBAL_BUDGET",
    NeverReaped => "NEVER_REAPED",
});

/// Mesos and Marathon, reduced to what the planner needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// When the older of the two fetches started.
    pub fetched_at: Instant,
    /// Every live task id (Mesos non-terminal tasks of any framework, and Marathon's tasks).
    pub live_task_ids: BTreeSet<String>,
    /// Live Mesos tasks per slave hostname.
    pub mesos_tasks_per_host: BTreeMap<String, usize>,
}

impl ClusterView {
    /// Builds the view from one Mesos state (its task ids are moved, not copied) and one
    /// Marathon app list.
    pub fn build<A: std::borrow::Borrow<ObservedApp>>(
        fetched_at: Instant,
        mesos: MesosState,
        apps: &[A],
    ) -> Self {
        let host_of: BTreeMap<&str, &str> = mesos
            .slaves
            .iter()
            .map(|s| (s.id.as_str(), s.hostname.as_str()))
            .collect();
        let mut live_task_ids = BTreeSet::new();
        let mut mesos_tasks_per_host = BTreeMap::new();
        for t in mesos.tasks {
            if TERMINAL_STATES.contains(&&*t.state) {
                continue;
            }
            if let Some(host) = host_of.get(t.slave_id.as_str()) {
                match mesos_tasks_per_host.get_mut(*host) {
                    Some(n) => *n += 1,
                    None => {
                        mesos_tasks_per_host.insert((*host).to_owned(), 1);
                    }
                }
            }
            live_task_ids.insert(t.id);
        }
        for t in apps.iter().flat_map(|a| &a.borrow().tasks) {
            if !live_task_ids.contains(&t.id) {
                live_task_ids.insert(t.id.clone());
            }
        }
        Self {
            fetched_at,
            live_task_ids,
            mesos_tasks_per_host,
        }
    }
}

/// Planner limits (from the reaper policy).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLimits {
    /// Minimum container age.
    pub min_age: Duration,
    /// Largest fraction of a host's live mesos containers that may be flagged for orders.
    pub max_fraction_per_host: f64,
    /// Grace period for `docker stop`.
    pub grace_seconds: u32,
    /// Fresh observations as an orphan before an order (at least 1).
    pub sightings: u32,
    /// Least time between two observations that count as separate sightings.
    pub sighting_gap: Duration,
}

/// A container flagged in a previous pass: host, id, creation time.
pub type SuspectKey = (String, String, i64);

/// How often a suspect was seen as an orphan, and when the last sighting counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sightings {
    /// Counted sightings.
    pub count: u32,
    /// When the last one counted (unix nanoseconds).
    pub last_unix_nanos: i64,
}

/// Suspects and their sightings, carried from pass to pass.
pub type Suspects = BTreeMap<SuspectKey, Sightings>;

/// Everything a pass decides on.
#[derive(Debug, Clone)]
pub struct PlanInputs<'a> {
    /// Wall clock, unix nanoseconds (container ages).
    pub now_unix_nanos: i64,
    /// The registry's snapshot.
    pub hosts: &'a [HostSnapshot],
    /// Mesos + Marathon, `None` when either failed.
    pub view: Option<&'a ClusterView>,
    /// Suspects of the previous pass.
    pub previous_suspects: &'a Suspects,
    /// (host, container id) with an order out.
    pub in_flight: &'a BTreeSet<(String, String)>,
    /// Limits.
    pub limits: &'a PlanLimits,
    /// Orders left this minute, globally.
    pub global_budget: u32,
    /// Orders left this minute per host (hosts not listed: `default_host_budget`).
    pub host_budget: &'a BTreeMap<String, u32>,
    /// Per-host budget of hosts with no order this minute.
    pub default_host_budget: u32,
}

/// One flagged container and what the pass does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Host.
    pub host: String,
    /// The container.
    pub target: OrderTarget,
    /// Its first task id, if any.
    pub task_id: Option<String>,
    /// Why it is flagged.
    pub reason: OrphanReason,
    /// `None`: ordered; otherwise why not.
    pub hold: Option<HoldReason>,
    /// Fresh observations of it as an orphan so far (0 when its host could not be judged).
    pub sightings: u32,
}

/// The outcome of a pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReapPlan {
    /// Every flagged container, by host then id.
    pub findings: Vec<Finding>,
    /// What to order (host, target), subset of the findings with no hold.
    pub orders: Vec<(String, OrderTarget)>,
    /// Suspects to carry to the next pass.
    pub suspects: Suspects,
}

impl fmt::Display for ReapPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            let what = x.hold.map_or("REAP", HoldReason::name);
            writeln!(f, "{} {} {} {}", x.host, x.target.name, x.reason, what)?;
        }
        Ok(())
    }
}

/// Computes one pass. See the module docs for the rules.
pub fn plan_reap(inp: &PlanInputs<'_>) -> ReapPlan {
    let mut plan = ReapPlan::default();
    let mut global_left = inp.global_budget;
    for h in inp.hosts {
        let mut eligible = Vec::new();
        let host_hold = host_hold(inp, h);
        let alive_mesos = h
            .containers
            .iter()
            .filter(|c| c.state.is_alive() && c.is_mesos())
            .count();
        let mut flagged_no_such_task = 0usize;
        for c in h
            .containers
            .iter()
            .filter(|c| c.state.is_alive() && c.is_mesos())
        {
            let Some(reason) = classify(inp.view, c) else {
                continue;
            };
            let target = OrderTarget {
                container_id: c.id.clone(),
                name: c.name.clone(),
                created_unix_nanos: c.created_unix_nanos,
            };
            let mut finding = Finding {
                host: h.host.clone(),
                target,
                task_id: c.task_ids().next().map(str::to_owned),
                reason,
                hold: None,
                sightings: 0,
            };
            if reason == OrphanReason::NoTaskId {
                finding.hold = Some(HoldReason::NeverReaped);
                plan.findings.push(finding);
                continue;
            }
            flagged_no_such_task += 1;
            let key = (h.host.clone(), c.id.clone(), c.created_unix_nanos);
            finding.hold = host_hold.or_else(|| {
                let seen = sighting(inp, &key);
                plan.suspects.insert(key.clone(), seen);
                finding.sightings = seen.count;
                let age = inp.now_unix_nanos.saturating_sub(c.created_unix_nanos);
                if u128::try_from(age).unwrap_or(0) < inp.limits.min_age.as_nanos() {
                    Some(HoldReason::TooYoung)
                } else if seen.count < inp.limits.sightings.max(1) {
                    Some(HoldReason::TooFewSightings)
                } else if inp.in_flight.contains(&(h.host.clone(), c.id.clone())) {
                    Some(HoldReason::InFlight)
                } else {
                    None
                }
            });
            if finding.hold.is_none() {
                eligible.push(plan.findings.len());
            }
            plan.findings.push(finding);
        }
        let too_many = alive_mesos > 0
            && flagged_no_such_task as f64 > inp.limits.max_fraction_per_host * alive_mesos as f64;
        let mut host_left = inp
            .host_budget
            .get(&h.host)
            .copied()
            .unwrap_or(inp.default_host_budget);
        for ix in eligible {
            let f = &mut plan.findings[ix];
            f.hold = if too_many {
                Some(HoldReason::TooManyOnHost)
            } else if host_left == 0 {
                Some(HoldReason::HostBudget)
            } else if global_left == 0 {
                Some(HoldReason::GlobalBudget)
            } else {
                host_left -= 1;
                global_left -= 1;
                plan.orders.push((h.host.clone(), f.target.clone()));
                None
            };
        }
    }
    plan
}

/// `key`'s sightings after this fresh observation: one more when the last counted one is at
/// least `sighting_gap` old, else unchanged.
fn sighting(inp: &PlanInputs<'_>, key: &SuspectKey) -> Sightings {
    let now = inp.now_unix_nanos;
    match inp.previous_suspects.get(key) {
        None => Sightings {
            count: 1,
            last_unix_nanos: now,
        },
        Some(s) => {
            let since = u128::try_from(now.saturating_sub(s.last_unix_nanos)).unwrap_or(0);
            if since >= inp.limits.sighting_gap.as_nanos() {
                Sightings {
                    count: s.count.saturating_add(1),
                    last_unix_nanos: now,
                }
            } else {
                *s
            }
        }
    }
}

/// A hold that applies to every candidate of the host, if any.
fn host_hold(inp: &PlanInputs<'_>, h: &HostSnapshot) -> Option<HoldReason> {
    let Some(view) = inp.view else {
        return Some(HoldReason::ViewUnavailable);
    };
    if !h.fresh {
        return Some(HoldReason::AgentStale);
    }
    if view.fetched_at < h.last_change {
        return Some(HoldReason::ViewOlderThanInventory);
    }
    let has_task_containers = h
        .containers
        .iter()
        .any(|c| c.is_mesos() && c.task_ids().next().is_some());
    let mesos_tasks = view.mesos_tasks_per_host.get(&h.host).copied().unwrap_or(0);
    if has_task_containers && mesos_tasks == 0 {
        return Some(HoldReason::MesosNoTasksOnHost);
    }
    None
}

/// Why `c` is flagged, if it is. Without a view only `NO_TASK_ID` can be known: containers
/// with task ids are then not flagged at all.
fn classify(view: Option<&ClusterView>, c: &ContainerObs) -> Option<OrphanReason> {
    let mut ids = c.task_ids().peekable();
    if ids.peek().is_none() {
        return Some(OrphanReason::NoTaskId);
    }
    let view = view?;
    let mut ids = ids;
    if ids.any(|t| view.live_task_ids.contains(t)) {
        None
    } else {
        Some(OrphanReason::NoSuchTask)
    }
}
