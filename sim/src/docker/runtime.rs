//! The per-host registry of engines that implements [`HostRuntime`]: emulated Mesos agents
//! start and stop Mesos-shaped containers in the Docker engine of their host (spec §3.2).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::engine::DockerEngine;
use super::model::StopBehavior;
use super::spec::ContainerSpec;
use crate::{HostRuntime, SimClock, TaskLaunch};

/// Where the Mesos sandbox is mapped inside task containers.
pub const MESOS_SANDBOX: &str = "/mnt/mesos/sandbox";

/// How the Mesos docker containerizer names containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MesosNaming {
    /// Mesos ≤0.22 and ≥1.4: `mesos-<containerId>`.
    ContainerId,
    /// Mesos 0.23–1.3: `mesos-<slaveId>.<containerId>`.
    SlaveIdDotContainerId,
}

impl MesosNaming {
    /// The docker name of the task container.
    pub fn container_name(self, slave_id: &str, container_id: &str) -> String {
        match self {
            Self::ContainerId => format!("mesos-{container_id}"),
            Self::SlaveIdDotContainerId => format!("mesos-{slave_id}.{container_id}"),
        }
    }
}

/// How task containers are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesosDockerConfig {
    pub naming: MesosNaming,
    /// Set the `MESOS_TASK_ID` docker label when the launch does not carry it (Marathon ≥1.4
    /// passes `--label=MESOS_TASK_ID=…`).
    pub task_id_label: bool,
    /// How task processes react to `docker stop` (the executor's kill path).
    pub stop_behavior: StopBehavior,
}

impl MesosDockerConfig {
    /// Mesos ≥1.4 with Marathon ≥1.4: `mesos-<containerId>`, label set; tasks ignore SIGTERM,
    /// so a killed task's container exits 137.
    pub fn mesos_1_4() -> Self {
        Self {
            naming: MesosNaming::ContainerId,
            task_id_label: true,
            stop_behavior: StopBehavior::IgnoreSigterm,
        }
    }

    /// Mesos 0.23–1.3 with Marathon <1.4: `mesos-<slaveId>.<containerId>`, env only.
    pub fn mesos_1_3() -> Self {
        Self {
            naming: MesosNaming::SlaveIdDotContainerId,
            task_id_label: false,
            ..Self::mesos_1_4()
        }
    }
}

/// Hostname → Docker engine, created on first use. Implements [`HostRuntime`].
#[derive(Debug)]
pub struct DockerHosts {
    clock: SimClock,
    config: MesosDockerConfig,
    engines: Mutex<BTreeMap<String, DockerEngine>>,
}

impl DockerHosts {
    /// An empty registry whose engines share `clock`.
    pub fn new(clock: SimClock, config: MesosDockerConfig) -> Self {
        Self {
            clock,
            config,
            engines: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, DockerEngine>> {
        self.engines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine of `hostname`, created empty if new.
    pub fn engine(&self, hostname: &str) -> DockerEngine {
        self.lock()
            .entry(hostname.to_owned())
            .or_insert_with(|| DockerEngine::new(self.clock.clone()))
            .clone()
    }

    /// The engine of `hostname` if it exists.
    pub fn get(&self, hostname: &str) -> Option<DockerEngine> {
        self.lock().get(hostname).cloned()
    }

    /// Every known hostname.
    pub fn hostnames(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The container spec the docker containerizer would run for `launch`.
    pub fn task_container_spec(&self, launch: &TaskLaunch) -> ContainerSpec {
        let name = self
            .config
            .naming
            .container_name(&launch.slave_id, &launch.container_id);
        let mut env = launch.env.clone();
        env.entry("MESOS_TASK_ID".to_owned())
            .or_insert_with(|| launch.task_id.clone());
        env.entry("MARATHON_APP_ID".to_owned())
            .or_insert_with(|| launch.app_id.clone());
        env.insert("MESOS_SANDBOX".to_owned(), MESOS_SANDBOX.to_owned());
        env.insert("MESOS_CONTAINER_NAME".to_owned(), name.clone());
        let mut spec = ContainerSpec::new(&name, &launch.image)
            .network_mode("bridge")
            .stop_behavior(self.config.stop_behavior);
        for (k, v) in &env {
            spec = spec.env(k, v);
        }
        for (k, v) in &launch.labels {
            spec = spec.label(k, v);
        }
        if self.config.task_id_label && !launch.labels.contains_key("MESOS_TASK_ID") {
            spec = spec.label("MESOS_TASK_ID", &launch.task_id);
        }
        spec
    }
}

impl HostRuntime for DockerHosts {
    fn task_launched(&self, launch: &TaskLaunch) {
        let engine = self.engine(&launch.hostname);
        match engine.sim_inject(self.task_container_spec(launch)) {
            Ok(id) => {
                tracing::debug!(host = %launch.hostname, task = %launch.task_id, %id, "task container started")
            }
            Err(e) => {
                tracing::warn!(host = %launch.hostname, task = %launch.task_id, error = %e, "task container not started")
            }
        }
    }

    fn task_ended(&self, hostname: &str, task_id: &str) {
        let Some(engine) = self.get(hostname) else {
            tracing::warn!(host = %hostname, task = %task_id, "task ended on an unknown host");
            return;
        };
        match engine.sim_find_task(task_id) {
            Some(c) => {
                engine.sim_stop_now(&c.id);
            }
            None => {
                tracing::warn!(host = %hostname, task = %task_id, "no container for ended task")
            }
        }
    }
}
