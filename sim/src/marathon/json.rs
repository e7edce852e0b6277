//! JSON writers for Marathon responses: App with AppInfo embeds (§1.2/§1.3), Task (§1.4),
//! queue items and `/v2/info` (§1.8).

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

    /// What GET /v2/apps/{id} always embeds.
    pub fn single_app() -> Self {
        Self {
            tasks: true,
            last_task_failure: true,
            readiness: false,
            task_stats: false,
        }
    }
}

fn opt_ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(ts(t)))
}

impl Cluster {
    /// Task JSON (1.4 EnrichedTask); `with_health` adds `healthCheckResults` when there are any.
    pub fn task_json(&self, t: &Task, with_health: bool) -> Value {
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
        if !t.service_ports.is_empty() {
            v["servicePorts"] = json!(t.service_ports);
        }
        if with_health && let Some(h) = &t.health {
            v["healthCheckResults"] = json!([{
                "alive": h.alive(), "consecutiveFailures": h.consecutive_failures,
                "firstSuccess": opt_ts(h.first_success), "lastSuccess": opt_ts(h.last_success),
                "lastFailure": opt_ts(h.last_failure), "lastFailureCause": h.last_failure_cause,
                "instanceId": t.instance_id,
            }]);
        }
        v
    }

    /// App JSON with counts and deployments always, plus the requested embeds.
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
            out.insert("readinessCheckResults".into(), json!([]));
        }
        if embed.tasks {
            let tasks: Vec<Value> = self
                .app_tasks(id)
                .iter()
                .map(|t| self.task_json(t, true))
                .collect();
            out.insert("tasks".into(), json!(tasks));
        }
        if embed.last_task_failure
            && let Some(f) = &app.last_task_failure
        {
            out.insert("lastTaskFailure".into(), f.clone());
        }
        if embed.task_stats {
            out.insert("taskStats".into(), json!({}));
        }
        Value::Object(out)
    }

    /// `/v2/queue` items: apps with launches waiting or a backoff running.
    pub fn queue_json(&self) -> Value {
        let now = self.now();
        let items: Vec<Value> = self
            .apps
            .values()
            .filter(|a| a.queued > 0 || a.backoff.until.is_some_and(|u| u > now))
            .map(|a| {
                let left = a.backoff.until.map_or(0, |u| (u - now).num_milliseconds().max(0));
                let left_secs = (left + 999) / 1000;
                json!({
                    "app": self.app_json(a, &Embed::default()), "count": a.queued,
                    "delay": { "timeLeftSeconds": left_secs, "overdue": left_secs == 0 },
                    "since": ts(a.queue_since.unwrap_or(now)),
                    "processedOffersSummary": {
                        "processedOffersCount": a.unused_offers, "unusedOffersCount": a.unused_offers,
                        "rejectSummaryLastOffers": [], "rejectSummaryLaunchAttempt": [],
                    },
                })
            })
            .collect();
        json!({ "queue": items })
    }

    /// `/v2/info`.
    pub fn info_json(&self) -> Value {
        let (leader, elected) = if self.marathon_leader {
            (json!(self.marathon_address), true)
        } else {
            (Value::Null, false)
        };
        let port = self
            .marathon_address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(8080);
        json!({
            "name": "marathon", "version": "1.4.13", "buildref": "emulated", "elected": elected, "leader": leader,
            "frameworkId": self.framework_id,
            "marathon_config": {
                "master": format!("http://{}", self.mesos_address), "framework_name": "marathon",
                "hostname": self.marathon_address.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h),
                "ha": true, "checkpoint": true, "failover_timeout": 604800, "task_launch_timeout": self.timing.task_launch_timeout.as_millis() as u64,
                "mesos_role": null, "mesos_user": "root", "local_port_min": 10000, "local_port_max": 20000,
                "features": [], "mesos_leader_ui_url": format!("http://{}/", self.mesos_address),
            },
            "zookeeper_config": { "zk": "zk://localhost:2181/marathon", "zk_timeout": 10000, "zk_session_timeout": 10000, "zk_max_versions": 50 },
            "event_subscriber": null,
            "http_config": { "http_port": port, "https_port": 8443 },
        })
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
