//! Deployment plans and their step-by-step execution (§2): StartApplication, ScaleApplication,
//! RestartApplication (TaskReplaceActor arithmetic) and StopApplication.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::lifecycle::Scope;
use super::model::config_differs;
use super::script::HistoryKind;
use super::state::Cluster;

/// One app change a plan is computed from.
#[derive(Debug, Clone)]
pub struct Change {
    pub app_id: String,
    pub original: Option<Map<String, Value>>,
    pub target: Option<Map<String, Value>>,
    /// Force a RestartApplication (POST /restart).
    pub restart: bool,
    /// Tasks chosen for killing (kill-and-scale).
    pub victims: Vec<String>,
}

/// Runtime state of a RestartApplication.
#[derive(Debug, Clone)]
pub struct RestartState {
    pub max_capacity: i64,
    pub healthy_seen: BTreeSet<String>,
}

/// Runtime state of a ScaleApplication, as Marathon 1.4's `DeploymentActor.scaleRunnable`
/// and `TaskStartActor` keep it (`src/main/scala/mesosphere/marathon/upgrade/`, tag v1.4.13).
#[derive(Debug, Clone)]
pub struct ScaleState {
    /// The tasks killed to scale down; the action waits until Mesos confirms each kill.
    pub killed: Vec<String>,
    /// Tasks launched from here on (`seq` at least this) are the ones the action started.
    pub first_new_seq: u64,
    /// `TaskStartActor.nrToStart`: scale target minus the instances already launched or
    /// queued, whatever their version. The action is done once this many new tasks are ready
    /// (`StartingBehavior.checkFinished`); tasks of an older version do not hold it up.
    pub to_start: u32,
}

/// An action inside a step.
#[derive(Debug, Clone)]
pub enum ActionKind {
    Start,
    Scale {
        instances: u32,
        /// Tasks chosen for killing by the caller (kill-and-scale).
        victims: Vec<String>,
        state: Option<ScaleState>,
    },
    Restart {
        state: Option<RestartState>,
    },
    Stop,
}

impl ActionKind {
    fn name(&self) -> &'static str {
        match self {
            ActionKind::Start => "StartApplication",
            ActionKind::Scale { .. } => "ScaleApplication",
            ActionKind::Restart { .. } => "RestartApplication",
            ActionKind::Stop => "StopApplication",
        }
    }
}

/// One action of a step.
#[derive(Debug, Clone)]
pub struct Action {
    pub app: String,
    pub kind: ActionKind,
    pub done: bool,
}

/// A running deployment plan.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub version: String,
    pub affected: Vec<String>,
    pub steps: Vec<Vec<Action>>,
    /// 0-based index of the current step.
    pub current: usize,
    /// Tasks launched from here on (`seq` at least this) belong to the current step.
    pub step_first_seq: u64,
    /// App definitions before the deployment (`None`: did not exist), for rollback.
    pub original: BTreeMap<String, Option<Map<String, Value>>>,
}

