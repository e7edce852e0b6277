//! Plans proportional to change: a pass plans again only the instances whose inputs changed.
//!
//! An instance is *settled* when Marathon holds exactly one app of it, that app is the desired
//! one, and it has no more tasks than wanted. Its plan is then a function of the desired
//! instance and that app alone: with no old app and no surplus there is nothing to drain (the
//! coordinator asks hacheck nothing for it) and nothing whose happiness the bounce weighs, so
//! neither the drain states nor the clock can change it. Such a plan is kept with the exact
//! inputs it came from (the app by `Arc` identity: the Marathon view shares unchanged apps
//! between snapshots), and the next pass reuses it while both are the same. Anything else is
//! planned afresh every pass.
//!
//! At 50,000 instances this makes a steady pass's planning a lookup per instance instead of a
//! bounce decision per instance; an event that changes one app re-plans that app's instance.

use std::collections::HashMap;
use std::sync::Arc;

use galley_common::observed::ObservedApp;

use super::instance::plan_instance;
use super::model::{DesiredInstance, InstancePlan, Observed};

/// Settled instances' plans from the last pass, by desired app id.
#[derive(Debug, Default)]
pub struct PlanMemo {
    settled: HashMap<String, Settled>,
    /// Instances reused and planned by the last pass (for metrics and tests).
    pub last_reused: usize,
    /// Instances planned afresh by the last pass.
    pub last_planned: usize,
}

#[derive(Debug)]
struct Settled {
    desired: DesiredInstance,
    app: Arc<ObservedApp>,
    plan: InstancePlan,
}

impl PlanMemo {
    /// An empty memo (the first pass plans everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Instances whose plans are kept.
    pub fn len(&self) -> usize {
        self.settled.len()
    }

    /// Whether no plan is kept.
    pub fn is_empty(&self) -> bool {
        self.settled.is_empty()
    }
}

/// The one app of a settled instance, if `related` makes it settled.
fn settled_app<'a>(
    desired: &DesiredInstance,
    related: &[&'a Arc<ObservedApp>],
) -> Option<&'a Arc<ObservedApp>> {
    match related {
        [app] if app.id == desired.app_id && app.tasks.len() <= desired.instances as usize => {
            Some(app)
        }
        _ => None,
    }
}

/// Plans every desired instance, reusing the settled plans of `memo` whose inputs are
/// unchanged, and leaves in `memo` the settled plans of this pass (instances gone from
/// `desired` are forgotten). `related_of` gives each instance's apps.
pub(super) fn plan_instances<'a>(
    desired: &[DesiredInstance],
    observed: &Observed,
    memo: &mut PlanMemo,
    related_of: impl Fn(&DesiredInstance) -> Vec<&'a Arc<ObservedApp>>,
) -> Vec<InstancePlan> {
    let mut kept = HashMap::with_capacity(memo.settled.len());
    let (mut reused, mut planned) = (0, 0);
    let plans = desired
        .iter()
        .map(|d| {
            let related = related_of(d);
            let app = settled_app(d, &related);
            if let (Some(app), Some(prev)) = (app, memo.settled.remove(&d.app_id))
                && Arc::ptr_eq(app, &prev.app)
                && prev.desired == *d
            {
                reused += 1;
                let plan = prev.plan.clone();
                kept.insert(d.app_id.clone(), prev);
                return plan;
            }
            planned += 1;
            let refs: Vec<&ObservedApp> = related.iter().map(|a| &***a).collect();
            let plan = plan_instance(d, &refs, observed);
            if let Some(app) = app {
                let settled = Settled {
                    desired: d.clone(),
                    app: Arc::clone(app),
                    plan: plan.clone(),
                };
                kept.insert(d.app_id.clone(), settled);
            }
            plan
        })
        .collect();
    memo.settled = kept;
    memo.last_reused = reused;
    memo.last_planned = planned;
    plans
}

#[cfg(test)]
mod tests;
