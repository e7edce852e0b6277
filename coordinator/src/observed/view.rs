//! One view of Marathon, kept by listing once and then watching (as Kubernetes informers do):
//! the event stream is opened, then every app is listed, then each event marks the apps it
//! names dirty and only those are fetched again (`GET /v2/apps/{id}`). A full list happens at
//! start, after the stream breaks (before any event is trusted again), and every
//! `resync_every`. The reconciler plans from it, the monitor reads the pass that planned, and
//! the orphan reaper takes Marathon's task ids from it — one view for all three.
//!
//! Fail-closed: the view answers [`MarathonView::current`] only while it is *complete* (listed
//! since the stream last connected) and *settled* (no event received before the call still
//! waiting for its refetch: events that arrive meanwhile belong to the next pass, so a steady
//! stream of them never keeps a pass waiting, which at 50,000 instances made one pass in four
//! give up and list Marathon in full); a caller
//! waits a bounded time for that, then gets `None` and must list Marathon itself or hold (a
//! pass lists; the reaper holds with "marathon view not complete and fresh"). A failed refetch or list, a broken stream, or an
//! undecodable event make it incomplete until the next list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use galley_common::observed::{AppSnapshot, ObservedApp};
use tokio::sync::watch;
use tokio::time::Instant;

use super::marathon::MarathonApi;
use crate::error_chain::ErrorChain;

/// At most this many fetched apps are applied under one lock (what has arrived by then).
const APPLY_CHUNK: usize = 256;

/// How the view keeps itself current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewSettings {
    /// A full list this often even when the stream is healthy (a safety net).
    pub resync_every: Duration,
    /// Events are gathered this long before their apps are fetched (a burst, one fetch each).
    pub batch: Duration,
    /// Apps fetched at once.
    pub concurrency: usize,
    /// Reconnect backoff floor and ceiling after a broken stream or a failed list.
    pub backoff: (Duration, Duration),
}

impl Default for ViewSettings {
    /// A resync every 5 minutes, 50 ms batches, 8 fetches at once, 0.5–30 s backoff.
    fn default() -> Self {
        Self {
            resync_every: Duration::from_secs(300),
            batch: Duration::from_millis(50),
            concurrency: 8,
            backoff: (Duration::from_millis(500), Duration::from_secs(30)),
        }
    }
}

/// The view as operators see it (`GetStatus`, `/metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewStatus {
    /// Listed since the stream last connected, and watching.
    pub complete: bool,
    /// Apps held.
    pub apps: usize,
    /// Apps named by events and not fetched again yet.
    pub pending: usize,
    /// When the last full list finished.
    pub last_resync: Option<DateTime<Utc>>,
    /// How long ago (at the time of the status).
    pub since_resync: Option<Duration>,
    /// Full lists, app fetches, events and stream breaks so far.
    pub lists: u64,
    /// App fetches.
    pub fetches: u64,
    /// Events received.
    pub events: u64,
    /// Stream breaks (each followed by a list).
    pub breaks: u64,
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeSet<ById>,
    /// `apps` in id order, rebuilt on the first read after a change (pointers, not copies).
    snapshot: Option<AppSnapshot>,
    complete: bool,
    /// Events received and invalidations asked for so far: each is numbered.
    received: u64,
    /// Apps to fetch again, each with the number of the oldest event naming it since its
    /// last fetch.
    dirty: BTreeMap<String, u64>,
    /// Apps being fetched now (taken from `dirty`).
    fetching: BTreeMap<String, u64>,
    /// While a list is in flight: every app named since it started, with the number of the
    /// oldest event naming it (the list may predate their change: they are fetched again once
    /// it is in).
    listing: Option<BTreeMap<String, u64>>,
    last_resync: Option<(Instant, DateTime<Utc>)>,
    lists: u64,
    fetches: u64,
    events: u64,
    breaks: u64,
}

impl State {
    /// Marks `id` dirty for the event (or invalidation) numbered `n`.
    fn mark(&mut self, id: String, n: u64) {
        if let Some(named) = &mut self.listing {
            named.entry(id.clone()).or_insert(n);
        }
        self.dirty.entry(id).or_insert(n);
    }

