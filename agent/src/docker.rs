//! The local Docker engine behind a narrow trait ([`DockerApi`]) and its bollard implementation
//! ([`BollardDocker`]). Bollard's types stop here: the rest of the agent sees [`ContainerRecord`],
//! [`ContainerSummary`] and [`DockerEvent`].

use std::collections::HashMap;
use std::future::Future;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerStateStatusEnum, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    EventsOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::StreamExt;
use futures::stream::BoxStream;

/// What the agent needs from Docker.
pub trait DockerApi: Send + Sync + 'static {
    /// Every container (`all=true`), as the list endpoint shows it.
    fn list(&self) -> impl Future<Output = Result<Vec<ContainerSummary>, DockerError>> + Send;
    /// Inspects one container by id or name; `Ok(None)` when it does not exist.
    fn inspect(
        &self,
        id_or_name: &str,
    ) -> impl Future<Output = Result<Option<ContainerRecord>, DockerError>> + Send;
    /// Container events since `since_unix_nanos` (replayed) and from then on. The stream ends
    /// or yields an error when the connection breaks.
    fn events(&self, since_unix_nanos: i64)
    -> BoxStream<'static, Result<DockerEvent, DockerError>>;
    /// `docker stop -t grace`; `Ok(false)` when the container does not exist.
    fn stop(
        &self,
        id: &str,
        grace_secs: u32,
    ) -> impl Future<Output = Result<bool, DockerError>> + Send;
    /// `docker rm -v`; `Ok(false)` when the container does not exist.
    fn remove(&self, id: &str) -> impl Future<Output = Result<bool, DockerError>> + Send;
}

/// One list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full id.
    pub id: String,
    /// Docker state.
    pub state: ContainerState,
}

/// An inspected container: what the agent reports and checks orders against. The one
/// container model Galley has (`galley_planner::orphans::model`): the coordinator plans over
/// the same nine fields the agent fills in here.
pub use galley_planner::orphans::model::{ContainerObs as ContainerRecord, ContainerState};

/// A container event (`Type: container`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerEvent {
    /// Container id.
    pub id: String,
    /// `create`, `start`, `die`, `destroy`, ...
    pub action: String,
}

/// A failed Docker call.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The socket could not be set up.
    #[error("docker socket {socket}: cannot connect")]
    Connect {
        /// Socket path.
        socket: String,
        /// Bollard's error.
        #[source]
        source: BollardError,
    },
    /// A call failed (transport or HTTP status).
    #[error("docker {op} {target}")]
    Call {
        /// Operation (`list`, `inspect`, `stop`, `remove`, `events`).
        op: &'static str,
        /// Container id or name, empty for list/events.
        target: String,
        /// Bollard's error (Docker's message for HTTP errors).
        #[source]
        source: BollardError,
    },
}

/// [`DockerApi`] over the engine's unix socket.
#[derive(Debug, Clone)]
pub struct BollardDocker {
    docker: Docker,
}

impl BollardDocker {
    /// Connects to the unix socket at `socket` (requests time out after `timeout_secs`).
    pub fn connect(socket: &str, timeout_secs: u64) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_unix(socket, timeout_secs, bollard::API_DEFAULT_VERSION)
            .map_err(|source| DockerError::Connect {
                socket: socket.to_owned(),
                source,
            })?;
        Ok(Self { docker })
    }
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn call_err(op: &'static str, target: &str) -> impl FnOnce(BollardError) -> DockerError {
    let target = target.to_owned();
    move |source| DockerError::Call { op, target, source }
}

