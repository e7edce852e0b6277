//! The in-memory engine: containers, name and id-prefix lookup, the API's state transitions
//! with their events, and the events history and broadcast. `sim_*` hooks are in
//! `sim_hooks.rs`, errors in `error.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use super::error::{EngineError, KillFailure, Outcome};
use super::events::{EVENTS_HISTORY, Event};
use super::list::{self, ListQuery};
use super::model::{Container, ContainerStatus, StopBehavior, image_id_for};
use super::signal::{self, SIGKILL, SIGTERM};
use super::sim_hooks::FaultRule;
use super::spec::ContainerSpec;
use crate::SimClock;

/// The emulated daemon's state. Cloning shares the engine.
#[derive(Debug, Clone)]
pub struct DockerEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: SimClock,
    state: Mutex<EngineState>,
    /// Live events; sent while holding `state`, so a subscriber's history snapshot and its
    /// receiver never overlap or leave a gap.
    events: broadcast::Sender<Event>,
}

#[derive(Debug, Default)]
pub(super) struct EngineState {
    pub(super) containers: BTreeMap<String, Container>,
    history: VecDeque<Event>,
    next_seq: u64,
    next_pid: u32,
    pub(super) faults: Vec<FaultRule>,
    pub(super) response_delay: Duration,
}

/// How often a `stop` without timeout checks whether the container died.
const STOP_POLL: Duration = Duration::from_millis(20);

/// What the first phase of `stop` left to do.
enum StopStep {
    NotRunning,
    Finished,
    NeedsKill(String),
}

impl DockerEngine {
    /// An empty engine on `clock`.
    pub fn new(clock: SimClock) -> Self {
        let (events, _) = broadcast::channel(1024);
        let state = EngineState {
            next_pid: 4000,
            ..EngineState::default()
        };
        Self {
            inner: Arc::new(Inner {
                clock,
                state: Mutex::new(state),
                events,
            }),
        }
    }

    /// The engine's clock.
    pub fn clock(&self) -> &SimClock {
        &self.inner.clock
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, st: &mut EngineState, event: Event) {
        tracing::debug!(action = %event.action, id = %event.id, "docker event");
        if st.history.len() == EVENTS_HISTORY {
            st.history.pop_front();
        }
        st.history.push_back(event.clone());
        // No receivers is fine.
        let _ = self.inner.events.send(event);
    }

    pub(super) fn event(
        &self,
        st: &mut EngineState,
        id: &str,
        action: &str,
        extra: Option<(&str, i64)>,
    ) {
        let Some(c) = st.containers.get(id) else {
            return;
        };
        let mut ev = Event::for_container(c, action, self.inner.clock.now());
        if let Some((k, v)) = extra {
            ev = ev.with(k, v);
        }
        self.emit(st, ev);
    }

    // === Queries ===

    /// `GET /containers/json`: ContainerSummary JSON objects, newest first.
    pub fn list_json(&self, q: &ListQuery) -> Result<Vec<Value>, EngineError> {
        let st = self.lock();
        let now = self.inner.clock.now();
        let selected = list::select(&st, q)?;
        Ok(selected
            .into_iter()
            .map(|c| c.summary_json(now, q.size))
            .collect())
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_json(&self, given: &str) -> Result<Value, EngineError> {
        Ok(self.container(given)?.inspect_json())
    }

    /// The container `given` (full id, name, or unique id prefix) resolves to.
    pub fn container(&self, given: &str) -> Result<Container, EngineError> {
        let st = self.lock();
        let id = resolve(&st, given)?;
        Ok(st.containers[&id].clone())
    }

    /// The events kept for `since` queries plus a receiver of every later event.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let st = self.lock();
        (
            st.history.iter().cloned().collect(),
            self.inner.events.subscribe(),
        )
    }

    // === Lifecycle operations (the API's write calls) ===

    /// `POST /containers/create`: creates a container in state `created`.
    pub fn create(&self, spec: ContainerSpec) -> Result<String, EngineError> {
        let mut st = self.lock();
        self.insert(&mut st, spec)
    }

    /// `POST /containers/{id}/start`.
    pub fn start(&self, given: &str) -> Result<Outcome, EngineError> {
        let mut st = self.lock();
        let id = resolve(&st, given)?;
        if st.containers[&id].status.is_alive() {
            return Ok(Outcome::NotModified);
        }
        self.start_locked(&mut st, &id);
        Ok(Outcome::Done)
    }

