//! Deployment plans and their step-by-step execution (§2): StartApplication, ScaleApplication,
//! RestartApplication (TaskReplaceActor arithmetic) and StopApplication.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::model::config_differs;
use super::script::HistoryKind;
use super::state::{Cluster, Task, TaskState};

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

/// An action inside a step.
#[derive(Debug, Clone)]
pub enum ActionKind {
    Start,
    Scale {
        instances: u32,
        victims: Vec<String>,
        initialized: bool,
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
                        initialized: false,
                    },
                ));
            }
            (Some(o), Some(t)) => {
                let instances = instances_of(t);
                if (c.restart || config_differs(o, t)) && instances > 0 {
                    rest.push(action(&c.app_id, ActionKind::Restart { state: None }));
                } else if c.restart
                    || config_differs(o, t)
                    || instances_of(o) != instances
                    || !c.victims.is_empty()
                {
                    let victims = c.victims.clone();
                    rest.push(action(
                        &c.app_id,
                        ActionKind::Scale {
                            instances,
                            victims,
                            initialized: false,
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
    /// GET /v2/deployments element (§1.5).
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| json!({ "actions": s.iter().map(|a| json!({ "action": a.kind.name(), "app": a.app })).collect::<Vec<_>>() }))
            .collect();
        let current: Vec<Value> = self.steps.get(self.current).map_or(Vec::new(), |s| {
            s.iter().map(|a| json!({ "action": a.kind.name(), "app": a.app, "readinessCheckResults": [] })).collect()
        });
        json!({
            "id": self.id, "version": self.version, "affectedApps": self.affected, "affectedPods": [],
            "steps": steps, "currentActions": current,
            "currentStep": (self.current + 1).min(self.steps.len().max(1)), "totalSteps": self.steps.len(),
        })
    }

    /// The `plan` object of deployment events (root groups reduced to the affected apps).
    pub fn plan_json(&self, target: &BTreeMap<String, Value>) -> Value {
        let group = |apps: Vec<Value>| json!({ "id": "/", "apps": apps, "groups": [], "dependencies": [], "version": self.version });
        let original = self
            .original
            .values()
            .flatten()
            .map(|m| Value::Object(m.clone()))
            .collect();
        json!({
            "id": self.id, "original": group(original), "target": group(target.values().cloned().collect()),
            "steps": self.to_json()["steps"].clone(), "version": self.version,
        })
    }
}

impl Cluster {
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
            json!({ "plan": plan, "currentStep": d.to_json()["currentActions"].clone() }),
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

    /// Advances every deployment as far as its actions allow.
    pub fn progress_deployments(&mut self) {
        let running = std::mem::take(&mut self.deployments);
        let mut keep = Vec::new();
        for mut d in running {
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
                let current = d.to_json()["currentActions"].clone();
                self.emit(
                    "deployment_step_success",
                    json!({ "plan": plan.clone(), "currentStep": current }),
                );
                d.current += 1;
                if d.current < d.steps.len() {
                    let current = d.to_json()["currentActions"].clone();
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
                initialized,
            } => {
                if !self.apps.contains_key(&app_id) {
                    return true;
                }
                if !*initialized {
                    *initialized = true;
                    *victims = self.start_scale(&app_id, *instances, victims);
                }
                self.scale_progress(&app_id, *instances, victims)
            }
            ActionKind::Restart { state } => self.restart_progress(&app_id, state),
        }
    }

    /// Kills for a ScaleApplication: the chosen victims, then more to get down to `n`.
    fn start_scale(&mut self, app_id: &str, n: u32, chosen: &[String]) -> Vec<String> {
        let active: Vec<String> = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| t.kill_at.is_none())
            .map(|t| t.id.clone())
            .collect();
        let mut victims: Vec<String> = chosen
            .iter()
            .filter(|v| active.contains(v))
            .cloned()
            .collect();
        let excess = active
            .len()
            .saturating_sub(n as usize)
            .saturating_sub(victims.len());
        let already = victims.clone();
        victims.extend(self.pick_victims(app_id, excess, |t| !already.contains(&t.id)));
        for v in &victims {
            self.kill_task(v, "scaling down");
        }
        victims
    }

    fn scale_progress(&mut self, app_id: &str, n: u32, victims: &[String]) -> bool {
        let now = self.now();
        let active = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| t.kill_at.is_none())
            .count() as u32;
        let Some(app) = self.apps.get(app_id) else {
            return true;
        };
        let has_health = app.spec.health.is_some();
        let config = app.config_version.clone();
        if active + app.queued < n
            && let Some(app) = self.apps.get_mut(app_id)
        {
            app.queued = n - active;
            app.queue_since.get_or_insert(now);
        }
        let ready = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| t.config_version == config && t.ready(has_health))
            .count();
        victims.iter().all(|v| !self.tasks.contains_key(v)) && ready >= n as usize
    }

    fn restart_progress(&mut self, app_id: &str, state: &mut Option<RestartState>) -> bool {
        let now = self.now();
        let Some(app) = self.apps.get(app_id) else {
            return true;
        };
        let (spec, config) = (app.spec.clone(), app.config_version.clone());
        let has_health = spec.health.is_some();
        let i = i64::from(spec.instances);
        if i == 0 {
            return true;
        }
        let is_old = move |t: &Task| t.config_version != config;
        let old_is = is_old.clone();
        if state.is_none() {
            let min_healthy = (i as f64 * spec.minimum_health_capacity).ceil() as i64;
            let mut max_capacity = (i as f64 * (1.0 + spec.maximum_over_capacity)).floor() as i64;
            let old_running = self
                .app_tasks(app_id)
                .iter()
                .filter(|t| is_old(t) && t.kill_at.is_none())
                .count() as i64;
            if min_healthy == max_capacity && max_capacity <= old_running {
                max_capacity += 1;
            }
            let kill_now = (old_running - min_healthy).max(0) as usize;
            for v in self.pick_victims(app_id, kill_now, |t| old_is(t)) {
                self.kill_task(&v, "upgrade");
            }
            *state = Some(RestartState {
                max_capacity,
                healthy_seen: BTreeSet::new(),
            });
        }
        let Some(st) = state.as_mut() else {
            return true;
        };
        let newly_healthy: Vec<String> = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| !is_old(t) && t.ready(has_health) && !st.healthy_seen.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        for id in newly_healthy {
            st.healthy_seen.insert(id);
            let old = is_old.clone();
            for v in self.pick_victims(app_id, 1, move |t| old(t)) {
                self.kill_task(&v, "upgrade");
            }
        }
        let tasks = self.app_tasks(app_id);
        let old_left = tasks.iter().filter(|t| is_old(t)).count() as i64;
        let new_active = tasks
            .iter()
            .filter(|t| !is_old(t) && t.kill_at.is_none())
            .count() as i64;
        let new_ready = tasks
            .iter()
            .filter(|t| !is_old(t) && t.ready(has_health))
            .count() as i64;
        let queued = i64::from(self.queued(app_id));
        let started = new_active + queued;
        let to_start = (i - started)
            .min(st.max_capacity - old_left - started)
            .max(0);
        if to_start > 0
            && let Some(app) = self.apps.get_mut(app_id)
        {
            app.queued += to_start as u32;
            app.queue_since.get_or_insert(now);
        }
        new_ready >= i && old_left == 0
    }

    /// Picks up to `count` tasks to kill among active tasks accepted by `filter`: unhealthy first,
    /// then staging, then the rest; ties by killSelection (YOUNGEST_FIRST by default).
    pub fn pick_victims(
        &self,
        app_id: &str,
        count: usize,
        filter: impl Fn(&Task) -> bool,
    ) -> Vec<String> {
        let oldest_first = self.apps.get(app_id).is_some_and(|a| a.spec.oldest_first);
        let mut candidates: Vec<&Task> = self
            .app_tasks(app_id)
            .into_iter()
            .filter(|t| t.kill_at.is_none() && filter(t))
            .collect();
        candidates.sort_by_key(|t| {
            let class = match (&t.health, t.state) {
                (Some(h), _) if !h.alive() => 0,
                (_, TaskState::Staging) => 1,
                _ => 2,
            };
            let age = if oldest_first {
                t.seq as i64
            } else {
                -(t.seq as i64)
            };
            (class, age)
        });
        candidates
            .into_iter()
            .take(count)
            .map(|t| t.id.clone())
            .collect()
    }
}
