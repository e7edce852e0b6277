//! Carries out a [`Plan`] against Marathon. It makes no decisions: it runs each instance's
//! actions in order, stops that instance at its first failure (so a failed create never leads
//! to killing old tasks), keeps going with the other instances, and reports what happened as
//! data (results and deploy-log events) for the reconciler to record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use galley_common::observed::ObservedApp;

use crate::error_chain::ErrorChain;
use crate::marathon::{MarathonApi, MarathonError};
use crate::observed::hacheck::Hacheck;
use crate::plan::{Action, DeleteReason, DesiredInstance, InstancePlan, Plan};

/// Limits on destructive actions in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyBudget {
    /// Apps deleted by cleanup (removed instances).
    pub max_cleanup_deletes: usize,
    /// Tasks killed across all bounces.
    pub max_task_kills: usize,
}

/// A line for the deploy log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyEvent {
    /// Service.
    pub service: String,
    /// Instance.
    pub instance: String,
    /// `event` (operator-visible) or `debug`.
    pub level: &'static str,
    /// Text, in PaaSTA's words where it had them.
    pub message: String,
}

/// How one instance's actions went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceOutcome {
    /// Every action succeeded.
    Done {
        /// Actions carried out.
        actions: usize,
    },
    /// An app was locked by a deployment: the rest waits for a later pass.
    Waiting {
        /// What was locked.
        detail: String,
    },
    /// An action failed; the rest of this instance's actions were skipped.
    Failed {
        /// The failing action and error chain.
        error: String,
    },
    /// Skipped because the pass's kill budget was used up.
    OverBudget,
}

/// The result of applying a plan.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Per (service, instance) that had actions.
    pub instances: BTreeMap<(String, String), InstanceOutcome>,
    /// Cleanup deletes carried out.
    pub deleted: Vec<String>,
    /// Cleanup errors.
    pub cleanup_errors: Vec<String>,
    /// Deploy-log events.
    pub events: Vec<ApplyEvent>,
    /// Counts by kind, for metrics: created, scaled, killed tasks, deleted apps.
    pub created: usize,
    /// Apps scaled.
    pub scaled: usize,
    /// Tasks killed.
    pub tasks_killed: usize,
    /// Old apps deleted by bounces.
    pub bounced_deleted: usize,
}

/// What apply needs besides the plan: app definitions (for `CreateApp`), the observed tasks
/// and the drain backend (for `Drain`/`StopDraining`).
pub struct ApplyContext<'a> {
    /// Desired instances of the pass.
    pub desired: &'a [std::sync::Arc<DesiredInstance>],
    /// Observed apps of the pass.
    pub apps: &'a [std::sync::Arc<ObservedApp>],
    /// hacheck client.
    pub hacheck: &'a Hacheck,
    /// The pass's "now".
    pub now: DateTime<Utc>,
}

/// Applies `plan`.
pub async fn apply<M: MarathonApi>(
    marathon: &M,
    plan: &Plan,
    ctx: &ApplyContext<'_>,
    budget: ApplyBudget,
) -> ApplyReport {
    let by_app: BTreeMap<&str, &DesiredInstance> = ctx
        .desired
        .iter()
        .map(|d| (d.app_id.as_str(), &**d))
        .collect();
    let mut report = ApplyReport::default();
    let mut kills_left = budget.max_task_kills;
    for ip in plan.instances.iter().filter(|p| !p.actions.is_empty()) {
        let kills: usize = ip
            .actions
            .iter()
            .map(|a| {
                if let Action::KillTasks { task_ids, .. } = a {
                    task_ids.len()
                } else {
                    0
                }
            })
            .sum();
        let key = (ip.service.clone(), ip.instance.clone());
        if kills > kills_left {
            report.instances.insert(key, InstanceOutcome::OverBudget);
            continue;
        }
        kills_left -= kills;
        let outcome = apply_instance(marathon, ip, &by_app, ctx, &mut report).await;
        report.instances.insert(key, outcome);
    }
    apply_cleanup(marathon, plan, budget, &mut report).await;
    report
}