impl DockerApi for BollardDocker {
    async fn list(&self) -> Result<Vec<ContainerSummary>, DockerError> {
        let opts = ListContainersOptionsBuilder::new().all(true).build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(call_err("list", ""))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                Some(ContainerSummary {
                    id: c.id?,
                    state: summary_state(c.state),
                })
            })
            .collect())
    }

    async fn inspect(&self, id_or_name: &str) -> Result<Option<ContainerRecord>, DockerError> {
        let c = match self.docker.inspect_container(id_or_name, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(call_err("inspect", id_or_name)(e)),
        };
        let (env, labels, image) = match c.config {
            Some(cfg) => (
                cfg.env.unwrap_or_default(),
                cfg.labels.unwrap_or_default(),
                cfg.image.unwrap_or_default(),
            ),
            None => (Vec::new(), HashMap::new(), String::new()),
        };
        let env_var = |key: &str| {
            env.iter()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let (state, started) = match c.state {
            Some(s) => (inspect_state(s.status), s.started_at),
            None => (ContainerState::Unknown, None),
        };
        Ok(Some(ContainerRecord {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            created_unix_nanos: parse_nanos(c.created.as_deref()),
            started_unix_nanos: parse_nanos(started.as_deref()),
            state,
            task_id_env: env_var("MESOS_TASK_ID"),
            task_id_label: labels.get("MESOS_TASK_ID").cloned(),
            marathon_app_id: env_var("MARATHON_APP_ID"),
            image,
        }))
    }

    fn events(
        &self,
        since_unix_nanos: i64,
    ) -> BoxStream<'static, Result<DockerEvent, DockerError>> {
        let filters = HashMap::from([("type".to_owned(), vec!["container".to_owned()])]);
        let since = format!(
            "{}.{:09}",
            since_unix_nanos.div_euclid(1_000_000_000),
            since_unix_nanos.rem_euclid(1_000_000_000)
        );
        let opts = EventsOptions {
            since: Some(since),
            filters: Some(filters),
            ..EventsOptions::default()
        };
        self.docker
            .events(Some(opts))
            .filter_map(|ev| async move {
                match ev {
                    Ok(m) => {
                        let id = m.actor.and_then(|a| a.id)?;
                        Some(Ok(DockerEvent {
                            id,
                            action: m.action.unwrap_or_default(),
                        }))
                    }
                    Err(source) => Some(Err(DockerError::Call {
                        op: "events",
                        target: String::new(),
                        source,
                    })),
                }
            })
            .boxed()
    }

    async fn stop(&self, id: &str, grace_secs: u32) -> Result<bool, DockerError> {
        let t = i32::try_from(grace_secs).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::new().t(t).build();
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(call_err("stop", id)(e)),
        }
    }

    async fn remove(&self, id: &str) -> Result<bool, DockerError> {
        let opts = RemoveContainerOptionsBuilder::new().v(true).build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(call_err("remove", id)(e)),
        }
    }
}

/// RFC3339(Nano) → unix nanoseconds; Docker's zero time and garbage give 0.
pub fn parse_nanos(s: Option<&str>) -> i64 {
    s.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

fn summary_state(s: Option<ContainerSummaryStateEnum>) -> ContainerState {
    use ContainerSummaryStateEnum as S;
    match s {
        Some(S::CREATED) => ContainerState::Created,
        Some(S::RUNNING) => ContainerState::Running,
        Some(S::PAUSED) => ContainerState::Paused,
        Some(S::RESTARTING) => ContainerState::Restarting,
        Some(S::REMOVING) => ContainerState::Removing,
        Some(S::EXITED) => ContainerState::Exited,
        Some(S::DEAD) => ContainerState::Dead,
        _ => ContainerState::Unknown,
    }
}

fn inspect_state(s: Option<ContainerStateStatusEnum>) -> ContainerState {
    use ContainerStateStatusEnum as S;
    match s {
        Some(S::CREATED) => ContainerState::Created,
        Some(S::RUNNING) => ContainerState::Running,
        Some(S::PAUSED) => ContainerState::Paused,
        Some(S::RESTARTING) => ContainerState::Restarting,
        Some(S::REMOVING) => ContainerState::Removing,
        Some(S::EXITED) => ContainerState::Exited,
        Some(S::DEAD) => ContainerState::Dead,
        _ => ContainerState::Unknown,
    }
}

/// The state an event implies for a known container, if it changes it.
pub fn state_after(action: &str) -> Option<ContainerState> {
    match action {
        "start" | "unpause" | "restart" => Some(ContainerState::Running),
        "die" | "stop" => Some(ContainerState::Exited),
        "pause" => Some(ContainerState::Paused),
        _ => None,
    }
}
