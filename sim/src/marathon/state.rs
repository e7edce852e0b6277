//! The simulated cluster: agents, apps, tasks, deployments and the bookkeeping shared by the
//! API handlers and the lifecycle (all behind one mutex, never held across an `.await`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::config::{AgentSpec, MarathonSimConfig, Timing};
use super::deploy::Deployment;
use super::events::EventBus;
use super::ids::ts;
use super::json_cache::JsonCache;
use super::model::AppSpec;
use super::offers::Launcher;
use super::placement::FreeCache;
use super::samples::SampleLog;
use super::script::{AppCounts, Fault, HistoryEvent, HistoryKind, MesosLeadership, Outcome};
use crate::{HostRuntime, SimClock, TaskLaunch};

/// Upper bound on recorded history entries (oldest dropped first).
const HISTORY_CAP: usize = 200_000;

/// An emulated Mesos agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub spec: AgentSpec,
    /// Mesos slave id, `<master id>-S<n>`.
    pub id: String,
    /// IP shown in pids and task ipAddresses.
    pub ip: String,
    pub registered: DateTime<Utc>,
}

/// Marathon health of one task.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub consecutive_failures: u32,
    pub first_success: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    pub last_failure_cause: Option<String>,
}

impl Health {
    /// Marathon's `alive`: a last success later than any last failure.
    pub fn alive(&self) -> bool {
        match (self.last_success, self.last_failure) {
            (Some(s), Some(f)) => s > f,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// Mesos state of an active task (terminal tasks are expunged at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Staging,
    Running,
}

/// A Marathon task (one instance of an app).
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub instance_id: String,
    pub app_id: String,
    pub seq: u64,
    pub slave_id: String,
    pub host: String,
    pub ip: String,
    pub container_id: String,
    pub state: TaskState,
    pub staged_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ports: Vec<u16>,
    pub version: String,
    pub config_version: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    /// None until the first health result that counts.
    pub health: Option<Health>,
    /// When Marathon asked Mesos to kill it.
    pub kill_at: Option<DateTime<Utc>>,
    /// The launch as the host runtime saw it (set once running).
    pub launch: Option<TaskLaunch>,
    /// The Mesos role whose resources the task uses (`*` or Marathon's `--mesos_role`).
    pub role: String,
}

impl Task {
    /// Running and (for apps with health checks) alive, with no kill pending.
    pub fn ready(&self, has_health: bool) -> bool {
        self.state == TaskState::Running
            && self.kill_at.is_none()
            && (!has_health || self.health.as_ref().is_some_and(Health::alive))
    }
}

/// Launch backoff of an app (§2).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    /// Current delay in seconds (0: none).
    pub delay_seconds: f64,
    /// No launches before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// An app as Marathon stores it, plus its launch queue.
#[derive(Debug, Clone)]
pub struct App {
    /// Canonical App JSON including `version` and `versionInfo`.
    pub def: Map<String, Value>,
    pub spec: AppSpec,
    pub version: String,
    /// `versionInfo.lastConfigChangeAt`: tasks launched with another one are "old".
    pub config_version: String,
    pub versions: Vec<(String, Map<String, Value>)>,
    /// Launches waiting for an offer.
    pub queued: u32,
    /// The launch queue entry (Marathon's TaskLauncherActor), from the first queued launch
    /// until the entry is purged.
    pub launcher: Option<Launcher>,
    pub backoff: Backoff,
    pub last_task_failure: Option<Value>,
    /// Next round of health checks.
    pub next_health_round: Option<DateTime<Utc>>,
}

/// A Mesos task Marathon does not know about (another framework, or a lost Marathon task).
#[derive(Debug, Clone)]
pub struct ForeignTask {
    pub task_id: String,
    pub host: String,
    pub slave_id: String,
    pub framework_id: String,
    pub container_id: String,
    pub started: DateTime<Utc>,
}

/// Calls to the host runtime, made after the cluster lock is released.
#[derive(Debug, Clone)]
pub enum RuntimeCall {
    Launched(TaskLaunch),
    Ended { hostname: String, task_id: String },
}

/// The whole simulated world.
pub struct Cluster {
    pub clock: SimClock,
    pub timing: Timing,
    pub agents: Vec<Agent>,
    pub apps: BTreeMap<String, App>,
    pub tasks: BTreeMap<String, Task>,
    /// Task ids per agent id (kept with `tasks` by `launch_on` and `end_task`): an agent's
    /// free resources are worked out from its own tasks, not a scan of every task.
    pub tasks_by_agent: BTreeMap<String, BTreeSet<String>>,
    /// Apps that may have launches queued (every `set_queued` above zero adds its app;
    /// `launch_queued` drops those with none left): launching looks at these, not every app.
    pub queued_apps: BTreeSet<String>,
    pub deployments: Vec<Deployment>,
    pub foreign_tasks: Vec<ForeignTask>,
    /// Recently finished tasks for Mesos `completed_tasks` (task JSON-ish, state, time).
    pub completed: VecDeque<(Task, &'static str, DateTime<Utc>)>,
    pub outcomes: Vec<(String, Outcome)>,
    pub faults: Vec<Fault>,
    pub marathon_leader: bool,
    pub mesos_leadership: MesosLeadership,
    /// `host:port` of this Marathon (set once bound).
    pub marathon_address: String,
    /// `host:port` of the Mesos master (set once bound).
    pub mesos_address: String,
    pub master_id: String,
    pub framework_id: String,
    pub started: DateTime<Utc>,
    pub next_seq: u64,
    pub next_agent: usize,
    pub last_version: Option<DateTime<Utc>>,
    pub events: EventBus,
    pub history: VecDeque<HistoryEvent>,
    pub sample_log: SampleLog,
    /// Apps whose counts may have changed since the last sample.
    pub dirty: BTreeSet<String>,
    /// Free resources by agent, invalidated when the agent's tasks or capacity change.
    pub free_cache: FreeCache,
    /// Rendered App JSON, dropped by `touch`.
    pub json_cache: JsonCache,
    /// The service ports each stored app holds.
    pub held_ports: super::ports::HeldPorts,
    pub runtime_calls: Vec<RuntimeCall>,
    pub has_runtime: bool,
    /// Marathon's `--mesos_role`.
    pub mesos_role: Option<String>,
    pub uuid_context: uuid::ContextV1,
}

impl Cluster {
    /// A cluster with the configured agents and no apps.
    pub fn new(config: &MarathonSimConfig, runtime: Option<&Arc<dyn HostRuntime>>) -> Self {
        let now = config.clock.now();
        let master_id = uuid::Uuid::new_v4().to_string();
        let mut cluster = Self {
            clock: config.clock.clone(),
            timing: config.timing.clone(),
            agents: Vec::new(),
            apps: BTreeMap::new(),
            tasks: BTreeMap::new(),
            tasks_by_agent: BTreeMap::new(),
            queued_apps: BTreeSet::new(),
            deployments: Vec::new(),
            foreign_tasks: Vec::new(),
            completed: VecDeque::new(),
            outcomes: Vec::new(),
            faults: Vec::new(),
            marathon_leader: true,
            mesos_leadership: MesosLeadership::Leading,
            marathon_address: "127.0.0.1:8080".into(),
            mesos_address: "127.0.0.1:5050".into(),
            framework_id: format!("{master_id}-0000"),
            master_id,
            started: now,
            next_seq: 0,
            next_agent: 0,
            last_version: None,
            events: EventBus::new(),
            history: VecDeque::new(),
            sample_log: SampleLog::default(),
            dirty: BTreeSet::new(),
            free_cache: FreeCache::default(),
            json_cache: JsonCache::default(),
            held_ports: Default::default(),
            runtime_calls: Vec::new(),
            has_runtime: runtime.is_some(),
            mesos_role: config.mesos_role.clone(),
            uuid_context: uuid::ContextV1::new(rand::random()),
        };
        for spec in &config.agents {
            cluster.add_agent(spec.clone());
        }
        cluster
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Adds an agent, returning its slave id.
    pub fn add_agent(&mut self, spec: AgentSpec) -> String {
        let n = self.next_agent;
        self.next_agent += 1;
        let agent = Agent {
            id: format!("{}-S{n}", self.master_id),
            ip: format!("10.0.{}.{}", n / 250, n % 250 + 1),
            registered: self.now(),
            spec,
        };
        let id = agent.id.clone();
        self.agents.push(agent);
        id
    }

    /// A fresh app version strictly after every earlier one.
    pub fn next_version(&mut self) -> String {
        let mut t = self.now();
        if let Some(last) = self.last_version
            && t <= last
        {
            t = last + chrono::Duration::milliseconds(1);
        }
        self.last_version = Some(t);
        ts(t)
    }

    /// A time-based (v1) UUID from the simulated clock, as Marathon uses in task ids.
    pub fn task_uuid(&self) -> uuid::Uuid {
        let now = self.now();
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let stamp =
            uuid::Timestamp::from_unix(&self.uuid_context, secs, now.timestamp_subsec_nanos());
        let node: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
        uuid::Uuid::new_v1(stamp, &node)
    }

    /// The outcome scripted for an app (last matching prefix wins; default healthy).
    pub fn outcome(&self, app_id: &str) -> Outcome {
        self.outcomes
            .iter()
            .rev()
            .find(|(prefix, _)| app_id.starts_with(prefix.as_str()))
            .map_or(Outcome::Healthy, |(_, o)| o.clone())
    }

    /// Active tasks of an app, oldest first.
    pub fn app_tasks(&self, app_id: &str) -> Vec<&Task> {
        // Task ids are `<safePath>.<uuid>` (see `launch_on`): the app's tasks are one key range.
        let prefix = format!("{}.", super::ids::safe_path(app_id));
        let mut tasks: Vec<&Task> = self
            .tasks
            .range(prefix.clone()..)
            .take_while(|(id, _)| id.starts_with(&prefix))
            .map(|(_, t)| t)
            .filter(|t| t.app_id == app_id)
            .collect();
        tasks.sort_by_key(|t| t.seq);
        tasks
    }

    /// Marathon's counts for an app (§1.3), plus the simulation's `happy` and `killing`.
    pub fn counts(&self, app_id: &str) -> AppCounts {
        let has_health = self
            .apps
            .get(app_id)
            .is_some_and(|a| a.spec.health.is_some());
        let mut c = AppCounts::default();
        for t in self.app_tasks(app_id) {
            match t.state {
                TaskState::Staging => c.staged += 1,
                TaskState::Running => c.running += 1,
            }
            match &t.health {
                Some(h) if h.alive() => c.healthy += 1,
                Some(_) => c.unhealthy += 1,
                None => {}
            }
            if t.state == TaskState::Running
                && (!has_health || t.health.as_ref().is_some_and(Health::alive))
            {
                c.happy += 1;
            }
            if t.kill_at.is_some() {
                c.killing += 1;
            }
        }
        c
    }

    /// Ids of the running deployments that touch an app.
    pub fn locking_deployments(&self, app_id: &str) -> Vec<String> {
        self.deployments
            .iter()
            .filter(|d| d.affected.iter().any(|a| a == app_id))
            .map(|d| d.id.clone())
            .collect()
    }

    /// Appends to the history.
    pub fn record(&mut self, kind: HistoryKind) {
        let at = self.now();
        self.history.push_back(HistoryEvent { at, kind });
        if self.history.len() > HISTORY_CAP {
            self.history.pop_front();
        }
    }

    /// Publishes an event on `/v2/events` (adds `eventType` and `timestamp`).
    pub fn emit(&mut self, event_type: &str, mut payload: Value) {
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("eventType".into(), json!(event_type));
            obj.insert("timestamp".into(), json!(ts(self.now())));
        }
        self.events.publish(event_type, &payload);
    }

    /// Asks Mesos to kill a task; it ends after [`Timing::kill`].
    pub fn kill_task(&mut self, task_id: &str, reason: &str) {
        let now = self.now();
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if task.kill_at.is_some() {
            return;
        }
        task.kill_at = Some(now);
        let app_id = task.app_id.clone();
        self.touch(&app_id);
        self.record(HistoryKind::KillRequested {
            app_id,
            task_id: task_id.to_string(),
            reason: reason.to_string(),
        });
    }
}
