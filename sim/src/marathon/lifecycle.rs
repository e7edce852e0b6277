//! The task lifecycle on the clock (§2 "task lifecycle"): staging → running, scripted crashes,
//! health-check rounds, kill confirmations, launch timeouts, scale checks and launch backoff.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::ids::ts;
use super::model::jvm_double;
use super::script::{HistoryKind, Outcome};
use super::state::{Cluster, RuntimeCall, TaskState};
use crate::TaskLaunch;

/// How many finished tasks the Mesos master keeps in `completed_tasks`.
const COMPLETED_CAP: usize = 200;

/// The apps a lifecycle step looks at.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    All,
    /// Only these apps' tasks, health rounds, deployments (and those affecting no app) and scale
    /// checks; what is due for other apps waits for the next full step.
    Apps(&'a BTreeSet<String>),
}

impl Scope<'_> {
    pub fn has(&self, app_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Apps(apps) => apps.contains(app_id),
        }
    }
}

impl Cluster {
    /// One lifecycle step at the current instant. Idempotent when nothing is due.
    pub fn step(&mut self) {
        self.step_in(Scope::All);
    }

    /// The step an API call runs for the apps it changed: under the virtual clock every full
    /// step has already handled what was due, so only these apps (and the other apps of their
    /// deployments, which a finishing deployment unlocks) can have something to do; launch
    /// placement and sampling stay global. Costs these apps' work, not every app's.
    pub fn step_apps(&mut self, apps: &BTreeSet<String>) {
        let mut scope = apps.clone();
        for d in &self.deployments {
            if d.affected.iter().any(|a| apps.contains(a)) {
                scope.extend(d.affected.iter().cloned());
            }
        }
        self.step_in(Scope::Apps(&scope));
    }

    fn step_in(&mut self, scope: Scope) {
        self.confirm_kills(scope);
        self.advance_staging(scope);
        self.crash_tasks(scope);
        self.health_rounds(scope);
        self.launch_timeouts(scope);
        self.progress_deployments(scope);
        self.scale_check(scope);
        self.launch_queued();
        self.sample();
    }

    /// Ids of the existing apps in `scope`, in id order.
    pub fn scoped_app_ids(&self, scope: Scope) -> Vec<String> {
        match scope {
            Scope::All => self.apps.keys().cloned().collect(),
            Scope::Apps(apps) => apps
                .iter()
                .filter(|id| self.apps.contains_key(*id))
                .cloned()
                .collect(),
        }
    }

    /// Removes a task that reached a terminal state, with events, backoff and lastTaskFailure.
    pub fn end_task(&mut self, task_id: &str, state: &'static str, message: &str) {
        let Some(task) = self.tasks.remove(task_id) else {
            return;
        };
        if let Some(ids) = self.tasks_by_agent.get_mut(&task.slave_id) {
            ids.remove(task_id);
            if ids.is_empty() {
                self.tasks_by_agent.remove(&task.slave_id);
            }
        }
        let now = self.now();
        self.touch(&task.app_id);
        self.free_changed(&task.slave_id);
        self.emit_status(&task, state, message);
        self.record(HistoryKind::TaskEnded {
            app_id: task.app_id.clone(),
            task_id: task.id.clone(),
            state: state.into(),
        });
        if task.launch.is_some() {
            self.runtime_calls.push(RuntimeCall::Ended {
                hostname: task.host.clone(),
                task_id: task.id.clone(),
            });
        }
        if matches!(
            state,
            "TASK_FAILED" | "TASK_ERROR" | "TASK_DROPPED" | "TASK_GONE" | "TASK_FINISHED"
        ) && let Some(app) = self.apps.get_mut(&task.app_id)
        {
            let spec = &app.spec;
            app.backoff.delay_seconds = if app.backoff.delay_seconds <= 0.0 {
                spec.backoff_seconds
            } else {
                (app.backoff.delay_seconds * spec.backoff_factor).min(spec.max_launch_delay_seconds)
            };
            let delay = chrono::Duration::milliseconds((app.backoff.delay_seconds * 1000.0) as i64);
            app.backoff.until = Some(now + delay);
            app.last_task_failure = Some(json!({
                "appId": task.app_id, "host": task.host, "message": message, "state": state,
                "taskId": task.id, "timestamp": ts(now), "version": task.version, "slaveId": task.slave_id,
            }));
        }
        self.completed.push_back((task, state, now));
        if self.completed.len() > COMPLETED_CAP {
            self.completed.pop_front();
        }
    }

