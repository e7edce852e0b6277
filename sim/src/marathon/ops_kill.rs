//! Kill operations (by app, host or task id, with or without scaling) and deployment
//! cancellation/rollback.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use serde_json::{Value, json};

use super::deploy::Change;
use super::error::ApiError;
use super::ids::{app_id_of_task, canonical_path};
use super::json::TaskView;
use super::ops::{DeploymentResult, KillResult};
use super::state::Cluster;

/// How an endpoint writes the tasks a kill without `scale` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillShape {
    /// Marathon 1.4's internal instance JSON (`AppTasksResource`).
    Instances,
    /// Task JSON without health results (`TasksResource.killTasks`).
    Tasks,
}

impl Cluster {
    /// Kills tasks (grouped by app) as Marathon 1.4's `TaskKiller` does: without `scale`,
    /// every task found is answered (a kill already pending included) and killed; with
    /// `scale`, one deployment lowers each app's instances by the tasks found that are not
    /// already being killed (none: a deployment without steps) and kills them.
    pub fn kill(
        &mut self,
        by_app: BTreeMap<String, Vec<String>>,
        scale: bool,
        force: bool,
        shape: KillShape,
    ) -> Result<KillResult, ApiError> {
        if scale {
            let mut changes = Vec::new();
            for (app_id, victims) in by_app {
                let Some(app) = self.apps.get(&app_id) else {
                    continue;
                };
                let not_killing = victims
                    .iter()
                    .filter(|v| self.tasks.get(*v).is_some_and(|t| t.kill_at.is_none()))
                    .count();
                let mut target = app.def.clone();
                let n = app.spec.instances.saturating_sub(not_killing as u32);
                target.insert("instances".into(), json!(n));
                changes.push(Change {
                    app_id,
                    original: Some(app.def.clone()),
                    target: Some(target),
                    restart: false,
                    victims,
                });
            }
            return Ok(KillResult::Deployment(self.deploy(changes, force, "/")?));
        }
        let mut out = Vec::new();
        let scope: BTreeSet<String> = by_app.keys().cloned().collect();
        for id in by_app.into_values().flatten() {
            if let Some(t) = self.tasks.get(&id) {
                out.push(match shape {
                    KillShape::Instances => self.instance_json(t),
                    KillShape::Tasks => self.task_json(t, TaskView::KILLED),
                });
                self.kill_task(&id, "killed via API");
            }
        }
        self.step_apps(&scope);
        Ok(KillResult::Tasks(out))
    }

    /// DELETE /v2/apps/{id}/tasks[/{taskId}] target selection (`AppTasksResource`): the app's
    /// tasks on `host` (`*`: all) or the one task, kills pending included. Without `scale`
    /// an unknown app is 404 "App ... does not exist"; with it, an app without tasks is 404
    /// "Path ... does not exist" (`TaskKiller.killAndScale`).
    pub fn app_kill_targets(
        &self,
        raw_id: &str,
        host: Option<&str>,
        task_id: Option<&str>,
        scale: bool,
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let id = canonical_path(raw_id);
        let tasks = self.app_tasks(&id);
        if scale && tasks.is_empty() {
            return Err(ApiError::message(
                StatusCode::NOT_FOUND,
                format!("Path '{id}' does not exist"),
            ));
        }
        if !self.apps.contains_key(&id) {
            return Err(ApiError::app_not_found(&id));
        }
        let ids: Vec<String> = match task_id {
            Some(t) => tasks
                .iter()
                .filter(|task| task.id == t)
                .map(|task| task.id.clone())
                .collect(),
            None => tasks
                .iter()
                .filter(|t| host.is_none_or(|h| h == "*" || h == t.host))
                .map(|t| t.id.clone())
                .collect(),
        };
        if let Some(t) = task_id
            && ids.is_empty()
            && !scale
        {
            return Err(ApiError::task_not_found(t));
        }
        Ok(BTreeMap::from([(id, ids)]))
    }

    /// POST /v2/tasks/delete target selection: invalid ids are 400 (with the text of the
    /// `MatchError` `Task.Id` throws), unknown ones ignored, kills pending included.
    pub fn given_kill_targets(
        &self,
        body: &Value,
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let ids = body.get("ids").and_then(Value::as_array).ok_or_else(|| {
            ApiError::invalid_json(vec![("/ids".into(), "error.path.missing".into())])
        })?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in ids {
            let id = id.as_str().unwrap_or_default();
            let app = app_id_of_task(id).ok_or_else(|| {
                ApiError::message(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Invalid task id '{id}'. [taskId {id} is no valid identifier (of class java.lang.String)]"
                    ),
                )
            })?;
            if self.tasks.get(id).is_some_and(|t| t.app_id == app) {
                let ids = out.entry(app).or_default();
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
        Ok(out)
    }

    /// DELETE /v2/deployments/{id}: force cancels (`None`), otherwise a rollback deployment.
    pub fn delete_deployment(
        &mut self,
        id: &str,
        force: bool,
    ) -> Result<Option<DeploymentResult>, ApiError> {
        if !self.deployments.iter().any(|d| d.id == id) {
            return Err(ApiError::message(
                StatusCode::NOT_FOUND,
                format!("DeploymentPlan {id} does not exist"),
            ));
        }
        let Some(d) = self.cancel_deployment(id) else {
            return Ok(None);
        };
        if force {
            return Ok(None);
        }
        let changes = d
            .original
            .into_iter()
            .map(|(app_id, orig)| {
                let current = self.apps.get(&app_id).map(|a| a.def.clone());
                Change {
                    app_id,
                    original: current,
                    target: orig,
                    restart: false,
                    victims: vec![],
                }
            })
            .collect();
        self.deploy(changes, true, "/").map(Some)
    }
}
