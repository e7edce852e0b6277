//! What a new container is made from: [`ContainerSpec`], built by the create endpoint, by
//! `sim_inject` callers and by the Mesos runtime hook.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::{Container, StopBehavior};

/// The state an injected container starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Created,
    Running,
    Paused,
    Exited { exit_code: i64 },
    Dead,
}

/// A container to create. Fields mirror the create request's `Config`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Name without `/`; `None` lets the engine pick one.
    pub name: Option<String>,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `K=V` strings.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub network_mode: String,
    /// Creation time; `None` means the clock's now.
    pub created: Option<DateTime<Utc>>,
    /// Used by `sim_inject` only; the create endpoint always makes `created` containers.
    pub state: InitialState,
    pub stop_behavior: StopBehavior,
}

/// A create request body Docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateBodyError {
    #[error("config cannot be empty in order to create a container")]
    Empty,
    #[error("invalid JSON: {0}")]
    Json(String),
}

impl ContainerSpec {
    /// A running container named `name` of `image`, with no command, env or labels. PID 1
    /// ignores SIGTERM (as a busybox `sleep` does), so `stop` ends with exit code 137.
    pub fn new(name: &str, image: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            image: image.to_owned(),
            entrypoint: None,
            cmd: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            network_mode: "none".to_owned(),
            created: None,
            state: InitialState::Running,
            stop_behavior: StopBehavior::IgnoreSigterm,
        }
    }

    /// A running Mesos-shaped container named `mesos-<new uuid>` running `/bin/sleep 3600`,
    /// with env and label `MESOS_TASK_ID` when `task_id` is given: what an orphan left by a
    /// lost Mesos agent looks like.
    pub fn mesos_orphan(task_id: Option<&str>, image: &str) -> Self {
        let spec = Self::new(&format!("mesos-{}", uuid::Uuid::new_v4()), image)
            .cmd(["/bin/sleep", "3600"])
            .env("MESOS_SANDBOX", super::runtime::MESOS_SANDBOX);
        match task_id {
            Some(task_id) => spec
                .env("MESOS_TASK_ID", task_id)
                .label("MESOS_TASK_ID", task_id),
            None => spec,
        }
    }

    /// The same configuration as an existing container (for `sim_replace`).
    pub fn from_container(c: &Container) -> Self {
        Self {
            name: Some(c.name.clone()),
            image: c.image.clone(),
            entrypoint: None,
            cmd: Some(
                std::iter::once(c.path.clone())
                    .chain(c.args.iter().cloned())
                    .collect(),
            )
            .filter(|v: &Vec<String>| v.iter().any(|s| !s.is_empty())),
            env: c.env.clone(),
            labels: c.labels.clone(),
            network_mode: c.network_mode.clone(),
            created: None,
            state: InitialState::Running,
            stop_behavior: c.stop_behavior,
        }
    }

    /// Parses a `POST /containers/create` body (`Image`, `Cmd`, `Entrypoint`, `Env`,
    /// `Labels`, `HostConfig.NetworkMode`; other fields are accepted and ignored).
    pub fn from_create_body(name: Option<&str>, body: &[u8]) -> Result<Self, CreateBodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(CreateBodyError::Empty);
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| CreateBodyError::Json(e.to_string()))?;
        let str_list = |v: Option<&Value>| -> Option<Vec<String>> {
            match v? {
                Value::String(s) => Some(vec![s.clone()]),
                Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            }
        };
        let labels = v
            .get("Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let network_mode = v
            .pointer("/HostConfig/NetworkMode")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty() && *m != "default")
            .unwrap_or("bridge");
        Ok(Self {
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            image: v
                .get("Image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            entrypoint: str_list(v.get("Entrypoint")),
            cmd: str_list(v.get("Cmd")),
            env: str_list(v.get("Env")).unwrap_or_default(),
            labels,
            network_mode: network_mode.to_owned(),
            created: None,
            state: InitialState::Created,
            stop_behavior: StopBehavior::IgnoreSigterm,
        })
    }

    pub fn cmd<S: Into<String>>(mut self, cmd: impl IntoIterator<Item = S>) -> Self {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn network_mode(mut self, mode: &str) -> Self {
        self.network_mode = mode.to_owned();
        self
    }

    pub fn created_at(mut self, t: DateTime<Utc>) -> Self {
        self.created = Some(t);
        self
    }

    pub fn state(mut self, state: InitialState) -> Self {
        self.state = state;
        self
    }

    pub fn stop_behavior(mut self, behavior: StopBehavior) -> Self {
        self.stop_behavior = behavior;
        self
    }

    /// Docker's split of entrypoint + cmd into `Path` and `Args`.
    pub(super) fn path_and_args(&self) -> (String, Vec<String>) {
        let mut all = self
            .entrypoint
            .iter()
            .flatten()
            .chain(self.cmd.iter().flatten())
            .cloned();
        let path = all.next().unwrap_or_default();
        (path, all.collect())
    }
}