/// Computes the plan's steps for a set of changes (empty steps dropped).
pub fn plan_steps(changes: &[Change]) -> Vec<Vec<Action>> {
    let action = |app: &str, kind| Action {
        app: app.to_string(),
        kind,
        done: false,
    };
    let mut stops = Vec::new();
    let mut starts = Vec::new();
    let mut rest = Vec::new();
    for c in changes {
        match (&c.original, &c.target) {
            (Some(_), None) => stops.push(action(&c.app_id, ActionKind::Stop)),
            (None, Some(t)) => {
                starts.push(action(&c.app_id, ActionKind::Start));
                let instances = instances_of(t);
                rest.push(action(
                    &c.app_id,
                    ActionKind::Scale {
                        instances,
                        victims: vec![],
                        state: None,
                    },
                ));
            }
            // `DeploymentPlan.dependencyOrderedSteps`: a scale-only change or a target with
            // no instances scales (killing the chosen tasks), a runtime change restarts, and
            // an unchanged app needs no action (a kill-and-scale of tasks already being
            // killed changes nothing).
            (Some(o), Some(t)) => {
                let instances = instances_of(t);
                if (c.restart || config_differs(o, t)) && instances > 0 {
                    rest.push(action(&c.app_id, ActionKind::Restart { state: None }));
                } else if c.restart || config_differs(o, t) || instances_of(o) != instances {
                    let victims = c.victims.clone();
                    rest.push(action(
                        &c.app_id,
                        ActionKind::Scale {
                            instances,
                            victims,
                            state: None,
                        },
                    ));
                }
            }
            (None, None) => {}
        }
    }
    [stops, starts, rest]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

fn instances_of(app: &Map<String, Value>) -> u32 {
    app.get("instances")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

impl Deployment {
    /// `steps`: `{"actions": [{"action", "app"}]}` per step (`DeploymentStepWrites`).
    pub fn steps_json(&self) -> Value {
        Value::Array(self.steps.iter().map(|s| step_json(s)).collect())
    }

    /// The current step as deployment events carry it (`DeploymentStatus.currentStep`,
    /// `DeploymentStepSuccess.currentStep`: a `DeploymentStep`).
    pub fn current_step_json(&self) -> Value {
        self.steps
            .get(self.current)
            .map_or_else(|| json!({ "actions": [] }), |s| step_json(s))
    }

    /// The `plan` object of deployment events (root groups reduced to the affected apps).
    pub fn plan_json(&self, target: &BTreeMap<String, Value>) -> Value {
        let group = |apps: Vec<Value>| json!({ "id": "/", "apps": apps, "pods": [], "groups": [], "dependencies": [], "version": self.version });
        let original = self
            .original
            .values()
            .flatten()
            .map(|m| Value::Object(m.clone()))
            .collect();
        json!({
            "id": self.id, "original": group(original), "target": group(target.values().cloned().collect()),
            "steps": self.steps_json(), "version": self.version,
        })
    }
}

fn step_json(step: &[Action]) -> Value {
    let actions: Vec<Value> = step
        .iter()
        .map(|a| json!({ "action": a.kind.name(), "app": a.app }))
        .collect();
    json!({ "actions": actions })
}

impl Cluster {
    /// A `GET /v2/deployments` element (`DeploymentStepInfoWrites`): the current step's
    /// actions carry their app's readiness check results.
    pub fn deployment_json(&self, d: &Deployment) -> Value {
        let current: Vec<Value> = d.steps.get(d.current).map_or(Vec::new(), |s| {
            s.iter()
                .map(|a| {
                    let readiness = self.step_readiness_results(d, &a.app);
                    json!({ "action": a.kind.name(), "app": a.app, "readinessCheckResults": readiness })
                })
                .collect()
        });
        json!({
            "id": d.id, "version": d.version, "affectedApps": d.affected, "affectedPods": [],
            "steps": d.steps_json(), "currentActions": current,
            "currentStep": (d.current + 1).min(d.steps.len().max(1)), "totalSteps": d.steps.len(),
        })
    }

    fn plan_of(&self, d: &Deployment) -> Value {
        let target = d
            .affected
            .iter()
            .filter_map(|id| {
                self.apps
                    .get(id)
                    .map(|a| (id.clone(), Value::Object(a.def.clone())))
            })
            .collect();
        d.plan_json(&target)
    }

    /// Announces a new deployment (already pushed to `self.deployments`).
    pub fn announce_deployment(&mut self, ix: usize) {
        let d = self.deployments[ix].clone();
        let plan = self.plan_of(&d);
        self.emit(
            "deployment_info",
            json!({ "plan": plan, "currentStep": d.current_step_json() }),
        );
        self.record(HistoryKind::DeploymentStarted {
            id: d.id.clone(),
            apps: d.affected.clone(),
        });
    }

    /// Cancels a deployment (force override or DELETE ?force=true).
    pub fn cancel_deployment(&mut self, id: &str) -> Option<Deployment> {
        let ix = self.deployments.iter().position(|d| d.id == id)?;
        let d = self.deployments.remove(ix);
        let plan = self.plan_of(&d);
        self.emit("deployment_failed", json!({ "id": d.id, "plan": plan }));
        self.record(HistoryKind::DeploymentEnded {
            id: d.id.clone(),
            success: false,
        });
        Some(d)
    }

    /// Advances every deployment in `scope` as far as its actions allow.
    pub fn progress_deployments(&mut self, scope: Scope) {
        let running = std::mem::take(&mut self.deployments);
        let mut keep = Vec::new();
        for mut d in running {
            if !d.affected.is_empty() && !d.affected.iter().any(|a| scope.has(a)) {
                keep.push(d);
                continue;
            }
            loop {
                if d.current >= d.steps.len() {
                    let plan = self.plan_of(&d);
                    self.emit("deployment_success", json!({ "id": d.id, "plan": plan }));
                    self.record(HistoryKind::DeploymentEnded {
                        id: d.id.clone(),
                        success: true,
                    });
                    break;
                }
                let mut step = std::mem::take(&mut d.steps[d.current]);
                let mut all_done = true;
                for a in &mut step {
                    if !a.done {
                        a.done = self.run_action(a);
                    }
                    all_done &= a.done;
                }
                d.steps[d.current] = step;
                if !all_done {
                    keep.push(d);
                    break;
                }
                let plan = self.plan_of(&d);
                let current = d.current_step_json();
                self.emit(
                    "deployment_step_success",
                    json!({ "plan": plan.clone(), "currentStep": current }),
                );
                d.current += 1;
                d.step_first_seq = self.next_seq;
                if d.current < d.steps.len() {
                    let current = d.current_step_json();
                    self.emit(
                        "deployment_info",
                        json!({ "plan": plan, "currentStep": current }),
                    );
                }
            }
        }
        keep.append(&mut self.deployments);
        self.deployments = keep;
    }

    /// Runs one action once; true when it has finished.
    fn run_action(&mut self, a: &mut Action) -> bool {
        let app_id = a.app.clone();
        match &mut a.kind {
            ActionKind::Start => true,
            ActionKind::Stop => {
                self.apps.remove(&app_id);
                self.held_ports.release(&app_id);
                self.touch(&app_id);
                let ids: Vec<String> = self
                    .app_tasks(&app_id)
                    .iter()
                    .map(|t| t.id.clone())
                    .collect();
                for id in ids {
                    self.kill_task(&id, "app deleted");
                }
                self.emit("app_terminated_event", json!({ "appId": app_id }));
                true
            }
            ActionKind::Scale {
                instances,
                victims,
                state,
            } => {
                if !self.apps.contains_key(&app_id) {
                    return true;
                }
                let st = match state {
                    Some(st) => st,
                    None => state.insert(self.start_scale(&app_id, *instances, victims)),
                };
                self.scale_progress(&app_id, *instances, st)
            }
            ActionKind::Restart { state } => self.restart_progress(&app_id, state),
        }
    }
}
