//! The coordinator's own terms for agent data: containers as inventoried, per-host snapshots,
//! orders and their outcomes. Protobuf types are converted to these in `service.rs` only.

use std::fmt;

use std::time::Instant;

/// A container's Docker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainerState {
    /// Unknown.
    Unknown,
    /// Never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead.
    Dead,
}

impl ContainerState {
    /// Whether a process may be running (what the reaper cares about).
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

/// One container as an agent reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerObs {
    /// Full id.
    pub id: String,
    /// Name without `/`.
    pub name: String,
    /// Creation time, unix nanoseconds.
    pub created_unix_nanos: i64,
    /// Start time, unix nanoseconds (0: never).
    pub started_unix_nanos: i64,
    /// State.
    pub state: ContainerState,
    /// Env `MESOS_TASK_ID`.
    pub task_id_env: Option<String>,
    /// Label `MESOS_TASK_ID`.
    pub task_id_label: Option<String>,
    /// Env `MARATHON_APP_ID`.
    pub marathon_app_id: Option<String>,
    /// Image.
    pub image: String,
}

impl ContainerObs {
    /// Whether the Mesos docker containerizer could have made it (name `mesos-*`).
    pub fn is_mesos(&self) -> bool {
        self.name.starts_with("mesos-")
    }

    /// Its task ids (env and label; both when they differ).
    pub fn task_ids(&self) -> impl Iterator<Item = &str> {
        let label = self
            .task_id_label
            .as_deref()
            .filter(|l| Some(*l) != self.task_id_env.as_deref());
        self.task_id_env
            .as_deref()
            .into_iter()
            .chain(label)
            .filter(|t| !t.is_empty())
    }
}

/// One host's inventory as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSnapshot {
    /// Agent hostname.
    pub host: String,
    /// Connected, inventoried and heard from within the stale limit.
    pub fresh: bool,
    /// When the inventory last changed (full inventory or delta received).
    pub last_change: Instant,
    /// Its containers, by id order.
    pub containers: Vec<ContainerObs>,
}

/// What an order targets: the container as the coordinator last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTarget {
    /// Full id.
    pub container_id: String,
    /// Name.
    pub name: String,
    /// Creation time, unix nanoseconds.
    pub created_unix_nanos: i64,
}

/// An order as sent to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSpec {
    /// Unique id.
    pub order_id: String,
    /// Leader term of the decision.
    pub leader_term: u64,
    /// The container.
    pub target: OrderTarget,
    /// `docker stop -t`.
    pub grace_seconds: u32,
    /// Named reason (`NO_SUCH_TASK`, `OPERATOR`).
    pub reason: String,
}

/// What an agent did with an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    /// Stopped and removed, or already gone.
    Done {
        /// Agent's detail.
        detail: String,
    },
    /// A local check failed (named reason, e.g. `REPLACED`).
    Refused {
        /// Reason name.
        reason: String,
        /// Agent's detail.
        detail: String,
    },
    /// Docker failed.
    Failed {
        /// Docker's error.
        detail: String,
    },
}

impl fmt::Display for OrderOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done { detail } => write!(f, "done ({detail})"),
            Self::Refused { reason, detail } => write!(f, "refused {reason} ({detail})"),
            Self::Failed { detail } => write!(f, "failed ({detail})"),
        }
    }
}