    /// Every app held, in id order (built once per change: pointers, not copies).
    fn snapshot(&mut self) -> AppSnapshot {
        let apps = &self.apps;
        self.snapshot
            .get_or_insert_with(|| Arc::new(apps.iter().map(|a| a.0.clone()).collect()))
            .clone()
    }

    /// Whether no app named by an event numbered `n` or lower waits to be fetched.
    fn settled_up_to(&self, n: u64) -> bool {
        let pending = self.dirty.values().chain(self.fetching.values());
        pending.min().is_none_or(|oldest| *oldest > n)
    }
}

/// An app in the view's set, ordered and found by its id (the id is not stored a second
/// time as a map key).
#[derive(Debug)]
struct ById(Arc<ObservedApp>);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}

impl std::borrow::Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

/// The shared view; clones share it.
#[derive(Debug, Clone)]
pub struct MarathonView {
    state: Arc<Mutex<State>>,
    changes: Arc<watch::Sender<u64>>,
    /// Wakes the run loop when apps are invalidated from outside.
    wake: Arc<tokio::sync::Notify>,
}

impl Default for MarathonView {
    fn default() -> Self {
        Self::new()
    }
}

impl MarathonView {
    /// An empty, incomplete view (run [`Self::run`] to fill it).
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            changes: Arc::new(watch::Sender::new(0)),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a change (apps, completeness or pending set) and wakes waiters.
    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// A generation bumped on every change the view takes in (apps replaced, fetched,
    /// completeness lost); subscribe to re-plan when Marathon changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every app, when the view is complete and settled; waits up to `max_wait` for events
    /// already received to be fetched, or for a list in progress (after a break) to finish.
    /// `None`: not known to be complete and fresh within `max_wait`.
    pub async fn current(&self, max_wait: Duration) -> Option<AppSnapshot> {
        let deadline = Instant::now() + max_wait;
        let mut changes = self.changes();
        let mut asked_at = None;
        loop {
            changes.borrow_and_update();
            {
                let mut st = self.lock();
                let asked_at = *asked_at.get_or_insert(st.received);
                if st.complete && st.settled_up_to(asked_at) {
                    return Some(st.snapshot());
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return None;
            }
        }
    }

    /// Marks apps this coordinator just wrote (created, scaled, killed, deleted) to be fetched
    /// again, so the next [`Self::current`] waits for them instead of answering with what was
    /// held before the write (read-your-writes; the write's events may still be on the wire).
    pub fn invalidate(&self, app_ids: impl IntoIterator<Item = String>) {
        let added = {
            let mut st = self.lock();
            st.received += 1;
            let n = st.received;
            let before = st.dirty.len();
            for id in app_ids {
                st.mark(id, n);
            }
            st.dirty.len() != before
        };
        if added {
            self.wake.notify_one();
        }
    }

    /// The status now.
    pub fn status(&self) -> ViewStatus {
        let st = self.lock();
        ViewStatus {
            complete: st.complete,
            apps: st.apps.len(),
            pending: st.dirty.len() + st.fetching.len(),
            last_resync: st.last_resync.map(|(_, t)| t),
            since_resync: st.last_resync.map(|(i, _)| i.elapsed()),
            lists: st.lists,
            fetches: st.fetches,
            events: st.events,
            breaks: st.breaks,
        }
    }

    fn mark_incomplete(&self, breaks: bool) {
        {
            let mut st = self.lock();
            st.complete = false;
            if breaks {
                st.breaks += 1;
            }
        }
        // Not a change of Marathon: no pass is woken for it (the list that follows is one).
    }

    /// Every app held, sorted by id (the snapshot a read would get, complete or not): to
    /// compare a list with, never to plan from.
    pub(crate) fn held(&self) -> AppSnapshot {
        self.lock().snapshot()
    }

    /// Lists every app, keeping the `Arc` of each app that did not change (a resync of an
    /// unchanged cluster then costs no memory beyond one app at a time, and leaves every cache
    /// keyed by those `Arc`s valid: at 50,000 apps a resync that made every app new raised
    /// the coordinator's RSS by ~140 MB and had the next pass re-plan and re-check everything).
    ///
    /// Events and invalidations that arrive while it is in flight are recorded: the list may
    /// predate them, so their apps are fetched again once it is in ([`Self::replace_all`]).
    async fn list<M: MarathonApi>(
        &self,
        marathon: &M,
    ) -> Result<Vec<Arc<ObservedApp>>, super::marathon::MarathonError> {
        self.lock().listing = Some(BTreeMap::new());
        let listed = marathon.list_apps_reusing(self.held()).await;
        if listed.is_err() {
            self.lock().listing = None;
        }
        listed
    }

    /// Takes in a list: every app as listed, and pending only the apps named since the list
    /// started (the ones named before are as listed).
    fn replace_all(&self, apps: Vec<Arc<ObservedApp>>) {
        {
            let mut st = self.lock();
            st.apps = apps.into_iter().map(ById).collect();
            st.snapshot = None;
            st.complete = true;
            st.dirty = st.listing.take().unwrap_or_default();
            st.fetching.clear();
            st.last_resync = Some((Instant::now(), Utc::now()));
            st.lists += 1;
        }
        self.changed();
    }

    fn mark_dirty(&self, app_ids: Vec<String>) {
        let mut st = self.lock();
        st.events += 1;
        st.received += 1;
        let n = st.received;
        for id in app_ids {
            st.mark(id, n);
        }
    }

    /// Moves the dirty apps to the set being fetched and returns them.
    fn take_dirty(&self) -> Vec<String> {
        let mut st = self.lock();
        let ids = std::mem::take(&mut st.dirty);
        let taken = ids.keys().cloned().collect();
        st.fetching.extend(ids);
        taken
    }

    fn has_dirty(&self) -> bool {
        !self.lock().dirty.is_empty()
    }

    fn apply_fetched(&self, fetched: Vec<(String, Option<ObservedApp>)>) {
        {
            let mut st = self.lock();
            for (id, app) in fetched {
                st.fetches += 1;
                st.fetching.remove(id.as_str());
                match app {
                    Some(app) => {
                        if app.id != id {
                            st.apps.remove(id.as_str()); // as asked for, if Marathon spells it so
                        }
                        st.apps.replace(ById(Arc::new(app)));
                    }
                    None => {
                        st.apps.remove(id.as_str());
                    }
                }
            }
            st.snapshot = None;
        }
        self.changed();
    }

    /// Keeps the view current from `marathon` until `shutdown` turns true (see the module docs).
    pub async fn run<M: MarathonApi>(
        self,
        marathon: Arc<M>,
        settings: ViewSettings,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (floor, ceiling) = settings.backoff;
        let mut backoff = floor;
        loop {
            self.mark_incomplete(false);
            let watching = self.watch_once(marathon.as_ref(), settings, &mut shutdown);
            match watching.await {
                Ok(()) => return,
                Err(why) => {
                    self.mark_incomplete(true);
                    tracing::warn!(reason = %why, "marathon view: stream or list failed; re-listing after backoff");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopped(&mut shutdown) => return,
            }
            backoff = (backoff * 2).min(ceiling);
            if self.lock().complete {
                backoff = floor;
            }
        }
    }

    /// One connection: open the stream, list, then apply events until something breaks
    /// (`Err` with why) or shutdown (`Ok`).
    async fn watch_once<M: MarathonApi>(
        &self,
        marathon: &M,
        settings: ViewSettings,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut stream = marathon.events();
        // The stream is attached (Marathon sends `event_stream_attached` first) before the list,
        // so nothing that happens after the list is missed.
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(format!("event stream: {}", ErrorChain(&e))),
            Ok(None) => return Err("event stream closed at once".into()),
            Err(_) => return Err("event stream: nothing within 10 s".into()),
        }
        let apps = self
            .list(marathon)
            .await
            .map_err(|e| format!("list: {}", ErrorChain(&e)))?;
        self.replace_all(apps);
        tracing::info!(
            apps = self.lock().apps.len(),
            "marathon view: listed; watching events"
        );
        let mut resync = tokio::time::interval_at(
            Instant::now() + settings.resync_every,
            settings.resync_every,
        );
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A batch is fetched `settings.batch` after its first event. (Timed from the latest
        // event instead, a stream that never paused that long was never fetched: at 50,000
        // instances passes then gave up waiting and listed Marathon in full.)
        let mut batch_at: Option<Instant> = None;
        // A resync in flight: events keep being taken in and fetched meanwhile (at 50,000 apps
        // a list takes seconds, and a pass waiting on a write of its own waited that long).
        let mut resyncing: Option<futures::future::BoxFuture<'_, _>> = None;
        loop {
            if batch_at.is_none() && self.has_dirty() {
                batch_at = Some(Instant::now() + settings.batch);
            }
            let due = batch_at.unwrap_or_else(Instant::now);
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(ev)) => self.mark_dirty(ev.app_ids),
                    Some(Err(e)) => return Err(format!("event stream: {}", ErrorChain(&e))),
                    None => return Err("event stream ended".into()),
                },
                () = tokio::time::sleep_until(due), if batch_at.is_some() => {
                    batch_at = None;
                    self.fetch_dirty(marathon, settings.concurrency).await?;
                }
                () = self.wake.notified() => {}
                _ = resync.tick(), if resyncing.is_none() => {
                    resyncing = Some(Box::pin(self.list(marathon)));
                }
                listed = async { resyncing.as_mut().expect("guarded").await }, if resyncing.is_some() => {
                    resyncing = None;
                    let apps = listed.map_err(|e| format!("resync list: {}", ErrorChain(&e)))?;
                    self.replace_all(apps);
                }
                () = stopped(shutdown) => return Ok(()),
            }
        }
    }

    /// Fetches every dirty app (`concurrency` at once), applying them as they arrive, a ready
    /// chunk at a time: the batch at the end of a convergence names most apps, and collected
    /// whole before it was applied it was a second copy of the cluster (with the copies that
    /// passes' snapshots still held, 342–348 MB peak at 50,000 apps). Any failure fails the
    /// batch (the view is then re-listed).
    async fn fetch_dirty<M: MarathonApi>(
        &self,
        marathon: &M,
        concurrency: usize,
    ) -> Result<(), String> {
        let ids = self.take_dirty();
        let mut fetched = futures::stream::iter(ids.into_iter().map(|id| async move {
            let app = marathon.get_app(&id).await;
            (id, app)
        }))
        .buffer_unordered(concurrency.max(1))
        .ready_chunks(APPLY_CHUNK);
        while let Some(chunk) = fetched.next().await {
            let chunk = chunk
                .into_iter()
                .map(|(id, r)| r.map(|app| (id, app)))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("fetch: {}", ErrorChain(&e)))?;
            self.apply_fetched(chunk);
        }
        Ok(())
    }
}

