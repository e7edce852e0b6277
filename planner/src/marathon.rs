//! The pure planner: `plan(desired, observed) -> Plan`. No I/O, deterministic, and the only
//! place that decides what Galley does to Marathon; the coordinator's `apply` carries a plan out without
//! making decisions of its own.

mod bounce;
mod cleanup;
mod compact;
mod happy;
mod instance;
mod memo;
mod model;

use std::collections::BTreeSet;
use std::sync::Arc;

use std::fmt;

pub use bounce::{BounceDecision, BounceInput, TasksByApp, decide};
pub use cleanup::{
    CleanupPlan, CleanupPolicy, CleanupRefusal, ParsedAppId, parse_app_id, plan_cleanup,
};
pub use happy::is_happy;
pub use instance::plan_instance;
pub use memo::PlanMemo;
pub use model::{
    Action, AppDefinition, BounceMethod, BounceProgress, DeleteReason, DesiredInstance, DrainKind,
    DrainState, HacheckParams, HappyParams, InstancePlan, Observed, ProgressLine,
};

/// Desired state of the whole cluster for one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Instances that are deployed and rendered.
    pub instances: Vec<Arc<DesiredInstance>>,
    /// Every (service, instance) in this cluster's marathon files, deployed or not, rendered or
    /// not: their apps are never cleaned up.
    pub configured: BTreeSet<(String, String)>,
    /// Services whose config could not be read at all: their apps are never touched.
    pub unknown_services: BTreeSet<String>,
    /// False when the soa dir itself could not be listed: no cleanup at all.
    pub complete: bool,
}

/// What one pass will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Per-instance bounce/scale plans, in service.instance order (shared with the memo and
    /// the next pass that reuses them).
    pub instances: Vec<Arc<InstancePlan>>,
    /// Cleanup of removed instances.
    pub cleanup: CleanupPlan,
}

impl Plan {
    /// Whether the plan does anything.
    pub fn is_empty(&self) -> bool {
        self.instances.iter().all(|p| p.actions.is_empty()) && self.cleanup.actions.is_empty()
    }
}

/// Plans a pass.
pub fn plan(desired: &Desired, observed: &Observed, policy: CleanupPolicy) -> Plan {
    plan_with_memo(desired, observed, policy, &mut PlanMemo::new())
}

/// Plans a pass, reusing the plans of settled instances whose inputs did not change since the
/// pass that left `memo` (see [`PlanMemo`]); the result equals [`plan`]'s.
pub fn plan_with_memo(
    desired: &Desired,
    observed: &Observed,
    policy: CleanupPolicy,
    memo: &mut PlanMemo,
) -> Plan {
    // An instance's apps are one range of the apps sorted by id (as every pass's are).
    let apps = galley_common::observed::sorted_by_id(&observed.apps);
    let mut instances = memo::plan_instances(&desired.instances, &apps, observed, memo);
    instances.sort_by(|a, b| (&a.service, &a.instance).cmp(&(&b.service, &b.instance)));
    let cleanup = plan_cleanup(
        &observed.apps,
        &desired.configured,
        &desired.unknown_services,
        desired.complete,
        policy,
    );
    Plan { instances, cleanup }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for p in self
            .instances
            .iter()
            .filter(|p| !p.actions.is_empty() || !p.waiting_on.is_empty())
        {
            writeln!(f, "{p}")?;
            any = true;
        }
        for a in &self.cleanup.actions {
            writeln!(f, "cleanup: {a}")?;
            any = true;
        }
        if let Some(r) = &self.cleanup.refused {
            writeln!(f, "cleanup refused: {r}")?;
            any = true;
        }
        if !any {
            writeln!(f, "nothing to do")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