    fn due_tasks(&self, scope: Scope, pred: impl Fn(&super::state::Task) -> bool) -> Vec<String> {
        let mut due: Vec<(u64, String)> = match scope {
            Scope::All => self
                .tasks
                .values()
                .filter(|t| pred(t))
                .map(|t| (t.seq, t.id.clone()))
                .collect(),
            Scope::Apps(apps) => apps
                .iter()
                .flat_map(|a| self.app_tasks(a))
                .filter(|t| pred(t))
                .map(|t| (t.seq, t.id.clone()))
                .collect(),
        };
        due.sort();
        due.into_iter().map(|(_, id)| id).collect()
    }

    fn confirm_kills(&mut self, scope: Scope) {
        let now = self.now();
        let kill = chrono::Duration::from_std(self.timing.kill).unwrap_or_default();
        for id in self.due_tasks(scope, |t| t.kill_at.is_some_and(|k| now >= k + kill)) {
            self.end_task(&id, "TASK_KILLED", "");
        }
    }

    fn advance_staging(&mut self, scope: Scope) {
        let now = self.now();
        let staging = chrono::Duration::from_std(self.timing.staging).unwrap_or_default();
        for id in self.due_tasks(scope, |t| {
            t.state == TaskState::Staging && t.kill_at.is_none() && now >= t.staged_at + staging
        }) {
            let Some(app_id) = self.tasks.get(&id).map(|t| t.app_id.clone()) else {
                continue;
            };
            match self.outcome(&app_id) {
                Outcome::StuckStaging => {}
                Outcome::FailOnLaunch => self.end_task(
                    &id,
                    "TASK_FAILED",
                    "Container exited with status 1 during launch",
                ),
                _ => self.start_running(&id),
            }
        }
    }

    fn start_running(&mut self, task_id: &str) {
        let now = self.now();
        let Some(app) = self
            .tasks
            .get(task_id)
            .and_then(|t| self.apps.get(&t.app_id))
        else {
            return;
        };
        let spec = app.spec.clone();
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.state = TaskState::Running;
        task.started_at = Some(now);
        let launch = task_launch(task, &spec);
        task.launch = Some(launch.clone());
        let task = task.clone();
        self.touch(&task.app_id);
        if let Some(app) = self.apps.get_mut(&task.app_id) {
            app.backoff.until = None;
        }
        self.runtime_calls.push(RuntimeCall::Launched(launch));
        self.emit_status(&task, "TASK_RUNNING", "");
        self.record(HistoryKind::TaskRunning {
            app_id: task.app_id.clone(),
            task_id: task.id.clone(),
        });
    }

    fn crash_tasks(&mut self, scope: Scope) {
        if self.outcomes.is_empty() {
            return; // every app healthy: nothing scripted to crash (and no O(apps) map)
        }
        let now = self.now();
        let outcomes: BTreeMap<String, Outcome> = self
            .scoped_app_ids(scope)
            .into_iter()
            .map(|id| {
                let o = self.outcome(&id);
                (id, o)
            })
            .collect();
        for id in self.due_tasks(scope, |t| match (outcomes.get(&t.app_id), t.started_at) {
            (Some(Outcome::CrashAfter { after }), Some(started)) => {
                t.kill_at.is_none()
                    && now >= started + chrono::Duration::from_std(*after).unwrap_or_default()
            }
            _ => false,
        }) {
            self.end_task(&id, "TASK_FAILED", "Container exited with status 1");
        }
    }

    fn launch_timeouts(&mut self, scope: Scope) {
        let now = self.now();
        let timeout =
            chrono::Duration::from_std(self.timing.task_launch_timeout).unwrap_or_default();
        for id in self.due_tasks(scope, |t| {
            t.state == TaskState::Staging && t.kill_at.is_none() && now >= t.staged_at + timeout
        }) {
            self.kill_task(&id, "task launch timeout");
        }
    }