    /// `POST /containers/{id}/stop?t=`: SIGTERM, then SIGKILL after `timeout_secs` (default 10)
    /// if PID 1 ignores SIGTERM. On a real-time clock the wait is real; on a virtual clock it
    /// completes at once (time does not move). A negative timeout never SIGKILLs: the call
    /// returns once the container dies some other way. Events: kill(15) [kill(9)] die stop.
    pub async fn stop(
        &self,
        given: &str,
        timeout_secs: Option<i64>,
    ) -> Result<Outcome, EngineError> {
        let id = match self.begin_stop(given)? {
            StopStep::NotRunning => return Ok(Outcome::NotModified),
            StopStep::Finished => return Ok(Outcome::Done),
            StopStep::NeedsKill(id) => id,
        };
        match u64::try_from(timeout_secs.unwrap_or(10)) {
            // A negative timeout means no SIGKILL: wait until something else ends the process.
            Err(_) => {
                while self.is_alive(&id) {
                    tokio::time::sleep(STOP_POLL).await;
                }
            }
            Ok(wait) if wait > 0 && !self.inner.clock.is_virtual() => {
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Ok(_) => {}
        }
        self.finish_stop(&id);
        Ok(Outcome::Done)
    }

    fn is_alive(&self, id: &str) -> bool {
        self.lock()
            .containers
            .get(id)
            .is_some_and(|c| c.status.is_alive())
    }

    /// Stops a container without any wait (what the Mesos executor's `docker stop` ends in).
    /// Returns false when it was not running or does not exist.
    pub fn sim_stop_now(&self, given: &str) -> bool {
        match self.begin_stop(given) {
            Ok(StopStep::NeedsKill(id)) => {
                self.finish_stop(&id);
                true
            }
            Ok(StopStep::Finished) => true,
            Ok(StopStep::NotRunning) | Err(_) => false,
        }
    }

    fn begin_stop(&self, given: &str) -> Result<StopStep, EngineError> {
        let mut st = self.lock();
        let id = resolve(&st, given)?;
        let c = &st.containers[&id];
        if !c.status.is_alive() {
            return Ok(StopStep::NotRunning);
        }
        let behavior = c.stop_behavior;
        self.event(&mut st, &id, "kill", Some(("signal", SIGTERM)));
        match behavior {
            StopBehavior::IgnoreSigterm => Ok(StopStep::NeedsKill(id)),
            StopBehavior::ExitOnSigterm { exit_code } => {
                self.die_locked(&mut st, &id, exit_code);
                self.event(&mut st, &id, "stop", None);
                Ok(StopStep::Finished)
            }
        }
    }

    fn finish_stop(&self, id: &str) {
        let mut st = self.lock();
        let Some(c) = st.containers.get(id) else {
            return;
        };
        if c.status.is_alive() {
            self.event(&mut st, id, "kill", Some(("signal", SIGKILL)));
            self.die_locked(&mut st, id, 128 + SIGKILL);
        }
        self.event(&mut st, id, "stop", None);
    }

    /// `POST /containers/{id}/kill?signal=` (default SIGKILL). Events: kill [die].
    pub fn kill(&self, given: &str, raw_signal: Option<&str>) -> Result<(), EngineError> {
        let sig = match raw_signal.filter(|s| !s.is_empty()) {
            Some(raw) => signal::parse_signal(raw).map_err(|_| EngineError::InvalidSignal {
                raw: raw.to_owned(),
            })?,
            None => SIGKILL,
        };
        let kill_err = |reason| EngineError::Kill {
            given: given.to_owned(),
            reason,
        };
        let mut st = self.lock();
        let id = resolve(&st, given).map_err(|e| match e {
            EngineError::AmbiguousPrefix { given } => {
                kill_err(KillFailure::AmbiguousPrefix { given })
            }
            _ => kill_err(KillFailure::NoSuchContainer {
                given: given.to_owned(),
            }),
        })?;
        if !signal::supported_on_linux(sig) {
            return Err(kill_err(KillFailure::UnsupportedSignal { signal: sig }));
        }
        let c = &st.containers[&id];
        if !c.status.is_alive() {
            return Err(kill_err(KillFailure::NotRunning { id }));
        }
        let behavior = c.stop_behavior;
        self.event(&mut st, &id, "kill", Some(("signal", sig)));
        match (sig, behavior) {
            (SIGKILL, _) => self.die_locked(&mut st, &id, 128 + SIGKILL),
            (SIGTERM, StopBehavior::ExitOnSigterm { exit_code }) => {
                self.die_locked(&mut st, &id, exit_code);
            }
            // PID 1 without handlers ignores every other signal.
            _ => {}
        }
        Ok(())
    }

    /// `DELETE /containers/{id}?force=`. Events: destroy (force on a running one: kill die
    /// destroy).
    pub fn remove(&self, given: &str, force: bool) -> Result<(), EngineError> {
        let mut st = self.lock();
        let id = resolve(&st, given)?;
        if st.containers[&id].status.is_alive() {
            if !force {
                return Err(EngineError::RemoveRunning { id });
            }
            self.event(&mut st, &id, "kill", Some(("signal", SIGKILL)));
            self.die_locked(&mut st, &id, 128 + SIGKILL);
        }
        self.event(&mut st, &id, "destroy", None);
        st.containers.remove(&id);
        Ok(())
    }

    /// `DELETE /containers/{id}?link=1`: the container exists (else 404) but `{id}` is never
    /// a link name here, so dockerd's default-link conflict (500).
    pub fn remove_link(&self, given: &str) -> Result<(), EngineError> {
        resolve(&self.lock(), given)?;
        Err(EngineError::DefaultLink)
    }

    // === Internals ===

    pub(super) fn insert(
        &self,
        st: &mut EngineState,
        spec: ContainerSpec,
    ) -> Result<String, EngineError> {
        let id = loop {
            let candidate: String = rand::random::<[u8; 32]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !st.containers.contains_key(&candidate) {
                break candidate;
            }
        };
        let name = match spec
            .name
            .as_deref()
            .map(|n| n.strip_prefix('/').unwrap_or(n))
        {
            Some(name) => {
                if !valid_name(name) {
                    return Err(EngineError::InvalidName {
                        name: name.to_owned(),
                    });
                }
                if let Some(other) = st.containers.values().find(|c| c.name == name) {
                    return Err(EngineError::NameConflict {
                        name: name.to_owned(),
                        id: other.id.clone(),
                    });
                }
                name.to_owned()
            }
            None => format!("sim_{}", &id[..12]),
        };
        let (path, args) = spec.path_and_args();
        st.next_seq += 1;
        let container = Container {
            id: id.clone(),
            name,
            image_id: image_id_for(&spec.image),
            image: spec.image,
            path,
            args,
            cmd: spec.cmd,
            env: spec.env,
            labels: spec.labels,
            network_mode: spec.network_mode,
            created: spec.created.unwrap_or_else(|| self.inner.clock.now()),
            status: ContainerStatus::Created,
            pid: 0,
            exit_code: 0,
            started_at: None,
            finished_at: None,
            stop_behavior: spec.stop_behavior,
            seq: st.next_seq,
        };
        st.containers.insert(id.clone(), container);
        self.event(st, &id, "create", None);
        Ok(id)
    }

    pub(super) fn start_locked(&self, st: &mut EngineState, id: &str) {
        st.next_pid += 1;
        let pid = st.next_pid;
        let now = self.inner.clock.now();
        if let Some(c) = st.containers.get_mut(id) {
            c.status = ContainerStatus::Running;
            c.pid = pid;
            c.exit_code = 0;
            c.started_at = Some(now);
        }
        self.event(st, id, "start", None);
    }

    pub(super) fn die_locked(&self, st: &mut EngineState, id: &str, exit_code: i64) {
        let now = self.inner.clock.now();
        if let Some(c) = st.containers.get_mut(id) {
            c.status = ContainerStatus::Exited;
            c.pid = 0;
            c.exit_code = exit_code;
            c.finished_at = Some(now);
        }
        self.event(st, id, "die", Some(("exitCode", exit_code)));
    }

    pub(super) fn set_status(&self, st: &mut EngineState, id: &str, status: ContainerStatus) {
        if let Some(c) = st.containers.get_mut(id) {
            c.status = status;
        }
    }
}

/// Resolves `given` as dockerd does: full id, then name (with or without `/`), then a unique
/// id prefix.
pub(super) fn resolve(st: &EngineState, given: &str) -> Result<String, EngineError> {
    if st.containers.contains_key(given) {
        return Ok(given.to_owned());
    }
    let bare = given.strip_prefix('/').unwrap_or(given);
    if let Some(c) = st.containers.values().find(|c| c.name == bare) {
        return Ok(c.id.clone());
    }
    let not_found = || EngineError::NoSuchContainer {
        given: given.to_owned(),
    };
    if given.is_empty() {
        return Err(not_found());
    }
    let mut matches = st.containers.keys().filter(|id| id.starts_with(given));
    match (matches.next(), matches.next()) {
        (Some(id), None) => Ok(id.clone()),
        (Some(_), Some(_)) => Err(EngineError::AmbiguousPrefix {
            given: given.to_owned(),
        }),
        (None, _) => Err(not_found()),
    }
}

/// Docker's container-name rule `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
