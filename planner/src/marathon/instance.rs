//! The plan for one service.instance (spec §3.5 steps 3–9): find the new and old apps, classify
//! their tasks, scale the new app, run the bounce method, and turn its decision into create /
//! drain / kill / delete actions. A pure function of desired and observed state, so a bounce
//! survives restarts: each pass recomputes where it is.

use std::collections::{BTreeMap, BTreeSet};

use galley_common::observed::{ObservedApp, ObservedTask};

use super::bounce::{BounceInput, TasksByApp, decide};
use super::happy::is_happy;
use super::model::{
    Action, BounceProgress, DeleteReason, DesiredInstance, DrainKind, DrainState, InstancePlan,
    Observed,
};

/// Plans one instance. `related` are the apps whose id starts with `/<short id>.`.
pub fn plan_instance(
    desired: &DesiredInstance,
    related: &[&ObservedApp],
    observed: &Observed,
) -> InstancePlan {
    let mut plan = InstancePlan {
        service: desired.service.clone(),
        instance: desired.instance.clone(),
        app_id: desired.app_id.clone(),
        bounce_method: Some(desired.bounce_method),
        ..Default::default()
    };
    let new_app = related.iter().copied().find(|a| a.id == desired.app_id);
    let old_apps: Vec<&ObservedApp> = related
        .iter()
        .copied()
        .filter(|a| a.id != desired.app_id)
        .collect();
    let drain = |t: &ObservedTask| match desired.drain {
        DrainKind::Noop => DrainState::default(),
        DrainKind::Hacheck => observed.drain.get(&t.id).copied().unwrap_or_default(),
    };

    // Old tasks by state; every old app is a key of old_happy (as in PaaSTA) even with no tasks.
    let mut old_happy = TasksByApp::new();
    let mut old_unhappy = TasksByApp::new();
    let mut old_draining = TasksByApp::new();
    for app in &old_apps {
        old_happy.entry(app.id.clone()).or_default();
        for t in &app.tasks {
            let bucket = if drain(t).draining {
                &mut old_draining
            } else if is_happy(app, t, desired.happy, observed.now) {
                &mut old_happy
            } else {
                &mut old_unhappy
            };
            bucket
                .entry(app.id.clone())
                .or_default()
                .insert(t.id.clone());
        }
    }

    // The new app: scale up, or shed surplus tasks into the old maps (under its own id).
    let mut happy_new = 0usize;
    if let Some(app) = new_app {
        if app.instances < desired.instances {
            plan.actions.push(Action::ScaleApp {
                app_id: app.id.clone(),
                instances: desired.instances,
            });
        }
        let shed = shed_surplus(app, desired, observed, &drain);
        let mut stop_draining = Vec::new();
        for t in &app.tasks {
            if shed.contains(&t.id) {
                let bucket = if drain(t).draining {
                    &mut old_draining
                } else if is_happy(app, t, desired.happy, observed.now) {
                    &mut old_happy
                } else {
                    &mut old_unhappy
                };
                bucket
                    .entry(app.id.clone())
                    .or_default()
                    .insert(t.id.clone());
            } else {
                if is_happy(app, t, desired.happy, observed.now) {
                    happy_new += 1;
                }
                if drain(t).draining {
                    stop_draining.push(t.id.clone());
                }
            }
        }
        if !stop_draining.is_empty() {
            plan.actions.push(Action::StopDraining {
                app_id: app.id.clone(),
                task_ids: stop_draining,
            });
        }
    }

    // The shed tasks of the new app count as "old" for draining, but not as an old app.
    let mut bounce_happy = old_happy.clone();
    let mut bounce_unhappy = old_unhappy.clone();
    if let Some(app) = new_app {
        bounce_happy.remove(&app.id);
        bounce_unhappy.remove(&app.id);
    }
    let decision = decide(
        desired.bounce_method,
        BounceInput {
            instances: desired.instances,
            new_app_running: new_app.is_some(),
            happy_new,
            old_happy: &bounce_happy,
            old_unhappy: &bounce_unhappy,
            margin_factor: desired.bounce_margin_factor,
        },
    );
    let mut to_drain = decision.tasks_to_drain;
    // Surplus tasks of the new app always go, whatever the bounce method says.
    if let Some(app) = new_app {
        for map in [&old_happy, &old_unhappy] {
            for t in map.get(&app.id).into_iter().flatten() {
                to_drain.insert((app.id.clone(), t.clone()));
            }
        }
    }

    plan.bouncing = new_app.is_none() || !old_apps.is_empty();
    if plan.bouncing {
        let count = |m: &TasksByApp| m.values().map(BTreeSet::len).sum::<usize>();
        plan.progress = Some(BounceProgress {
            method: desired.bounce_method,
            new_exists: new_app.is_some(),
            to_bring_up: (desired.instances as usize).saturating_sub(happy_new),
            old_happy: count(&old_happy),
            old_unhappy: count(&old_unhappy),
            old_draining: count(&old_draining),
            old_apps: old_apps.len(),
        });
    }
    if decision.create_app && new_app.is_none() {
        plan.actions.insert(
            0,
            Action::CreateApp {
                app_id: desired.app_id.clone(),
            },
        );
    }
    drain_and_kill(
        &mut plan,
        desired.drain,
        related,
        observed,
        &to_drain,
        &old_draining,
        &old_apps,
    );
    // Pushed one by one, the actions had room for four (224 bytes) where one is the rule.
    plan.actions.shrink_to_fit();
    plan
}