async fn apply_instance<M: MarathonApi>(
    marathon: &M,
    ip: &InstancePlan,
    by_app: &BTreeMap<&str, &DesiredInstance>,
    ctx: &ApplyContext<'_>,
    report: &mut ApplyReport,
) -> InstanceOutcome {
    let event = |level, message: String| ApplyEvent {
        service: ip.service.clone(),
        instance: ip.instance.clone(),
        level,
        message,
    };
    let mut done = 0;
    for action in &ip.actions {
        let result = match action {
            Action::CreateApp { app_id } => match by_app.get(app_id.as_str()) {
                Some(d) => match marathon.create_app(&d.app.to_value()).await {
                    Err(MarathonError::Status { status: 409, .. }) => Ok(()), // already exists: fine
                    other => other.map(|()| report.created += 1),
                },
                None => Ok(()),
            },
            Action::ScaleApp { app_id, instances } => marathon
                .scale_app(app_id, *instances, false)
                .await
                .map(|()| report.scaled += 1),
            Action::KillTasks { task_ids, .. } => marathon
                .kill_tasks(task_ids, true, false)
                .await
                .map(|()| report.tasks_killed += task_ids.len()),
            Action::DeleteApp { app_id, .. } => match marathon.delete_app(app_id).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other.map(|()| report.bounced_deleted += 1),
            },
            Action::Drain { task_ids, .. } | Action::StopDraining { task_ids, .. } => {
                let drain = matches!(action, Action::Drain { .. });
                match drain_tasks(
                    ctx,
                    by_app.get(ip.app_id.as_str()).copied(),
                    task_ids,
                    drain,
                )
                .await
                {
                    Ok(()) => Ok(()),
                    Err(error) => {
                        report
                            .events
                            .push(event("event", format!("Failed to {action}: {error}")));
                        return InstanceOutcome::Failed {
                            error: format!("{action}: {error}"),
                        };
                    }
                }
            }
        };
        match result {
            Ok(()) => {
                done += 1;
                report.events.push(event("debug", format!("{action}")));
            }
            Err(MarathonError::Locked { deployments, .. }) => {
                return InstanceOutcome::Waiting {
                    detail: format!("{action}: locked by deployments {deployments:?}"),
                };
            }
            Err(e) => {
                let error = format!("{action}: {}", ErrorChain(&e));
                report
                    .events
                    .push(event("event", format!("Failed to {error}")));
                return InstanceOutcome::Failed { error };
            }
        }
    }
    if ip.bouncing && finished_bounce(ip) {
        let method = ip.bounce_method.map(|m| m.as_str()).unwrap_or("crossover");
        report.events.push(event(
            "event",
            format!(
                "{method} bounce on {}.{} finishing. Now running {}",
                ip.service,
                ip.instance,
                ip.app_id.trim_start_matches('/')
            ),
        ));
    }
    InstanceOutcome::Done { actions: done }
}

/// Tells hacheck to drain (or undrain) each task; the first failure is returned.
async fn drain_tasks(
    ctx: &ApplyContext<'_>,
    desired: Option<&DesiredInstance>,
    task_ids: &[String],
    drain: bool,
) -> Result<(), String> {
    let Some(params) = desired.and_then(|d| d.hacheck.as_ref()) else {
        return Err("no hacheck settings for this instance".into());
    };
    for id in task_ids {
        let Some(task) = ctx.apps.iter().flat_map(|a| &a.tasks).find(|t| &t.id == id) else {
            continue;
        };
        let result = if drain {
            ctx.hacheck.drain(task, params, ctx.now).await
        } else {
            ctx.hacheck.stop_draining(task, params).await
        };
        result.map_err(|e| ErrorChain(&e).to_string())?;
    }
    Ok(())
}

/// A bounce finishes when this pass deletes every old app.
fn finished_bounce(ip: &InstancePlan) -> bool {
    let deletes = ip
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::DeleteApp {
                    reason: DeleteReason::Bounced,
                    ..
                }
            )
        })
        .count();
    deletes > 0 && ip.progress.is_some_and(|p| p.old_apps == deletes)
}

async fn apply_cleanup<M: MarathonApi>(
    marathon: &M,
    plan: &Plan,
    budget: ApplyBudget,
    report: &mut ApplyReport,
) {
    for action in plan.cleanup.actions.iter().take(budget.max_cleanup_deletes) {
        let Action::DeleteApp { app_id, .. } = action else {
            continue;
        };
        let parsed = crate::plan::parse_app_id(app_id);
        let (service, instance) = parsed.map(|p| (p.service, p.instance)).unwrap_or_default();
        match marathon.delete_app(app_id).await {
            Ok(()) => {
                report.deleted.push(app_id.clone());
                report.events.push(ApplyEvent {
                    service,
                    instance,
                    level: "event",
                    message: format!(
                        "Deleted stale marathon job that looks lost: {}",
                        app_id.trim_start_matches('/')
                    ),
                });
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => report
                .cleanup_errors
                .push(format!("delete {app_id}: {}", ErrorChain(&e))),
        }
    }
    let over = plan
        .cleanup
        .actions
        .len()
        .saturating_sub(budget.max_cleanup_deletes);
    if over > 0 {
        report.cleanup_errors.push(format!(
            "{over} cleanup deletes deferred: over the per-pass budget of {}",
            budget.max_cleanup_deletes
        ));
    }
}
