//! Marathon-side health checks: one round per app every `intervalSeconds` (as Marathon's
//! HealthCheckActor), failures ignored within the grace period before a first success, and
//! unhealthy kills after `maxConsecutiveFailures`.

use serde_json::json;

use super::lifecycle::Scope;
use super::script::{HistoryKind, Outcome};
use super::state::{Cluster, TaskState};

impl Cluster {
    /// Runs every health-check round that is due.
    pub fn health_rounds(&mut self, scope: Scope) {
        let now = self.now();
        let due: Vec<String> = self
            .scoped_app_ids(scope)
            .into_iter()
            .filter(|id| {
                self.apps.get(id).is_some_and(|a| {
                    a.spec.health.is_some() && a.next_health_round.is_some_and(|t| now >= t)
                })
            })
            .collect();
        for app_id in due {
            let Some(app) = self.apps.get_mut(&app_id) else {
                continue;
            };
            let Some(hc) = app.spec.health.clone() else {
                continue;
            };
            let interval = chrono::Duration::milliseconds((hc.interval_seconds * 1000.0) as i64);
            let mut next = app.next_health_round.unwrap_or(now);
            while next <= now {
                next += interval;
            }
            app.next_health_round = Some(next);
            let passes = !matches!(self.outcome(&app_id), Outcome::NeverHealthy);
            let ids: Vec<String> = self
                .app_tasks(&app_id)
                .iter()
                .filter(|t| t.state == TaskState::Running && t.kill_at.is_none())
                .map(|t| t.id.clone())
                .collect();
            for id in ids {
                self.check_task(&id, passes, hc.grace_seconds, hc.max_failures);
            }
        }
    }

    fn check_task(&mut self, task_id: &str, passes: bool, grace_seconds: f64, max_failures: u64) {
        let now = self.now();
        if let Some(app_id) = self.tasks.get(task_id).map(|t| t.app_id.clone()) {
            self.touch(&app_id);
        }
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        let started = task.started_at.unwrap_or(now);
        let in_grace =
            now < started + chrono::Duration::milliseconds((grace_seconds * 1000.0) as i64);
        let never_succeeded = task
            .health
            .as_ref()
            .is_none_or(|h| h.first_success.is_none());
        if !passes && in_grace && never_succeeded {
            return;
        }
        let health = task.health.get_or_insert_default();
        let was_alive = health.alive();
        if passes {
            health.consecutive_failures = 0;
            health.first_success.get_or_insert(now);
            health.last_success = Some(now);
        } else {
            health.consecutive_failures += 1;
            health.last_failure = Some(now);
            health.last_failure_cause = Some("ConnectException: Connection refused".into());
        }
        let alive = health.alive();
        let failures = u64::from(health.consecutive_failures);
        let task = task.clone();
        if !passes {
            // `FailedHealthCheck`: the app, the instance and the check (`Json.writes`).
            let health_check = self
                .apps
                .get(&task.app_id)
                .and_then(|a| a.def.get("healthChecks")?.get(0).cloned())
                .unwrap_or_else(|| json!({}));
            self.emit(
                "failed_health_check_event",
                json!({ "appId": task.app_id, "instanceId": task.instance_id, "healthCheck": health_check }),
            );
        }
        if alive != was_alive {
            let payload = json!({ "appId": task.app_id, "instanceId": task.instance_id, "version": task.version, "alive": alive });
            self.emit("health_status_changed_event", payload);
            self.emit(
                "instance_health_changed_event",
                json!({ "instanceId": task.instance_id, "runSpecId": task.app_id, "healthy": alive, "runSpecVersion": task.version }),
            );
            self.record(HistoryKind::TaskHealth {
                app_id: task.app_id.clone(),
                task_id: task.id.clone(),
                alive,
            });
        }
        if !passes && max_failures > 0 && failures >= max_failures {
            self.emit(
                "unhealthy_instance_kill_event",
                json!({
                    "appId": task.app_id, "taskId": task.id, "instanceId": task.instance_id, "version": task.version,
                    "reason": format!("{failures} consecutive health check failures"), "host": task.host, "slaveId": task.slave_id,
                }),
            );
            self.kill_task(&task.id, "unhealthy");
        }
    }
}
