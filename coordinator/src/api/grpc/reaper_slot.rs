//! [`ReaperSlot`]: the running orphan reaper, its loop task, and its mode, switchable at run
//! time.
//!
//! A mode switch changes the running reaper's mode: its suspects (and their sightings),
//! budgets and counters carry over, so switching report → enforce orders a container that
//! report mode already saw often enough at the next pass, never sooner than its sightings
//! allow (see `agents::planner`).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::agents::{
    AgentRegistry, AuditSink, MarathonSource, ReaperHandle, ReaperMode, ReaperPolicy,
};
use crate::marathon::MarathonApi;
use crate::mesos::MesosApi;

/// The current reaper; see the module docs.
pub struct ReaperSlot {
    handle: ReaperHandle,
    task: JoinHandle<()>,
}

impl ReaperSlot {
    /// Spawns a reaper running `policy` (its `mode` first) over these clients. `leader` is
    /// the term orders may carry (`None`: never order).
    pub fn spawning<M: MarathonApi, Me: MesosApi>(
        policy: ReaperPolicy,
        marathon: MarathonSource<M>,
        mesos: Arc<Me>,
        registry: AgentRegistry,
        leader: watch::Receiver<Option<u64>>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        let (handle, task) = ReaperHandle::spawn(marathon, mesos, registry, leader, policy, audit);
        Self { handle, task }
    }

    /// The running reaper.
    pub fn handle(&self) -> ReaperHandle {
        self.handle.clone()
    }

    /// Its mode.
    pub fn mode(&self) -> ReaperMode {
        self.handle.mode()
    }

    /// Switches to `mode` (no-op when already in it); returns the previous mode.
    pub fn set_mode(&self, mode: ReaperMode) -> ReaperMode {
        self.handle.set_mode(mode)
    }
}

impl ReaperSlot {
    /// Stops the reaper's loop (orders already out finish or time out on their own).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ReaperSlot {
    fn drop(&mut self) {
        self.task.abort();
    }
}
