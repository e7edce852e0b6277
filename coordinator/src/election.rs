//! Who may act: leader election among the coordinators of a cluster, and the gate that turns
//! an election result into what this process may do.
//!
//! - A [`LeaderElection`] publishes [`ElectionState`]: leader with a term, or follower (and who
//!   leads, when known). [`SoleLeader`] is the single-coordinator case (term 1, forever);
//!   [`ZkElection`] elects through ZooKeeper ephemeral sequential nodes, the term being the
//!   leader node's sequence number + 1 (strictly increasing from one leader to the next).
//! - [`spawn_gate`] derives a [`Leadership`] channel from it: `acting` (reconcile, alert,
//!   answer writes) the moment a term starts, `destructive` (delete apps, kill tasks, order
//!   reaps) only after a grace period in that same term, so agent and Marathon views are fresh
//!   before a new leader destroys anything. Losing the term clears both at once.
//!
//! - [`spawn_switch_sync`] shares the operator switches (freeze, pauses) through ZooKeeper,
//!   so a new leader starts with the freeze its predecessor had.
//!
//! Architecture Invariant: every destructive path reads `destructive`, never `acting`.

mod switches;
mod zk;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use switches::{spawn_switch_sync, switches_path};
pub use zk::{ZkElection, ZkError, ZkSettings};

/// What the election says about this coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionState {
    /// This coordinator leads for `term` (strictly greater than any earlier leader's term).
    Leader {
        /// Fencing token carried by reap orders.
        term: u64,
    },
    /// Another coordinator leads, or nobody is known to (connecting, disconnected).
    Follower {
        /// The leader's id as it announced itself, when known.
        leader: Option<String>,
    },
}

impl ElectionState {
    /// A follower that knows no leader.
    pub fn unknown() -> Self {
        Self::Follower { leader: None }
    }
}

/// A source of election states.
pub trait LeaderElection {
    /// The current state and its changes.
    fn states(&self) -> watch::Receiver<ElectionState>;
}

/// The only coordinator: leader with term 1 from start to end.
pub struct SoleLeader {
    tx: watch::Sender<ElectionState>,
}

impl SoleLeader {
    /// Term 1.
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(ElectionState::Leader { term: 1 }),
        }
    }
}

impl Default for SoleLeader {
    fn default() -> Self {
        Self::new()
    }
}

impl LeaderElection for SoleLeader {
    fn states(&self) -> watch::Receiver<ElectionState> {
        self.tx.subscribe()
    }
}

/// The election a coordinator takes part in for its whole life: alone (no `election`
/// section) or through ZooKeeper. Keep it until shutdown: the gate of [`spawn_gate`] ends,
/// and this coordinator stops acting, when the election is dropped.
pub enum Election {
    /// The only coordinator (term 1, forever).
    Sole(SoleLeader),
    /// A ZooKeeper election.
    Zk(ZkElection),
}

impl LeaderElection for Election {
    fn states(&self) -> watch::Receiver<ElectionState> {
        match self {
            Election::Sole(s) => s.states(),
            Election::Zk(z) => z.states(),
        }
    }
}

impl Election {
    /// Leaves the election: a ZooKeeper node is deleted (within `timeout`) so a successor
    /// leads at once; a sole leader simply ends.
    pub async fn leave(self, timeout: Duration) {
        match self {
            Election::Sole(_) => {}
            Election::Zk(z) => z.leave(timeout).await,
        }
    }
}

/// What this coordinator may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// `Some(term)` while leading: reconcile (non-destructively during grace), alert, accept
    /// operator writes, acknowledge agents with this term.
    pub acting: Option<u64>,
    /// `Some(term)` once the grace period of the current term has passed: delete apps, kill
    /// tasks, order reaps.
    pub destructive: Option<u64>,
    /// The leader's id when another coordinator leads (for "ask the leader" errors).
    pub leader: Option<String>,
    /// This coordinator's own id.
    pub me: String,
}

