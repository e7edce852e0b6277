//! [`AgentRegistry`]: every agent's latest inventory, its freshness, its session's outbound
//! channel and the orders waiting for an answer.
//!
//! An agent is *fresh* when its session is open, it has sent a full inventory, and its last
//! message (heartbeat, delta, result) is no older than `stale_after` (a few missed
//! heartbeats). Staleness is computed at read time, so no timer is needed to mark it.
//! A new session for a host replaces the old one (agent restart, reconnect).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::model::{ContainerObs, HostSnapshot, OrderOutcome, OrderSpec};

/// Per-session outbound queue length.
pub const OUTBOUND_CAP: usize = 64;

/// What the coordinator sends down a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A reap order.
    Order(OrderSpec),
    /// Ask for a full inventory.
    Resync,
}

/// What an agent said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentIdentity {
    /// Hostname.
    pub hostname: String,
    /// Mesos slave id (may be empty).
    pub mesos_slave_id: String,
    /// Agent version.
    pub version: String,
    /// Kernel boot id.
    pub boot_id: String,
    /// Agent process instance id.
    pub instance_id: String,
}

/// An agent as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    /// Identity from the last hello.
    pub identity: AgentIdentity,
    /// Session open.
    pub connected: bool,
    /// Fresh (see module docs).
    pub fresh: bool,
    /// Containers in its inventory.
    pub containers: usize,
    /// Time since its last message.
    pub since_last_message: Duration,
}

/// Why an order could not be delivered or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No session for the host.
    #[error("agent {host} is not connected")]
    NotConnected {
        /// Host.
        host: String,
    },
    /// The session's queue is full.
    #[error("agent {host}: outbound queue full")]
    QueueFull {
        /// Host.
        host: String,
    },
    /// No answer in time (or the session ended first).
    #[error("agent {host}: no answer to order {order_id}")]
    NoAnswer {
        /// Host.
        host: String,
        /// Order id.
        order_id: String,
    },
}

/// How much the registry keeps (README "Limits"): every agent is someone who may be lying, so
/// neither hosts nor containers nor the time a dead agent's inventory is kept are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Hosts with an inventory at once (a new host beyond it is refused).
    pub max_hosts: usize,
    /// Containers in one host's inventory (a bigger inventory ends the session).
    pub max_containers_per_host: usize,
    /// A disconnected agent's inventory is forgotten this long after its last message.
    pub forget_after: Duration,
}

impl Default for RegistryLimits {
    /// 10,000 hosts, 2,000 containers a host, 15 minutes.
    fn default() -> Self {
        Self {
            max_hosts: 10_000,
            max_containers_per_host: 2_000,
            forget_after: Duration::from_secs(15 * 60),
        }
    }
}

