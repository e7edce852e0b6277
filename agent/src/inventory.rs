//! The container inventory: a full list (inspecting only containers not seen before), kept
//! current by Docker's `/events`, re-listed on a timer and after any event-stream error.
//!
//! [`InventoryTask::spawn`] publishes each new state as a whole [`Snapshot`] on a `watch`
//! channel: the channel holds one value, so a slow or disconnected session never makes it
//! buffer; the session diffs snapshots ([`diff`]) to produce deltas.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::docker::{ContainerRecord, DockerApi, DockerError, DockerEvent, state_after};
use crate::error_chain::ErrorChain;

/// Every known container by id.
pub type Snapshot = Arc<BTreeMap<String, ContainerRecord>>;

/// How long to wait before re-subscribing after an event-stream or list failure.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Events since this long before a (re)list are replayed, so none falls between list and
/// subscription.
const REPLAY_MARGIN_NANOS: i64 = 2_000_000_000;

/// The task that owns the inventory.
pub struct InventoryTask<D> {
    docker: Arc<D>,
    map: BTreeMap<String, ContainerRecord>,
    tx: watch::Sender<Snapshot>,
    relist_every: Duration,
}

impl<D: DockerApi> InventoryTask<D> {
    /// Starts the task; the receiver sees an empty snapshot until the first list completes
    /// (`ready` turns true then).
    pub fn spawn(
        docker: Arc<D>,
        relist_every: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> (
        watch::Receiver<Snapshot>,
        watch::Receiver<bool>,
        JoinHandle<()>,
    ) {
        let (tx, rx) = watch::channel(Snapshot::default());
        let (ready_tx, ready_rx) = watch::channel(false);
        let task = Self {
            docker,
            map: BTreeMap::new(),
            tx,
            relist_every,
        };
        // Ends when `stop` turns true (the run loop holds no state worth finishing).
        let handle = tokio::spawn(async move {
            tokio::select! {
                () = task.run(ready_tx) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
        (rx, ready_rx, handle)
    }

    async fn run(mut self, ready: watch::Sender<bool>) {
        loop {
            let since = now_unix_nanos() - REPLAY_MARGIN_NANOS;
            let mut events = self.docker.events(since);
            if let Err(err) = self.relist().await {
                tracing::warn!(error = %ErrorChain(&err), "docker list failed; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            ready.send_replace(true);
            let mut timer = tokio::time::interval(self.relist_every);
            timer.tick().await;
            loop {
                // Both arms are cancel-safe: the stream and the interval keep their state.
                tokio::select! {
                    ev = events.next() => match ev {
                        Some(Ok(ev)) => self.apply(ev).await,
                        Some(Err(err)) => {
                            tracing::warn!(error = %ErrorChain(&err), "docker events failed; re-listing");
                            break;
                        }
                        None => {
                            tracing::warn!("docker event stream ended; re-listing");
                            break;
                        }
                    },
                    _ = timer.tick() => {
                        if let Err(err) = self.relist().await {
                            tracing::warn!(error = %ErrorChain(&err), "periodic docker list failed");
                            break;
                        }
                    }
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Lists everything; inspects only ids not already known; drops vanished ones.
    async fn relist(&mut self) -> Result<(), DockerError> {
        let list = self.docker.list().await?;
        let mut next = BTreeMap::new();
        for s in list {
            match self.map.remove(&s.id) {
                Some(mut known) => {
                    known.state = s.state;
                    next.insert(s.id, known);
                }
                None => {
                    if let Some(rec) = self.docker.inspect(&s.id).await? {
                        next.insert(s.id, rec);
                    }
                }
            }
        }
        self.map = next;
        self.publish();
        Ok(())
    }

    async fn apply(&mut self, ev: DockerEvent) {
        if ev.action == "destroy" {
            if self.map.remove(&ev.id).is_some() {
                self.publish();
            }
            return;
        }
        if let Some(known) = self.map.get_mut(&ev.id) {
            if let Some(state) = state_after(&ev.action).filter(|s| *s != known.state) {
                known.state = state;
                self.publish();
            }
            return;
        }
        match self.docker.inspect(&ev.id).await {
            Ok(Some(rec)) => {
                self.map.insert(ev.id, rec);
                self.publish();
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %ErrorChain(&err), id = %ev.id, "inspect after event failed");
            }
        }
    }

    fn publish(&self) {
        self.tx.send_replace(Arc::new(self.map.clone()));
    }
}

/// What changed from `old` to `new`: upserted records (new or different) and removed ids.
pub fn diff(
    old: &BTreeMap<String, ContainerRecord>,
    new: &BTreeMap<String, ContainerRecord>,
) -> (Vec<ContainerRecord>, Vec<String>) {
    let upserted = new
        .iter()
        .filter(|(id, rec)| old.get(*id) != Some(*rec))
        .map(|(_, rec)| rec.clone())
        .collect();
    let removed = old
        .keys()
        .filter(|id| !new.contains_key(*id))
        .cloned()
        .collect();
    (upserted, removed)
}

/// Wall-clock now in unix nanoseconds.
pub fn now_unix_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
