//! API operations on the cluster (create, update, delete, restart, kill, deployments), each
//! returning Marathon's result or exact error.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::deploy::{Change, Deployment, plan_steps};
use super::error::ApiError;
use super::ids::canonical_path;
use super::model::{AppSpec, config_differs};
use super::state::{App, Backoff, Cluster};
use super::validate::normalize_app;

/// A deployment result ("DR"): `{"version", "deploymentId"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentResult {
    pub id: String,
    pub version: String,
}

impl DeploymentResult {
    pub fn json(&self) -> Value {
        json!({ "version": self.version, "deploymentId": self.id })
    }
}

/// What a kill endpoint did.
#[derive(Debug, Clone)]
pub enum KillResult {
    /// `scale=true`: a ScaleApplication deployment.
    Deployment(DeploymentResult),
    /// The killed tasks (Task JSON, see spec §1.2 note on 1.4's instance JSON).
    Tasks(Vec<Value>),
}

/// The parent group of an app id (`PathId.parent`): `/a/b` → `/a`, `/a` → `/`.
fn parent(id: &str) -> String {
    match id.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((p, _)) => p.to_string(),
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::invalid_json(vec![(String::new(), "error.expected.jsobject".into())])
    })
}

impl Cluster {
    /// Locks, plans, stores the target definitions and starts a deployment (§2), then
    /// publishes `group_change_success` for `group` (`GroupManagerActor.getUpgrade`: the app's
    /// parent for single-app changes, `/` for root updates); a refused change publishes
    /// `group_change_failed` with the error's message.
    pub fn deploy(
        &mut self,
        changes: Vec<Change>,
        force: bool,
        group: &str,
    ) -> Result<DeploymentResult, ApiError> {
        match self.start_deployment(changes, force) {
            Ok(dr) => {
                let event = json!({ "groupId": group, "version": dr.version });
                self.emit("group_change_success", event);
                Ok(dr)
            }
            Err(e) => {
                self.group_change_failed(group, &e);
                Err(e)
            }
        }
    }

    /// Publishes `group_change_failed` for a refused change.
    pub fn group_change_failed(&mut self, group: &str, e: &ApiError) {
        let reason = e.body["message"].as_str().unwrap_or_default().to_string();
        let version = super::ids::ts(self.now());
        let event = json!({ "groupId": group, "version": version, "reason": reason });
        self.emit("group_change_failed", event);
    }

