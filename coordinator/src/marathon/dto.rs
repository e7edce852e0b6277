//! Marathon's JSON as it comes off the wire (only the fields Galley reads), and its conversion
//! into `galley_common::observed` types.

use chrono::{DateTime, Utc};
use galley_common::observed::{ObservedApp, ObservedTask, TaskFailure};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct AppList {
    pub(super) apps: Vec<App>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct App {
    id: String,
    #[serde(default)]
    instances: u32,
    #[serde(default)]
    health_checks: Vec<serde_json::Value>,
    #[serde(default)]
    deployments: Vec<DeploymentRef>,
    #[serde(default)]
    tasks: Vec<Task>,
    #[serde(default)]
    last_task_failure: Option<LastTaskFailure>,
    #[serde(default)]
    tasks_staged: u32,
    #[serde(default)]
    tasks_running: u32,
    #[serde(default)]
    tasks_healthy: u32,
    #[serde(default)]
    tasks_unhealthy: u32,
}

#[derive(Debug, Deserialize)]
struct DeploymentRef {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    id: String,
    #[serde(default)]
    app_id: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    staged_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    health_check_results: Vec<HealthResult>,
}

#[derive(Debug, Deserialize)]
struct HealthResult {
    #[serde(default)]
    alive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LastTaskFailure {
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    timestamp: String,
}

/// Locked-409 body.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) deployments: Option<Vec<DeploymentRefPub>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DeploymentRefPub {
    pub(super) id: String,
}

fn timestamp(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl From<App> for ObservedApp {
    fn from(a: App) -> Self {
        ObservedApp {
            id: a.id,
            instances: a.instances,
            has_health_checks: !a.health_checks.is_empty(),
            deployments: a.deployments.into_iter().map(|d| d.id).collect(),
            tasks: a
                .tasks
                .into_iter()
                .map(|t| ObservedTask {
                    id: t.id,
                    app_id: t.app_id,
                    host: t.host,
                    ports: t.ports,
                    state: t.state,
                    staged_at: timestamp(t.staged_at),
                    started_at: timestamp(t.started_at),
                    health_results: t
                        .health_check_results
                        .into_iter()
                        .map(|h| h.alive)
                        .collect(),
                })
                .collect(),
            last_task_failure: a.last_task_failure.map(|f| TaskFailure {
                task_id: f.task_id,
                state: f.state,
                message: f.message,
                host: f.host,
                timestamp: f.timestamp,
            }),
            tasks_staged: a.tasks_staged,
            tasks_running: a.tasks_running,
            tasks_healthy: a.tasks_healthy,
            tasks_unhealthy: a.tasks_unhealthy,
        }
    }
}