impl Leadership {
    /// Leading with destructive actions allowed (a sole coordinator, tests).
    pub fn sole(me: &str, term: u64) -> Self {
        Self {
            acting: Some(term),
            destructive: Some(term),
            leader: Some(me.to_owned()),
            me: me.to_owned(),
        }
    }

    /// Who leads, for messages: this coordinator, the announced leader, or "unknown".
    pub fn leader_name(&self) -> &str {
        if self.acting.is_some() {
            &self.me
        } else {
            self.leader
                .as_deref()
                .unwrap_or("unknown (no leader elected)")
        }
    }
}

/// Follows `states` and publishes [`Leadership`]: acting at once, destructive after `grace`
/// of uninterrupted leadership in the same term. Ends when `states`' sender is dropped.
pub fn spawn_gate(
    mut states: watch::Receiver<ElectionState>,
    me: String,
    grace: Duration,
) -> watch::Receiver<Leadership> {
    let initial = leadership(&states.borrow_and_update(), &me, false);
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut grace_until: Option<(u64, Instant)> = None;
        loop {
            let state = states.borrow_and_update().clone();
            match &state {
                ElectionState::Leader { term } => {
                    if grace_until.is_none_or(|(t, _)| t != *term) {
                        grace_until = Some((*term, Instant::now() + grace));
                        log_change(&state, grace);
                    }
                }
                ElectionState::Follower { .. } => {
                    if grace_until.take().is_some() || tx.borrow().acting.is_some() {
                        log_change(&state, grace);
                    }
                }
            }
            let grace_over = grace_until.is_some_and(|(_, until)| Instant::now() >= until);
            tx.send_if_modified(|l| {
                let new = leadership(&state, &me, grace_over);
                let changed = *l != new;
                *l = new;
                changed
            });
            let wake = grace_until.filter(|_| !grace_over).map(|(_, until)| until);
            tokio::select! {
                changed = states.changed() => if changed.is_err() {
                    // The election ended (shutdown): stop acting.
                    tx.send_replace(leadership(&ElectionState::unknown(), &me, false));
                    return;
                },
                _ = sleep_until_opt(wake) => {}
            }
        }
    });
    rx
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn leadership(state: &ElectionState, me: &str, grace_over: bool) -> Leadership {
    match state {
        ElectionState::Leader { term } => Leadership {
            acting: Some(*term),
            destructive: grace_over.then_some(*term),
            leader: Some(me.to_owned()),
            me: me.to_owned(),
        },
        ElectionState::Follower { leader } => Leadership {
            acting: None,
            destructive: None,
            leader: leader.clone(),
            me: me.to_owned(),
        },
    }
}

fn log_change(state: &ElectionState, grace: Duration) {
    match state {
        ElectionState::Leader { term } => tracing::warn!(
            term,
            grace_seconds = grace.as_secs_f64(),
            "elected leader: reconciling now, destructive actions after the grace period"
        ),
        ElectionState::Follower { leader } => tracing::warn!(
            leader = leader.as_deref().unwrap_or("unknown"),
            "not the leader any more: stopped acting"
        ),
    }
}

/// `acting` of a leadership channel, as its own channel (for components that take the leader
/// term as `watch<Option<u64>>`).
pub fn acting_term(leadership: &watch::Receiver<Leadership>) -> watch::Receiver<Option<u64>> {
    project(leadership, |l| l.acting)
}

/// `destructive` of a leadership channel, as its own channel (the orphan reaper's input).
pub fn destructive_term(leadership: &watch::Receiver<Leadership>) -> watch::Receiver<Option<u64>> {
    project(leadership, |l| l.destructive)
}

fn project(
    leadership: &watch::Receiver<Leadership>,
    f: fn(&Leadership) -> Option<u64>,
) -> watch::Receiver<Option<u64>> {
    let mut src = leadership.clone();
    let (tx, rx) = watch::channel(f(&src.borrow_and_update()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = src.changed() => {
                    if changed.is_err() {
                        tx.send_replace(None);
                        return;
                    }
                    let v = f(&src.borrow_and_update());
                    tx.send_if_modified(|old| {
                        let changed = *old != v;
                        *old = v;
                        changed
                    });
                }
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests;
