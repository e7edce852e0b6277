//! Emulators of the external systems Galley drives: Marathon v2 (with a simulated Mesos
//! underneath and the Mesos master's state endpoints) and the Docker Engine API.
//!
//! They are product code: `galley-sim` serves them on real sockets, `galley-demo`
//! embeds them, and every Galley client talks to them over HTTP exactly as it would talk to the
//! real systems. They follow `shared/specs/marathon-mesos-docker-api.md` to the field.
//!
//! Shared pieces live here: the [`SimClock`] (virtual for tests, real-time for `demo`) and the
//! [`HostRuntime`] hook through which emulated Mesos agents start and stop containers in a
//! host's (emulated) Docker engine.

pub mod clock;
pub mod docker;
pub mod haproxy;
pub mod marathon;

pub use clock::SimClock;

use std::collections::BTreeMap;

/// A task the emulated Mesos agent has launched on a host, as its Docker containerizer would
/// see it (spec §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLaunch {
    /// Agent hostname.
    pub hostname: String,
    /// Mesos agent (slave) id.
    pub slave_id: String,
    /// Mesos task id, e.g. `svc.main.git1234abcd.config5678ef90.<uuid>`.
    pub task_id: String,
    /// Mesos ContainerID (a UUID string); the Docker name derives from it.
    pub container_id: String,
    /// Marathon app id with its leading `/`.
    pub app_id: String,
    /// Docker image as given in the app definition.
    pub image: String,
    /// Environment of the task container (Marathon's env + MESOS_TASK_ID, MARATHON_APP_ID, ...).
    pub env: BTreeMap<String, String>,
    /// Docker labels (e.g. `MESOS_TASK_ID` when Marathon passes `--label=MESOS_TASK_ID=...`).
    pub labels: BTreeMap<String, String>,
    /// Host ports assigned to the task.
    pub ports: Vec<u16>,
}

/// What emulated Mesos agents do to a host's container engine. The Marathon emulator calls it
/// when a task reaches TASK_RUNNING and when a task is killed; the Docker emulator implements it
/// so that `demo` shows Mesos-shaped containers on each emulated slave.
pub trait HostRuntime: Send + Sync + 'static {
    /// A task was launched on `launch.hostname`; start its container.
    fn task_launched(&self, launch: &TaskLaunch);
    /// A task ended (killed, failed, finished); its container stops (and is kept, as Mesos keeps
    /// exited containers for `--docker_remove_delay`).
    fn task_ended(&self, hostname: &str, task_id: &str);
}