    /// Outside deployments, keeps each app at `instances` (Marathon's scale check,
    /// `MarathonSchedulerActor.scale` with `ScalingProposition.propose`, v1.4.13): every
    /// instance not yet terminal counts, a kill pending included, so a killed task is replaced
    /// only once Mesos confirms the kill; surplus tasks are killed (and the queue purged).
    fn scale_check(&mut self, scope: Scope) {
        let now = self.now();
        let locked: BTreeSet<&String> = self
            .deployments
            .iter()
            .flat_map(|d| d.affected.iter())
            .collect();
        let ids: Vec<String> = self
            .scoped_app_ids(scope)
            .into_iter()
            .filter(|id| !locked.contains(id))
            .collect();
        for id in ids {
            let tasks = self.app_tasks(&id);
            let running = tasks.len() as i64;
            let killing = tasks.iter().filter(|t| t.kill_at.is_some()).count() as i64;
            let Some(app) = self.apps.get_mut(&id) else {
                continue;
            };
            let n = i64::from(app.spec.instances);
            let kill_count = (running - killing - n).max(0);
            let to_start = (n - running + kill_count).max(0) as u32;
            if kill_count > 0 {
                app.purge_queue();
                for victim in self.pick_victims(&id, kill_count as usize, |_| true) {
                    self.kill_task(&victim, "scaling down");
                }
            } else if to_start != app.queued {
                // Marathon only adds launches here; the emulator also drops launches no longer
                // needed (Marathon's next config or scale change resets the count instead).
                app.set_queued(to_start, now);
                if to_start > 0 {
                    self.queued_apps.insert(id.clone());
                }
            }
        }
    }
}

/// What the emulated agent's docker containerizer starts for a task (§1.3, §3.2).
fn task_launch(task: &super::state::Task, spec: &super::model::AppSpec) -> TaskLaunch {
    let mut env = spec.env.clone();
    let mut put = |k: String, v: String| {
        env.insert(k, v);
    };
    put("MESOS_TASK_ID".into(), task.id.clone());
    put("MARATHON_APP_ID".into(), task.app_id.clone());
    put("MARATHON_APP_VERSION".into(), task.version.clone());
    put("MARATHON_APP_DOCKER_IMAGE".into(), spec.image.clone());
    put("MARATHON_APP_RESOURCE_CPUS".into(), jvm_double(spec.cpus));
    put("MARATHON_APP_RESOURCE_MEM".into(), jvm_double(spec.mem));
    put("MARATHON_APP_RESOURCE_DISK".into(), jvm_double(spec.disk));
    put("MARATHON_APP_RESOURCE_GPUS".into(), "0".into());
    put(
        "MARATHON_APP_LABELS".into(),
        spec.labels.keys().cloned().collect::<Vec<_>>().join(" "),
    );
    for (k, v) in &spec.labels {
        if v.len() <= 512 {
            let key: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            put(format!("MARATHON_APP_LABEL_{key}"), v.clone());
        }
    }
    put("HOST".into(), task.host.clone());
    for (i, (port, ps)) in task.ports.iter().zip(&spec.ports).enumerate() {
        put(format!("PORT{i}"), port.to_string());
        if ps.key != 0 {
            put(format!("PORT_{}", ps.key), port.to_string());
        }
        if let Some(name) = &ps.name {
            put(
                format!("PORT_{}", name.to_ascii_uppercase()),
                port.to_string(),
            );
        }
    }
    if let Some(first) = task.ports.first() {
        put("PORT".into(), first.to_string());
    }
    if !task.ports.is_empty() {
        put(
            "PORTS".into(),
            task.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let name = format!("mesos-{}", task.container_id);
    put("MESOS_CONTAINER_NAME".into(), name);
    put("MESOS_SANDBOX".into(), "/mnt/mesos/sandbox".into());
    let mut labels = BTreeMap::new();
    for (k, v) in &spec.docker_parameters {
        if k == "label"
            && let Some((lk, lv)) = v.split_once('=')
        {
            labels.insert(lk.to_string(), lv.to_string());
        }
    }
    // Marathon >= 1.4.0 adds the docker parameter `label=MESOS_TASK_ID=<taskId>` itself.
    labels.insert("MESOS_TASK_ID".into(), task.id.clone());
    TaskLaunch {
        hostname: task.host.clone(),
        slave_id: task.slave_id.clone(),
        task_id: task.id.clone(),
        container_id: task.container_id.clone(),
        app_id: task.app_id.clone(),
        image: spec.image.clone(),
        env,
        labels,
        ports: task.ports.clone(),
    }
}