/// A registry limit an agent ran into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Too many hosts already.
    #[error("the coordinator already tracks {max} hosts; host {host} is refused")]
    TooManyHosts {
        /// The refused host.
        host: String,
        /// The limit.
        max: usize,
    },
    /// An inventory over the per-host limit.
    #[error("host {host} reports {count} containers, over the limit of {max}")]
    TooManyContainers {
        /// The host.
        host: String,
        /// Containers it would have.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// Shared registry; clones share state.
#[derive(Debug, Clone)]
pub struct AgentRegistry {
    inner: Arc<Mutex<State>>,
    stale_after: Duration,
    limits: RegistryLimits,
    /// Counts full inventories received (so the reaper can start once one is in).
    inventories: Arc<watch::Sender<u64>>,
}

#[derive(Debug, Default)]
struct State {
    next_session: u64,
    agents: BTreeMap<String, Entry>,
    pending: HashMap<String, Vec<oneshot::Sender<OrderOutcome>>>,
}

#[derive(Debug)]
struct Entry {
    session: u64,
    identity: AgentIdentity,
    containers: BTreeMap<String, ContainerObs>,
    has_inventory: bool,
    outbound: Option<mpsc::Sender<Outbound>>,
    last_seen: Instant,
    last_change: Instant,
}

impl AgentRegistry {
    /// An empty registry; agents silent for longer than `stale_after` are stale.
    pub fn new(stale_after: Duration) -> Self {
        Self::with_limits(stale_after, RegistryLimits::default())
    }

    /// A registry with `limits`.
    pub fn with_limits(stale_after: Duration, limits: RegistryLimits) -> Self {
        Self {
            inner: Arc::default(),
            stale_after,
            limits,
            inventories: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Forgets agents disconnected for longer than `forget_after`.
    fn prune(&self, st: &mut State, now: Instant) {
        let forget = self.limits.forget_after;
        st.agents.retain(|host, e| {
            let keep = e.outbound.is_some() || now.duration_since(e.last_seen) < forget;
            if !keep {
                tracing::info!(host = %host, "forgetting the inventory of a disconnected agent");
            }
            keep
        });
    }

    /// The number of full inventories received so far, and its changes.
    pub fn inventories(&self) -> watch::Receiver<u64> {
        self.inventories.subscribe()
    }

    /// How long an agent may stay silent and still be fresh.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `identity.hostname`, replacing any previous one. Returns the session
    /// number and the receiver of what to send down.
    pub fn open_session(
        &self,
        identity: AgentIdentity,
    ) -> Result<(u64, mpsc::Receiver<Outbound>), RegistryError> {
        let (tx, rx) = mpsc::channel(OUTBOUND_CAP);
        let now = Instant::now();
        let mut st = self.lock();
        self.prune(&mut st, now);
        if !st.agents.contains_key(&identity.hostname) && st.agents.len() >= self.limits.max_hosts {
            return Err(RegistryError::TooManyHosts {
                host: identity.hostname,
                max: self.limits.max_hosts,
            });
        }
        st.next_session += 1;
        let session = st.next_session;
        let host = identity.hostname.clone();
        let entry = Entry {
            session,
            identity,
            containers: BTreeMap::new(),
            has_inventory: false,
            outbound: Some(tx),
            last_seen: now,
            last_change: now,
        };
        st.agents.insert(host, entry);
        Ok((session, rx))
    }

    fn with_session<R>(
        &self,
        host: &str,
        session: u64,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<R> {
        let mut st = self.lock();
        let e = st.agents.get_mut(host).filter(|e| e.session == session)?;
        e.last_seen = Instant::now();
        Some(f(e))
    }

    /// A full inventory replaces what was held.
    pub fn replace_inventory(
        &self,
        host: &str,
        session: u64,
        containers: Vec<ContainerObs>,
    ) -> Result<(), RegistryError> {
        self.check_count(host, containers.len())?;
        let replaced = self.with_session(host, session, |e| {
            e.containers = containers.into_iter().map(|c| (c.id.clone(), c)).collect();
            e.has_inventory = true;
            e.last_change = Instant::now();
        });
        if replaced.is_some() {
            self.inventories.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    fn check_count(&self, host: &str, count: usize) -> Result<(), RegistryError> {
        let max = self.limits.max_containers_per_host;
        if count > max {
            return Err(RegistryError::TooManyContainers {
                host: host.to_owned(),
                count,
                max,
            });
        }
        Ok(())
    }

    /// Applies a delta.
    pub fn apply_delta(
        &self,
        host: &str,
        session: u64,
        upserted: Vec<ContainerObs>,
        removed: &[String],
    ) -> Result<(), RegistryError> {
        let max = self.limits.max_containers_per_host;
        let count = self.with_session(host, session, |e| {
            for id in removed {
                e.containers.remove(id);
            }
            for c in upserted {
                if e.containers.len() < max || e.containers.contains_key(&c.id) {
                    e.containers.insert(c.id.clone(), c);
                } else {
                    return max + 1;
                }
            }
            e.last_change = Instant::now();
            e.containers.len()
        });
        self.check_count(host, count.unwrap_or(0))
    }

    /// A heartbeat; returns true when the agent's count disagrees (the caller asks a resync).
    pub fn heartbeat(&self, host: &str, session: u64, container_count: u32) -> bool {
        self.with_session(host, session, |e| {
            e.has_inventory && e.containers.len() != container_count as usize
        })
        .unwrap_or(false)
    }

    /// Any other message from the session (keeps it fresh).
    pub fn touch(&self, host: &str, session: u64) {
        self.with_session(host, session, |_| ());
    }

    /// The session ended; the inventory stays (stale) until a new session replaces it.
    pub fn close_session(&self, host: &str, session: u64) {
        let mut st = self.lock();
        if let Some(e) = st.agents.get_mut(host).filter(|e| e.session == session) {
            e.outbound = None;
        }
    }

    /// Ends every session (call before a graceful server shutdown: open agent streams would
    /// otherwise keep it waiting). Agents reconnect by themselves.
    pub fn disconnect_all(&self) {
        for e in self.lock().agents.values_mut() {
            e.outbound = None;
        }
    }

    /// Sends `Resync` to a host's session (best effort).
    pub fn request_resync(&self, host: &str) {
        if let Some(tx) = self
            .lock()
            .agents
            .get(host)
            .and_then(|e| e.outbound.clone())
        {
            let _ = tx.try_send(Outbound::Resync);
        }
    }

    /// An answer arrived; wakes whoever waits for this order id.
    pub fn complete_order(&self, order_id: &str, outcome: OrderOutcome) {
        let waiters = self.lock().pending.remove(order_id).unwrap_or_default();
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }

    /// Sends `order` to `host` and waits up to `timeout` for the answer.
    pub async fn send_order(
        &self,
        host: &str,
        order: OrderSpec,
        timeout: Duration,
    ) -> Result<OrderOutcome, DeliveryError> {
        let order_id = order.order_id.clone();
        let (tx, rx) = oneshot::channel();
        let outbound = {
            let mut st = self.lock();
            let Some(out) = st.agents.get(host).and_then(|e| e.outbound.clone()) else {
                return Err(DeliveryError::NotConnected {
                    host: host.to_owned(),
                });
            };
            st.pending.entry(order_id.clone()).or_default().push(tx);
            out
        };
        if outbound.try_send(Outbound::Order(order)).is_err() {
            self.lock().pending.remove(&order_id);
            return Err(DeliveryError::QueueFull {
                host: host.to_owned(),
            });
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => {
                self.lock().pending.remove(&order_id);
                Err(DeliveryError::NoAnswer {
                    host: host.to_owned(),
                    order_id,
                })
            }
        }
    }

    /// Every host's inventory with its freshness, by hostname.
    pub fn snapshot(&self) -> Vec<HostSnapshot> {
        let now = Instant::now();
        let mut st = self.lock();
        self.prune(&mut st, now);
        st.agents
            .iter()
            .map(|(host, e)| HostSnapshot {
                host: host.clone(),
                fresh: self.is_fresh(e, now),
                last_change: e.last_change.into_std(),
                containers: e.containers.values().cloned().collect(),
            })
            .collect()
    }

    /// One host's inventory.
    pub fn host(&self, host: &str) -> Option<HostSnapshot> {
        self.snapshot().into_iter().find(|h| h.host == host)
    }

    /// Every agent's status, by hostname.
    pub fn agents(&self) -> Vec<AgentStatus> {
        let now = Instant::now();
        self.lock()
            .agents
            .values()
            .map(|e| AgentStatus {
                identity: e.identity.clone(),
                connected: e.outbound.is_some(),
                fresh: self.is_fresh(e, now),
                containers: e.containers.len(),
                since_last_message: now.duration_since(e.last_seen),
            })
            .collect()
    }

    fn is_fresh(&self, e: &Entry, now: Instant) -> bool {
        e.outbound.is_some()
            && e.has_inventory
            && now.duration_since(e.last_seen) <= self.stale_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::model::ContainerState;

    fn identity(host: &str) -> AgentIdentity {
        AgentIdentity {
            hostname: host.to_owned(),
            ..AgentIdentity::default()
        }
    }

    fn containers(n: usize) -> Vec<ContainerObs> {
        (0..n)
            .map(|i| ContainerObs {
                id: format!("{i:064x}"),
                name: format!("mesos-{i}"),
                created_unix_nanos: 1_700_000_000_000_000_000,
                started_unix_nanos: 0,
                state: ContainerState::Running,
                task_id_env: None,
                task_id_label: None,
                marathon_app_id: None,
                image: "img".to_owned(),
            })
            .collect()
    }

    fn limits() -> RegistryLimits {
        RegistryLimits {
            max_hosts: 2,
            max_containers_per_host: 3,
            forget_after: Duration::from_secs(600),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_and_containers_are_bounded() {
        let r = AgentRegistry::with_limits(Duration::from_secs(30), limits());
        let (a, _rx_a) = r.open_session(identity("a")).unwrap();
        let (_b, _rx_b) = r.open_session(identity("b")).unwrap();
        assert!(matches!(
            r.open_session(identity("c")),
            Err(RegistryError::TooManyHosts { .. })
        ));
        // A known host may reconnect.
        let (a2, _rx_a2) = r.open_session(identity("a")).unwrap();
        assert!(a2 > a);
        assert!(r.replace_inventory("a", a2, containers(3)).is_ok());
        assert!(matches!(
            r.replace_inventory("a", a2, containers(4)),
            Err(RegistryError::TooManyContainers { count: 4, .. })
        ));
        let more = containers(5).split_off(3);
        assert!(r.apply_delta("a", a2, more, &[]).is_err());
        assert_eq!(
            r.host("a").unwrap().containers.len(),
            3,
            "never past the limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_disconnected_agents_inventory_is_forgotten() {
        let r = AgentRegistry::with_limits(Duration::from_secs(30), limits());
        let (s, _rx) = r.open_session(identity("a")).unwrap();
        r.replace_inventory("a", s, containers(2)).unwrap();
        r.close_session("a", s);
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(r.host("a").is_some(), "kept (stale) for a while");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(r.host("a").is_none(), "forgotten after forget_after");
        // Its slot is free for another host.
        assert!(r.open_session(identity("b")).is_ok());
        assert!(r.open_session(identity("c")).is_ok());
    }
}
