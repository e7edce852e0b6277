//! Turning queued launches into tasks: every lifecycle step, each app with launches waiting
//! and no backoff running gets one offer from every agent (Marathon 1.4's `TaskLauncherActor`
//! matching offers); used offers launch tasks, declined ones go into the queue entry's offer
//! statistics. Also the task status events.

use serde_json::json;

use super::ids::safe_path;
use super::offers::NoMatch;
use super::placement::Placement;
use super::script::HistoryKind;
use super::state::{App, Cluster, Task, TaskState};

impl Cluster {
    /// Places queued launches of every app whose backoff has expired; when an app's launches
    /// cannot all be placed, every agent's offer counts as declined, with its reasons.
    pub fn launch_queued(&mut self) {
        let now = self.now();
        let apps = &self.apps;
        self.queued_apps
            .retain(|id| apps.get(id).is_some_and(|a| a.queued > 0));
        debug_assert!(
            self.apps
                .iter()
                .all(|(id, a)| a.queued == 0 || self.queued_apps.contains(id)),
            "every app with queued launches is in queued_apps"
        );
        let ids: Vec<String> = self
            .queued_apps
            .iter()
            .filter(|id| self.apps[*id].backoff.until.is_none_or(|u| u <= now))
            .cloned()
            .collect();
        for id in ids {
            while let Some(app) = self.apps.get(&id).filter(|a| a.queued > 0) {
                match self.place(app) {
                    Ok(placement) => self.launch_on(&id, placement),
                    Err(declined) => {
                        self.record_declined(&id, declined);
                        break;
                    }
                }
            }
        }
    }

    fn record_declined(
        &mut self,
        app_id: &str,
        declined: Vec<(usize, Vec<super::offers::Reason>)>,
    ) {
        let now = self.now();
        let no_matches: Vec<NoMatch> = declined
            .into_iter()
            .map(|(i, reasons)| NoMatch {
                agent_id: self.agents[i].id.clone(),
                reasons,
                at: now,
            })
            .collect();
        if let Some(stats) = self
            .apps
            .get_mut(app_id)
            .and_then(|a| a.launcher.as_mut())
            .map(|l| &mut l.stats)
        {
            for nm in no_matches {
                stats.record_no_match(nm);
            }
        }
    }

    fn launch_on(&mut self, app_id: &str, placement: Placement) {
        let now = self.now();
        let uuid = self.task_uuid();
        let seq = self.next_seq;
        self.next_seq += 1;
        let agent = self.agents[placement.agent].clone();
        let Some(app) = self.apps.get_mut(app_id) else {
            return;
        };
        app.queued -= 1;
        if let Some(l) = app.launcher.as_mut() {
            l.stats.record_match(now);
        }
        let safe = safe_path(app_id);
        let task = Task {
            id: format!("{safe}.{uuid}"),
            instance_id: format!("{safe}.marathon-{uuid}"),
            app_id: app_id.to_string(),
            seq,
            slave_id: agent.id.clone(),
            host: agent.spec.hostname.clone(),
            ip: agent.ip.clone(),
            container_id: uuid::Uuid::new_v4().to_string(),
            state: TaskState::Staging,
            staged_at: now,
            started_at: None,
            ports: placement.ports,
            version: app.version.clone(),
            config_version: app.config_version.clone(),
            cpus: app.spec.cpus,
            mem: app.spec.mem,
            disk: app.spec.disk,
            health: None,
            kill_at: None,
            launch: None,
            role: placement.role,
        };
        let record = HistoryKind::TaskLaunched {
            app_id: app_id.to_string(),
            task_id: task.id.clone(),
            host: task.host.clone(),
            version: task.version.clone(),
        };
        self.emit_status(&task, "TASK_STAGING", "");
        self.touch(app_id);
        self.free_changed(&task.slave_id);
        self.tasks_by_agent
            .entry(task.slave_id.clone())
            .or_default()
            .insert(task.id.clone());
        self.tasks.insert(task.id.clone(), task);
        self.record(record);
    }

    /// Emits `status_update_event` and `instance_changed_event` for a task.
    pub fn emit_status(&mut self, task: &Task, status: &str, message: &str) {
        let condition = match status {
            "TASK_STAGING" => "Staging",
            "TASK_RUNNING" => "Running",
            "TASK_KILLED" => "Killed",
            "TASK_FAILED" => "Failed",
            "TASK_LOST" => "Unreachable",
            _ => "Unknown",
        };
        self.emit(
            "status_update_event",
            json!({
                "slaveId": task.slave_id, "taskId": task.id, "taskStatus": status, "message": message,
                "appId": task.app_id, "host": task.host,
                "ipAddresses": [{ "ipAddress": task.ip, "protocol": "IPv4" }],
                "ports": task.ports, "version": task.version,
            }),
        );
        self.emit(
            "instance_changed_event",
            json!({
                "instanceId": task.instance_id, "condition": condition, "runSpecId": task.app_id,
                "agentId": task.slave_id, "host": task.host, "runSpecVersion": task.version,
            }),
        );
    }

    /// Queue entries' launch counts (for scale checks).
    pub fn queued(&self, app_id: &str) -> u32 {
        self.apps.get(app_id).map_or(0, |a: &App| a.queued)
    }
}
