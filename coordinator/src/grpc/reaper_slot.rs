//! [`ReaperSlot`]: the running orphan reaper and its mode, switchable at run time.
//!
//! The reaper fixes its policy when spawned, so switching modes replaces the reaper: the old
//! loop is stopped and a new one is spawned by the factory with the new mode. The new reaper
//! starts with no suspects, so a container is reaped only after two fresh observations again
//! (never sooner than before the switch).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::agents::{AgentRegistry, AuditSink, ReaperHandle, ReaperMode, ReaperPolicy};
use crate::marathon::MarathonApi;
use crate::mesos::MesosApi;

/// Builds and spawns a reaper in the given mode.
pub type ReaperFactory = Box<dyn Fn(ReaperMode) -> (ReaperHandle, JoinHandle<()>) + Send + Sync>;

/// The current reaper; see the module docs.
pub struct ReaperSlot {
    factory: ReaperFactory,
    state: Mutex<SlotState>,
}

struct SlotState {
    mode: ReaperMode,
    handle: ReaperHandle,
    task: JoinHandle<()>,
}

impl ReaperSlot {
    /// A slot whose reapers run `policy` with the mode switched in, over these clients; the
    /// first one in `mode`. `leader` is the term orders may carry (`None`: never order).
    pub fn spawning<M: MarathonApi, Me: MesosApi>(
        mode: ReaperMode,
        policy: ReaperPolicy,
        marathon: Arc<M>,
        mesos: Arc<Me>,
        registry: AgentRegistry,
        leader: watch::Receiver<Option<u64>>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        let factory = move |mode: ReaperMode| {
            ReaperHandle::spawn(
                marathon.clone(),
                mesos.clone(),
                registry.clone(),
                leader.clone(),
                ReaperPolicy {
                    mode,
                    ..policy.clone()
                },
                audit.clone(),
            )
        };
        Self::new(mode, Box::new(factory))
    }

    /// Spawns the first reaper in `mode`.
    pub fn new(mode: ReaperMode, factory: ReaperFactory) -> Self {
        let (handle, task) = factory(mode);
        Self {
            factory,
            state: Mutex::new(SlotState { mode, handle, task }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running reaper.
    pub fn handle(&self) -> ReaperHandle {
        self.lock().handle.clone()
    }

    /// Its mode.
    pub fn mode(&self) -> ReaperMode {
        self.lock().mode
    }

    /// Switches to `mode` (no-op when already in it); returns the previous mode.
    pub fn set_mode(&self, mode: ReaperMode) -> ReaperMode {
        let mut st = self.lock();
        let previous = st.mode;
        if previous != mode {
            st.task.abort();
            let (handle, task) = (self.factory)(mode);
            *st = SlotState { mode, handle, task };
        }
        previous
    }
}

impl Drop for ReaperSlot {
    fn drop(&mut self) {
        self.lock().task.abort();
    }
}
