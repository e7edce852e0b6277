//! Simulation hooks of the engine: container injection, replacement, forced exits, fault
//! switches and response delays (the `sim_*` methods).

use std::time::Duration;

use super::engine::{DockerEngine, resolve};
use super::error::EngineError;
use super::model::{Container, ContainerStatus, StopBehavior};
use super::signal::SIGKILL;
use super::spec::{ContainerSpec, InitialState};

/// A fault switch: requests whose path contains `path_contains` (all when `None`) fail with
/// `status` and `{"message": message}`, `times` times (forever when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub path_contains: Option<String>,
    pub status: u16,
    pub message: String,
    pub times: Option<u32>,
}

impl FaultRule {
    /// Every request fails with `status`.
    pub fn all(status: u16, message: &str) -> Self {
        Self {
            path_contains: None,
            status,
            message: message.to_owned(),
            times: None,
        }
    }

    /// Requests whose path contains `path_contains` fail with `status`.
    pub fn path(path_contains: &str, status: u16, message: &str) -> Self {
        Self {
            path_contains: Some(path_contains.to_owned()),
            ..Self::all(status, message)
        }
    }

    /// Limits the rule to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

impl DockerEngine {
    /// A snapshot of every container, oldest first.
    pub fn sim_containers(&self) -> Vec<Container> {
        let mut all: Vec<Container> = self.lock().containers.values().cloned().collect();
        all.sort_by_key(|c| c.seq);
        all
    }

    /// The newest container whose label or env `MESOS_TASK_ID` is `task_id`.
    pub fn sim_find_task(&self, task_id: &str) -> Option<Container> {
        let env_entry = format!("MESOS_TASK_ID={task_id}");
        self.sim_containers().into_iter().rev().find(|c| {
            c.labels.get("MESOS_TASK_ID").is_some_and(|t| t == task_id)
                || c.env.contains(&env_entry)
        })
    }

    /// Creates a container directly in `spec.state` (emitting the events its history implies:
    /// create, start, die). Use it for orphans, foreign containers, exited leftovers.
    pub fn sim_inject(&self, spec: ContainerSpec) -> Result<String, EngineError> {
        let mut st = self.lock();
        let state = spec.state;
        let id = self.insert(&mut st, spec)?;
        match state {
            InitialState::Created => {}
            InitialState::Running => self.start_locked(&mut st, &id),
            InitialState::Paused => {
                self.start_locked(&mut st, &id);
                self.set_status(&mut st, &id, ContainerStatus::Paused);
                self.event(&mut st, &id, "pause", None);
            }
            InitialState::Exited { exit_code } => {
                self.start_locked(&mut st, &id);
                self.die_locked(&mut st, &id, exit_code);
            }
            InitialState::Dead => {
                self.start_locked(&mut st, &id);
                self.die_locked(&mut st, &id, 128 + SIGKILL);
                self.set_status(&mut st, &id, ContainerStatus::Dead);
            }
        }
        Ok(id)
    }

    /// The container's process exits by itself with `exit_code` (event: die).
    pub fn sim_exit(&self, given: &str, exit_code: i64) -> Result<(), EngineError> {
        let mut st = self.lock();
        let id = resolve(&st, given)?;
        if st.containers[&id].status.is_alive() {
            self.die_locked(&mut st, &id, exit_code);
        }
        Ok(())
    }

    /// Removes a container as `docker rm -f` would; false when it does not exist.
    pub fn sim_force_remove(&self, given: &str) -> bool {
        self.remove(given, true).is_ok()
    }

    /// Replaces a container by a new one with the same name and config but a new id and
    /// creation time (as if it was removed and re-created), started if the old one was alive.
    pub fn sim_replace(&self, given: &str) -> Result<String, EngineError> {
        let old = self.container(given)?;
        self.remove(&old.id, true)?;
        let state = if old.status.is_alive() {
            InitialState::Running
        } else {
            InitialState::Created
        };
        self.sim_inject(ContainerSpec::from_container(&old).state(state))
    }

    /// Changes how a container reacts to SIGTERM.
    pub fn sim_set_stop_behavior(
        &self,
        given: &str,
        behavior: StopBehavior,
    ) -> Result<(), EngineError> {
        let mut st = self.lock();
        let id = resolve(&st, given)?;
        if let Some(c) = st.containers.get_mut(&id) {
            c.stop_behavior = behavior;
        }
        Ok(())
    }

    /// Adds a fault switch (checked before every request, in order of addition).
    pub fn sim_fail_requests(&self, rule: FaultRule) {
        self.lock().faults.push(rule);
    }

    /// Removes all fault switches and the response delay.
    pub fn sim_clear_faults(&self) {
        let mut st = self.lock();
        st.faults.clear();
        st.response_delay = Duration::ZERO;
    }

    /// Delays every response by `delay` (real time, whatever the clock).
    pub fn sim_set_response_delay(&self, delay: Duration) {
        self.lock().response_delay = delay;
    }

    /// The current response delay.
    pub fn response_delay(&self) -> Duration {
        self.lock().response_delay
    }

    /// The fault to answer `path` with, if a switch matches (consuming one of its `times`).
    pub fn take_fault(&self, path: &str) -> Option<(u16, String)> {
        let mut st = self.lock();
        let idx = st.faults.iter().position(|r| {
            r.path_contains.as_deref().is_none_or(|p| path.contains(p)) && r.times != Some(0)
        })?;
        let rule = &mut st.faults[idx];
        let answer = (rule.status, rule.message.clone());
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
        }
        Some(answer)
    }
}
