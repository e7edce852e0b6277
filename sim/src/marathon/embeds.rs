//! The AppInfo parts computed from tasks: readiness check results (Marathon 1.4.13's
//! `DeploymentManager.DeploymentStepInfo.readinessChecksByApp`, written by
//! `ReadinessCheckResultFormat`) and task statistics (`core/appinfo/TaskStatsByVersion.scala`,
//! `TaskLifeTime`, `TaskForStatistics`, written by `TaskStatsByVersionWrites`).

use serde_json::{Map, Value, json};

use super::deploy::Deployment;
use super::state::{App, Cluster, Health, Task, TaskState};

/// Which tasks a statistics group takes.
type TaskFilter<'a> = Box<dyn Fn(&Task) -> bool + 'a>;

impl Cluster {
    /// One result per task the deployment's current step started that is running (and
    /// healthy, for apps with health checks): readiness checks are always ready in the
    /// emulator (`ReadinessCheckResult`: name, taskId, ready, and `lastResponse` only when
    /// the check preserves it).
    pub fn step_readiness_results(&self, d: &Deployment, app_id: &str) -> Vec<Value> {
        let Some(app) = self.apps.get(app_id) else {
            return Vec::new();
        };
        let Some(check) = app.def.get("readinessChecks").and_then(|c| c.get(0)) else {
            return Vec::new();
        };
        let has_health = app.spec.health.is_some();
        let preserve = check["preserveLastResponse"].as_bool().unwrap_or(false);
        let name = check["name"].as_str().unwrap_or("readinessCheck");
        self.app_tasks(app_id)
            .into_iter()
            .filter(|t| t.seq >= d.step_first_seq && t.ready(has_health))
            .map(|t| {
                let mut r = json!({ "name": name, "taskId": t.id, "ready": true });
                if preserve {
                    r["lastResponse"] =
                        json!({ "status": 200, "contentType": "text/plain", "body": "" });
                }
                r
            })
            .collect()
    }

    /// The `readiness` embed: the results of every running deployment touching the app.
    pub fn app_readiness_results(&self, app_id: &str) -> Vec<Value> {
        self.deployments
            .iter()
            .filter(|d| d.affected.iter().any(|a| a == app_id))
            .flat_map(|d| self.step_readiness_results(d, app_id))
            .collect()
    }

    /// The `taskStats` embed: counts and life times of the app's tasks started after the
    /// last scaling, with the latest config, with an outdated config, and in total (each
    /// only when it has tasks).
    pub fn task_stats_json(&self, app: &App) -> Value {
        let tasks = self.app_tasks(&app.spec.id);
        let scaled_at = app.def["versionInfo"]["lastScalingAt"]
            .as_str()
            .unwrap_or(&app.version);
        let config_at = app.config_version.as_str();
        // `TaskStatsByVersion`: which version each group takes.
        let groups: [(&str, TaskFilter); 4] = [
            (
                "startedAfterLastScaling",
                Box::new(|t| t.version.as_str() >= scaled_at),
            ),
            (
                "withLatestConfig",
                Box::new(|t| t.version.as_str() >= config_at),
            ),
            (
                "withOutdatedConfig",
                Box::new(|t| t.version.as_str() < config_at),
            ),
            ("totalSummary", Box::new(|_| true)),
        ];
        let mut out = Map::new();
        for (key, filter) in groups {
            let some: Vec<&Task> = tasks.iter().copied().filter(|t| filter(t)).collect();
            if let Some(stats) = self.stats_of(&some) {
                out.insert(key.into(), json!({ "stats": stats }));
            }
        }
        Value::Object(out)
    }

    /// `TaskStats` of some tasks: counts and, when some started, life times.
    fn stats_of(&self, tasks: &[&Task]) -> Option<Value> {
        if tasks.is_empty() {
            return None;
        }
        let now = self.now();
        let count = |f: &dyn Fn(&Task) -> bool| tasks.iter().filter(|t| f(t)).count();
        let healthy = |t: &Task| t.health.as_ref().is_some_and(Health::alive);
        let unhealthy = |t: &Task| t.health.as_ref().is_some_and(|h| !h.alive());
        let counts = json!({
            "staged": count(&|t| t.state == TaskState::Staging),
            "running": count(&|t| t.state == TaskState::Running),
            "healthy": count(&healthy),
            "unhealthy": count(&unhealthy),
        });
        let mut life: Vec<f64> = tasks
            .iter()
            .filter_map(|t| t.started_at)
            .map(|s| (now - s).num_milliseconds() as f64 / 1000.0)
            .collect();
        life.sort_by(f64::total_cmp);
        let mut stats = json!({ "counts": counts });
        if !life.is_empty() {
            let average = life.iter().sum::<f64>() / life.len() as f64;
            let median = life[life.len() / 2];
            stats["lifeTime"] = json!({ "averageSeconds": average, "medianSeconds": median });
        }
        Some(stats)
    }
}