    fn start_deployment(
        &mut self,
        mut changes: Vec<Change>,
        force: bool,
    ) -> Result<DeploymentResult, ApiError> {
        let mut taken = BTreeSet::new();
        for c in &mut changes {
            if let Some(mut t) = c.target.take() {
                self.assign_service_ports(&c.app_id, &mut t, c.original.as_ref(), &mut taken);
                c.target = Some(t);
            }
        }
        let steps = plan_steps(&changes);
        let affected: Vec<String> = changes
            .iter()
            .filter(|c| steps.iter().flatten().any(|a| a.app == c.app_id))
            .map(|c| c.app_id.clone())
            .collect();
        let conflicts: BTreeSet<String> = affected
            .iter()
            .flat_map(|a| self.locking_deployments(a))
            .collect();
        // The apps this call can change: its own and those of the deployments it cancels.
        let mut scope: BTreeSet<String> = changes.iter().map(|c| c.app_id.clone()).collect();
        if !conflicts.is_empty() {
            if !force {
                return Err(ApiError::locked(&conflicts.into_iter().collect::<Vec<_>>()));
            }
            for id in conflicts {
                if let Some(d) = self.cancel_deployment(&id) {
                    scope.extend(d.affected);
                }
            }
        }
        let version = self.next_version();
        let mut original = BTreeMap::new();
        for c in changes {
            original.insert(c.app_id.clone(), c.original.clone());
            if let Some(target) = c.target {
                let changed = affected.contains(&c.app_id);
                self.store_app(
                    &c.app_id,
                    target,
                    c.original.as_ref(),
                    c.restart,
                    changed.then_some(version.as_str()),
                );
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.deployments.push(Deployment {
            id: id.clone(),
            version: version.clone(),
            affected,
            steps,
            current: 0,
            step_first_seq: self.next_seq,
            original,
        });
        self.announce_deployment(self.deployments.len() - 1);
        self.step_apps(&scope);
        Ok(DeploymentResult { id, version })
    }

    fn store_app(
        &mut self,
        id: &str,
        mut def: Map<String, Value>,
        original: Option<&Map<String, Value>>,
        restart: bool,
        version: Option<&str>,
    ) {
        let now = self.now();
        let Some(version) = version else { return };
        let config_change = restart || original.is_none_or(|o| config_differs(o, &def));
        let last_config = match original {
            Some(o) if !config_change => o["versionInfo"]["lastConfigChangeAt"]
                .as_str()
                .unwrap_or(version)
                .to_string(),
            _ => version.to_string(),
        };
        def.insert("version".into(), json!(version));
        def.insert(
            "versionInfo".into(),
            json!({ "lastScalingAt": version, "lastConfigChangeAt": last_config }),
        );
        let spec = AppSpec::from_app(&def);
        self.held_ports.set(id, super::ports::service_ports(&def));
        self.touch(id);
        let first_round = spec
            .health
            .as_ref()
            .map(|h| now + chrono::Duration::milliseconds((h.interval_seconds * 1000.0) as i64));
        match self.apps.get_mut(id) {
            Some(app) => {
                if app.spec.health != spec.health {
                    app.next_health_round = first_round;
                }
                app.versions.push((version.to_string(), def.clone()));
                app.def = def;
                app.spec = spec;
                app.version = version.to_string();
                app.config_version = last_config;
                app.backoff = Backoff::default();
            }
            None => {
                let app = App {
                    versions: vec![(version.to_string(), def.clone())],
                    def,
                    spec,
                    version: version.to_string(),
                    config_version: last_config,
                    queued: 0,
                    launcher: None,
                    backoff: Backoff::default(),
                    last_task_failure: None,
                    next_health_round: first_round,
                };
                self.apps.insert(id.to_string(), app);
            }
        }
    }

    /// POST /v2/apps: the app id, the deployment, and the created definition as the 201 body
    /// shows it (`AppsResource.create` answers with the submitted app, before service ports
    /// are assigned and without `versionInfo`).
    pub fn create_app(
        &mut self,
        body: &Value,
        force: bool,
    ) -> Result<(String, DeploymentResult, Map<String, Value>), ApiError> {
        let obj = object(body)?;
        let raw_id = match obj.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ApiError::invalid_json(vec![(
                    "/id".into(),
                    "error.expected.jsstring".into(),
                )]));
            }
            None => {
                return Err(ApiError::invalid_json(vec![(
                    "/id".into(),
                    "error.path.missing".into(),
                )]));
            }
        };
        let def = normalize_app(obj, &raw_id)?;
        let id = canonical_path(&raw_id);
        let group = parent(&id);
        if self.apps.contains_key(&id) {
            let e = ApiError::message(
                StatusCode::CONFLICT,
                format!("An app with id [{id}] already exists."),
            );
            self.group_change_failed(&group, &e);
            return Err(e);
        }
        let change = Change {
            app_id: id.clone(),
            original: None,
            target: Some(def.clone()),
            restart: false,
            victims: vec![],
        };
        let dr = self.deploy(vec![change], force, &group)?;
        let mut submitted = def;
        submitted.insert("version".into(), json!(dr.version));
        super::ports::write_service_ports(&mut submitted);
        let event =
            json!({ "clientIp": "127.0.0.1", "uri": "/v2/apps", "appDefinition": submitted });
        self.emit("api_post_event", event);
        Ok((id, dr, submitted))
    }

    /// The target of a PUT: a rollback to `{"version"}` or a (partial) update.
    fn put_target(
        &self,
        id: &str,
        body: &Value,
        partial: bool,
    ) -> Result<Map<String, Value>, ApiError> {
        let obj = object(body)?;
        let existing = self.apps.get(id);
        if let (Some(v), 1) = (obj.get("version").and_then(Value::as_str), obj.len()) {
            let app = existing.ok_or_else(|| ApiError::app_not_found(id))?;
            let (_, def) = app
                .versions
                .iter()
                .find(|(ver, _)| ver == v)
                .ok_or_else(|| ApiError::app_version_not_found(id, v))?;
            return Ok(def.clone());
        }
        let mut merged = match existing {
            Some(app) if partial => app.def.clone(),
            _ => Map::new(),
        };
        for (k, v) in obj {
            merged.insert(k.clone(), v.clone());
        }
        normalize_app(&merged, id)
    }

    /// PUT /v2/apps/{id}; returns whether the app was created.
    pub fn put_app(
        &mut self,
        raw_id: &str,
        body: &Value,
        force: bool,
        partial: bool,
    ) -> Result<(bool, DeploymentResult), ApiError> {
        let id = canonical_path(raw_id);
        let target = self.put_target(&id, body, partial)?;
        let original = self.apps.get(&id).map(|a| a.def.clone());
        let created = original.is_none();
        let change = Change {
            app_id: id.clone(),
            original,
            target: Some(target),
            restart: false,
            victims: vec![],
        };
        let dr = self.deploy(vec![change], force, &parent(&id))?;
        if let Some(app) = self.apps.get(&id) {
            let event = json!({ "clientIp": "127.0.0.1", "uri": format!("/v2/apps{id}"), "appDefinition": app.def });
            self.emit("api_post_event", event);
        }
        Ok((created, dr))
    }

    /// PUT /v2/apps with an array of apps (each with an id).
    pub fn put_apps(
        &mut self,
        body: &Value,
        force: bool,
        partial: bool,
    ) -> Result<DeploymentResult, ApiError> {
        let list = body.as_array().ok_or_else(|| {
            ApiError::invalid_json(vec![(String::new(), "error.expected.jsarray".into())])
        })?;
        let mut changes = Vec::new();
        for item in list {
            let id = match item.get("id").and_then(Value::as_str) {
                Some(id) => canonical_path(id),
                None => {
                    return Err(ApiError::invalid_json(vec![(
                        "/id".into(),
                        "error.path.missing".into(),
                    )]));
                }
            };
            let target = self.put_target(&id, item, partial)?;
            let original = self.apps.get(&id).map(|a| a.def.clone());
            changes.push(Change {
                app_id: id,
                original,
                target: Some(target),
                restart: false,
                victims: vec![],
            });
        }
        self.deploy(changes, force, "/")
    }

    /// DELETE /v2/apps/{id}.
    pub fn delete_app(&mut self, raw_id: &str, force: bool) -> Result<DeploymentResult, ApiError> {
        let id = canonical_path(raw_id);
        let original = self
            .apps
            .get(&id)
            .map(|a| a.def.clone())
            .ok_or_else(|| ApiError::app_not_found(&id))?;
        self.deploy(
            vec![Change {
                app_id: id,
                original: Some(original),
                target: None,
                restart: false,
                victims: vec![],
            }],
            force,
            "/",
        )
    }

    /// POST /v2/apps/{id}/restart.
    pub fn restart_app(&mut self, raw_id: &str, force: bool) -> Result<DeploymentResult, ApiError> {
        let id = canonical_path(raw_id);
        let def = self
            .apps
            .get(&id)
            .map(|a| a.def.clone())
            .ok_or_else(|| ApiError::app_not_found(&id))?;
        let group = parent(&id);
        self.deploy(
            vec![Change {
                app_id: id,
                original: Some(def.clone()),
                target: Some(def),
                restart: true,
                victims: vec![],
            }],
            force,
            &group,
        )
    }
}