/// The new app's tasks beyond the desired count: draining first, then unhappy, then happy.
fn shed_surplus(
    app: &ObservedApp,
    desired: &DesiredInstance,
    observed: &Observed,
    drain: &impl Fn(&ObservedTask) -> DrainState,
) -> BTreeSet<String> {
    let k =
        (app.tasks.len().min(app.instances as usize)).saturating_sub(desired.instances as usize);
    let mut ranked: Vec<&ObservedTask> = app.tasks.iter().collect();
    ranked.sort_by_key(|t| {
        let rank = if drain(t).draining {
            0
        } else if !is_happy(app, t, desired.happy, observed.now) {
            1
        } else {
            2
        };
        (rank, t.id.clone())
    });
    ranked.into_iter().take(k).map(|t| t.id.clone()).collect()
}

/// Drain what the bounce chose, kill what is drained and safe, delete old apps left empty.
fn drain_and_kill(
    plan: &mut InstancePlan,
    drain_kind: DrainKind,
    related: &[&ObservedApp],
    observed: &Observed,
    to_drain: &BTreeSet<(String, String)>,
    old_draining: &TasksByApp,
    old_apps: &[&ObservedApp],
) {
    // noop: never draining, always safe. hacheck: what it reported; unknown = not safe.
    let state = |id: &str| match drain_kind {
        DrainKind::Noop => DrainState {
            draining: false,
            safe_to_kill: true,
        },
        DrainKind::Hacheck => observed.drain.get(id).copied().unwrap_or_default(),
    };
    let mut drain_by_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut kill_by_app: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (app, task) in to_drain {
        let s = state(task);
        // A noop drain has nothing to do; only a real drain method is told.
        if !s.draining && drain_kind == DrainKind::Hacheck {
            drain_by_app
                .entry(app.clone())
                .or_default()
                .push(task.clone());
        }
        if s.safe_to_kill {
            kill_by_app
                .entry(app.clone())
                .or_default()
                .insert(task.clone());
        }
    }
    for (app, tasks) in old_draining {
        for t in tasks {
            if state(t).safe_to_kill {
                kill_by_app
                    .entry(app.clone())
                    .or_default()
                    .insert(t.clone());
            }
        }
    }
    let in_flight: BTreeSet<&str> = related
        .iter()
        .filter(|a| !a.deployments.is_empty())
        .map(|a| a.id.as_str())
        .collect();
    for (app_id, task_ids) in drain_by_app {
        plan.actions.push(Action::Drain { app_id, task_ids });
    }
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for app in old_apps {
        let tasks: BTreeSet<String> = app.tasks.iter().map(|t| t.id.clone()).collect();
        let kills = kill_by_app.get(&app.id).cloned().unwrap_or_default();
        if tasks.is_subset(&kills) {
            // Deleting removes its tasks; a deployment in flight on it is cancelled with it.
            deleted.insert(app.id.as_str());
        }
    }
    for (app_id, task_ids) in kill_by_app {
        if deleted.contains(app_id.as_str()) {
            continue;
        }
        if in_flight.contains(app_id.as_str()) {
            plan.waiting_on.insert(app_id);
            continue;
        }
        plan.actions.push(Action::KillTasks {
            app_id,
            task_ids: task_ids.into_iter().collect(),
        });
    }
    // Scaling a locked new app waits too.
    plan.actions.retain(|a| match a {
        Action::ScaleApp { app_id, .. } if in_flight.contains(app_id.as_str()) => {
            plan.waiting_on.insert(app_id.clone());
            false
        }
        _ => true,
    });
    for app in old_apps {
        if deleted.contains(app.id.as_str()) {
            plan.actions.push(Action::DeleteApp {
                app_id: app.id.clone(),
                reason: DeleteReason::Bounced,
            });
        }
    }
}
