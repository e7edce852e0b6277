//! JSON writers for Marathon responses: App with AppInfo embeds (§1.2/§1.3) and Task (§1.4),
//! as `Formats.scala` (v1.4.13) writes them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::ids::ts;
use super::state::{App, Cluster, Task, TaskState};

/// What to embed into App JSON (`embed=` values with the `apps.`/`app.`/`group.apps.` prefixes
/// stripped; unknown values ignored).
#[derive(Debug, Clone, Default)]
pub struct Embed {
    pub tasks: bool,
    pub last_task_failure: bool,
    pub readiness: bool,
    pub task_stats: bool,
}

impl Embed {
    /// Parses `embed` query values.
    pub fn parse(values: &[&str]) -> Self {
        let mut e = Self::default();
        for v in values {
            let v = ["group.apps.", "apps.", "app."]
                .iter()
                .find_map(|p| v.strip_prefix(p))
                .unwrap_or(v);
            match v {
                "tasks" => e.tasks = true,
                "lastTaskFailure" => e.last_task_failure = true,
                "readiness" => e.readiness = true,
                "taskStats" => e.task_stats = true,
                "failures" => {
                    e.tasks = true;
                    e.last_task_failure = true;
                }
                _ => {}
            }
        }
        e
    }

    /// What GET /v2/apps/{id} embeds: tasks and the last task failure always
    /// (`AppsResource.show`), plus what `embed` asks for.
    pub fn single_app(values: &[&str]) -> Self {
        Self {
            tasks: true,
            last_task_failure: true,
            ..Self::parse(values)
        }
    }
}

fn opt_ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(ts(t)))
}

/// Which optional parts of Task JSON an endpoint writes (`EnrichedTaskWrites`): health
/// results where the endpoint passes them, service ports only on `GET /v2/tasks`
/// (`TasksResource.indexJson` is the only caller that fills `EnrichedTask.servicePorts`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskView {
    /// `healthCheckResults` (when non-empty).
    pub health: bool,
    /// `servicePorts`: the app's service ports (when non-empty).
    pub service_ports: bool,
}

impl TaskView {
    /// `GET /v2/tasks`.
    pub const LIST: Self = Self {
        health: true,
        service_ports: true,
    };
    /// `GET /v2/apps/{id}/tasks` and the `tasks` embed.
    pub const APP: Self = Self {
        health: true,
        service_ports: false,
    };
    /// `POST /v2/tasks/delete`.
    pub const KILLED: Self = Self {
        health: false,
        service_ports: false,
    };
}

impl Cluster {
    /// Task JSON (1.4 `EnrichedTaskWrites` over `TaskWrites`, `Formats.scala`).
    pub fn task_json(&self, t: &Task, view: TaskView) -> Value {
        let state = match t.state {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Running => "TASK_RUNNING",
        };
        let mut v = json!({
            "id": t.id, "state": state, "startedAt": opt_ts(t.started_at), "stagedAt": ts(t.staged_at),
            "ports": t.ports, "version": t.version,
            "ipAddresses": [{ "ipAddress": t.ip, "protocol": "IPv4" }],
            "appId": t.app_id, "slaveId": t.slave_id, "host": t.host,
        });
        let service_ports: Vec<u16> = match self.apps.get(&t.app_id) {
            Some(app) if view.service_ports => {
                app.spec.ports.iter().map(|p| p.service_port).collect()
            }
            _ => Vec::new(),
        };
        if !service_ports.is_empty() {
            v["servicePorts"] = json!(service_ports);
        }
        if view.health
            && let Some(h) = &t.health
        {
            v["healthCheckResults"] = json!([{
                "alive": h.alive(), "consecutiveFailures": h.consecutive_failures,
                "firstSuccess": opt_ts(h.first_success), "lastFailure": opt_ts(h.last_failure),
                "lastSuccess": opt_ts(h.last_success), "lastFailureCause": h.last_failure_cause,
                "instanceId": t.instance_id,
            }]);
        }
        v
    }

    /// App JSON with counts and deployments always, plus the requested embeds
    /// (`ExtendedAppInfoWrites`: counts, deployments, readinessCheckResults, tasks,
    /// lastTaskFailure, taskStats, in this order).
    pub fn app_json(&self, app: &App, embed: &Embed) -> Value {
        let id = app.spec.id.as_str();
        let mut out = app.def.clone();
        let c = self.counts(id);
        out.insert("tasksStaged".into(), json!(c.staged));
        out.insert("tasksRunning".into(), json!(c.running));
        out.insert("tasksHealthy".into(), json!(c.healthy));
        out.insert("tasksUnhealthy".into(), json!(c.unhealthy));
        let deployments: Vec<Value> = self
            .locking_deployments(id)
            .into_iter()
            .map(|d| json!({ "id": d }))
            .collect();
        out.insert("deployments".into(), json!(deployments));
        if embed.readiness {
            out.insert(
                "readinessCheckResults".into(),
                Value::Array(self.app_readiness_results(id)),
            );
        }
        if embed.tasks {
            let tasks: Vec<Value> = self
                .app_tasks(id)
                .iter()
                .map(|t| self.task_json(t, TaskView::APP))
                .collect();
            out.insert("tasks".into(), json!(tasks));
        }
        if embed.last_task_failure
            && let Some(f) = &app.last_task_failure
        {
            out.insert("lastTaskFailure".into(), f.clone());
        }
        if embed.task_stats {
            out.insert("taskStats".into(), self.task_stats_json(app));
        }
        Value::Object(out)
    }

    /// App ids below a group (for `GET /v2/apps/{group}/*`).
    pub fn apps_under(&self, group: &str) -> Vec<&App> {
        let prefix = if group == "/" {
            "/".to_string()
        } else {
            format!("{group}/")
        };
        self.apps
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(_, a)| a)
            .collect()
    }

    /// Hostnames of the agents (for the control API).
    pub fn hostnames(&self) -> BTreeSet<String> {
        self.agents
            .iter()
            .map(|a| a.spec.hostname.clone())
            .collect()
    }
}