/// Completes once `shutdown` is true (or its sender is gone); holds no borrow across awaits.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use galley_common::observed::ObservedApp;

    use super::MarathonView;

    fn app(id: &str) -> ObservedApp {
        ObservedApp {
            id: id.into(),
            ..Default::default()
        }
    }

    /// A pass waits for the events received before it asked, not for those that keep coming:
    /// under a steady stream of events the view always has something pending.
    #[tokio::test(start_paused = true)]
    async fn a_read_waits_only_for_events_received_before_it() {
        let view = MarathonView::new();
        view.replace_all(vec![Arc::new(app("/a")), Arc::new(app("/b"))]);
        view.mark_dirty(vec!["/a".into()]);
        assert!(view.current(Duration::ZERO).await.is_none(), "/a pending");
        let taken = view.take_dirty();
        assert_eq!(taken, ["/a"]);

        let reader = tokio::spawn({
            let view = view.clone();
            async move { view.current(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await; // the read has asked
        view.mark_dirty(vec!["/b".into()]); // an event after it asked
        view.apply_fetched(vec![("/a".into(), Some(app("/a")))]);
        let held = reader.await.expect("reader").expect("settled for the read");
        assert_eq!(held.len(), 2);

        assert!(
            view.current(Duration::ZERO).await.is_none(),
            "a later read waits for /b"
        );
        view.invalidate(["/c".to_string()]);
        let taken = view.take_dirty();
        assert_eq!(taken, ["/b", "/c"], "invalidated apps are fetched too");
        view.apply_fetched(vec![("/b".into(), Some(app("/b"))), ("/c".into(), None)]);
        assert!(view.current(Duration::ZERO).await.is_some());
    }
}
