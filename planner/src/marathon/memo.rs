//! Plans proportional to change: a pass plans again only the instances whose inputs changed.
//!
//! An instance is *settled* when Marathon holds exactly one app of it, that app is the desired
//! one, it has no more tasks than wanted, and (with hacheck) no drain state is known for its
//! tasks. Its plan is then a function of the desired instance and that app alone: with no old
//! app and no surplus there is nothing to drain (the coordinator asks hacheck nothing for it)
//! and nothing whose happiness the bounce weighs, so neither the drain states nor the clock can
//! change it. (The property test found the drain condition: a draining task of the new app is
//! put back, whatever else holds.) Such a plan is kept with the exact
//! inputs it came from (the app by `Arc` identity: the Marathon view shares unchanged apps
//! between snapshots), and the next pass reuses it while both are the same. Anything else is
//! planned afresh every pass.
//!
//! At 50,000 instances this makes a steady pass's planning a lookup per instance instead of a
//! bounce decision per instance; an event that changes one app re-plans that app's instance.

use std::sync::Arc;

use galley_common::observed::{ObservedApp, prefix_range};

use super::instance::plan_instance;
use super::model::{DesiredInstance, DrainKind, InstancePlan, Observed};

/// Settled instances' plans from the last pass, by position in the desired instances (an
/// entry whose desired instance moved or changed is simply not reused).
#[derive(Debug, Default)]
pub struct PlanMemo {
    settled: Vec<Option<Box<Settled>>>,
    /// Instances reused and planned by the last pass (for metrics and tests).
    pub last_reused: usize,
    /// Instances planned afresh by the last pass.
    pub last_planned: usize,
}

#[derive(Debug)]
struct Settled {
    /// Shared with the desired state it came from (compared by pointer first).
    desired: Arc<DesiredInstance>,
    app: Arc<ObservedApp>,
    /// Where `app` was in the last pass's sorted apps: the first place to look for it.
    at: usize,
    plan: Arc<InstancePlan>,
}

impl PlanMemo {
    /// An empty memo (the first pass plans everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Instances whose plans are kept.
    pub fn len(&self) -> usize {
        self.settled.iter().flatten().count()
    }

    /// Whether no plan is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The one app of a settled instance, if `related` and the drain states make it settled: a
/// hacheck instance is settled only while no task of it has a drain state (its plan would put
/// a draining task back).
fn settled_app<'a>(
    desired: &DesiredInstance,
    related: &'a [Arc<ObservedApp>],
    observed: &Observed,
) -> Option<&'a Arc<ObservedApp>> {
    let undrained = |app: &ObservedApp| match desired.drain {
        DrainKind::Noop => true,
        DrainKind::Hacheck => app
            .tasks
            .iter()
            .all(|t| !observed.drain.contains_key(&t.id)),
    };
    match related {
        [app]
            if app.id == desired.app_id
                && app.tasks.len() <= desired.instances as usize
                && undrained(app) =>
        {
            Some(app)
        }
        _ => None,
    }
}

/// Whether the apps whose ids start with `prefix` are exactly `apps[at]`, which is `app`: the
/// check of a kept plan's one app without a search (`apps` sorted by id, so the apps of a
/// prefix are one range and the neighbours decide).
fn alone_at(apps: &[Arc<ObservedApp>], at: usize, app: &Arc<ObservedApp>, prefix: &str) -> bool {
    apps.get(at).is_some_and(|a| Arc::ptr_eq(a, app))
        && (at == 0 || !apps[at - 1].id.starts_with(prefix))
        && apps.get(at + 1).is_none_or(|a| !a.id.starts_with(prefix))
}

/// Plans every desired instance, reusing the settled plans of `memo` whose inputs are
/// unchanged, and leaves in `memo` the settled plans of this pass. `apps` are the pass's apps
/// sorted by id.
///
/// A kept plan is reused when its desired instance is equal and its one app is the same
/// (`Arc`) and still alone in its range. The app is looked for where it was last pass, shifted
/// by how far the last found app had moved (apps added or removed before it), and searched for
/// only when it is not there: a steady pass does no search at all.
pub(super) fn plan_instances(
    desired: &[Arc<DesiredInstance>],
    apps: &[Arc<ObservedApp>],
    observed: &Observed,
    memo: &mut PlanMemo,
) -> Vec<Arc<InstancePlan>> {
    let mut previous = std::mem::take(&mut memo.settled);
    previous.resize_with(desired.len(), || None);
    let (mut reused, mut planned) = (0, 0);
    let mut shift: isize = 0;
    let mut kept = Vec::with_capacity(desired.len());
    let plans = desired
        .iter()
        .zip(previous)
        .map(|(d, prev)| {
            if let Some(mut prev) = prev
                && (Arc::ptr_eq(&prev.desired, d) || prev.desired == *d)
            {
                let hint = prev.at.checked_add_signed(shift);
                let prefix = prev.desired.apps_prefix();
                let at = match hint {
                    Some(at) if alone_at(apps, at, &prev.app, &prefix) => Some(at),
                    _ => {
                        let range = prefix_range(apps, &prefix);
                        (range.len() == 1 && Arc::ptr_eq(&apps[range.start], &prev.app))
                            .then_some(range.start)
                    }
                };
                if let Some(at) = at
                    && settled_app(d, std::slice::from_ref(&apps[at]), observed).is_some()
                {
                    shift = at as isize - prev.at as isize;
                    prev.at = at;
                    reused += 1;
                    let plan = Arc::clone(&prev.plan);
                    kept.push(Some(prev));
                    return plan;
                }
            }
            planned += 1;
            let range = prefix_range(apps, &d.apps_prefix());
            let related = &apps[range.clone()];
            let refs: Vec<&ObservedApp> = related.iter().map(|a| &**a).collect();
            let plan = Arc::new(plan_instance(d, &refs, observed));
            kept.push(settled_app(d, related, observed).map(|app| {
                Box::new(Settled {
                    desired: Arc::clone(d),
                    app: Arc::clone(app),
                    at: range.start,
                    plan: Arc::clone(&plan),
                })
            }));
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
