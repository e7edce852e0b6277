//! ZooKeeper leader election: every coordinator creates an ephemeral sequential node
//! `<path>/member-<seq>` holding its id; the lowest sequence leads with term `seq + 1`.
//!
//! - Terms only grow: the leader is the minimum of a set that only loses members or gains
//!   larger ones, so every new leader's sequence is above every earlier leader's.
//! - The moment the client reports `Disconnected` (no answer for 2/5 of the session timeout,
//!   well before the server can expire the session and let another node lead) this
//!   coordinator publishes "no leader known" and stops acting. Back in the same session it
//!   re-reads the members (a new grace period follows in the gate); after expiry it joins
//!   again with a new node, hence a new term.
//! - Shutdown deletes the node and closes the session, so a successor leads at once; a crash
//!   leaves the node until the session times out.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

use super::{ElectionState, LeaderElection};
use crate::error_chain::ErrorChain;

/// Where and how to elect.
#[derive(Debug, Clone)]
pub struct ZkSettings {
    /// Connect string, `host:port[,host:port...]`.
    pub hosts: String,
    /// Election znode, e.g. `/galley/norcal-prod/leader` (created if missing).
    pub path: String,
    /// Requested ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// This coordinator's id as followers will name it (e.g. `master1:50051`).
    pub id: String,
}

/// A ZooKeeper operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// No session could be established.
    #[error("cannot connect to ZooKeeper {hosts}")]
    Connect {
        /// Connect string.
        hosts: String,
        /// Why.
        #[source]
        source: zookeeper_client::Error,
    },
    /// Connecting took longer than the session timeout.
    #[error("connecting to ZooKeeper {hosts} timed out")]
    ConnectTimeout {
        /// Connect string.
        hosts: String,
    },
    /// A request on the election path failed.
    #[error("ZooKeeper {op} {path} failed")]
    Op {
        /// What was attempted.
        op: &'static str,
        /// On which znode.
        path: String,
        /// Why.
        #[source]
        source: zookeeper_client::Error,
    },
    /// The session ended (expired, closed, auth failed).
    #[error("ZooKeeper session ended: {state}")]
    SessionEnded {
        /// Its final state.
        state: String,
    },
    /// Our member node is gone although the session lives (deleted by hand?).
    #[error("election node {node} disappeared")]
    NodeLost {
        /// The node.
        node: String,
    },
}

/// A running ZooKeeper election (the task ends on shutdown or when dropped).
pub struct ZkElection {
    rx: watch::Receiver<ElectionState>,
    task: Option<JoinHandle<()>>,
}

impl LeaderElection for ZkElection {
    fn states(&self) -> watch::Receiver<ElectionState> {
        self.rx.clone()
    }
}

impl Drop for ZkElection {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl ZkElection {
    /// Joins the election in a background task until `shutdown` turns true.
    pub fn spawn(settings: ZkSettings, shutdown: watch::Receiver<bool>) -> Self {
        let (tx, rx) = watch::channel(ElectionState::unknown());
        let task = tokio::spawn(run(settings, tx, shutdown));
        Self {
            rx,
            task: Some(task),
        }
    }

    /// After `shutdown` was signalled: waits (at most `timeout`) until the node is deleted and
    /// the session closed, so a successor can lead at once.
    pub async fn leave(mut self, timeout: Duration) {
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(timeout, task).await;
        }
    }

    /// Stops taking part without deleting the node or closing the session cleanly (what a
    /// crash looks like to the others, once the connection is gone too).
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

async fn run(
    settings: ZkSettings,
    tx: watch::Sender<ElectionState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = match connect(&settings).await {
            Ok(client) => {
                backoff = Duration::from_millis(200);
                member(&client, &settings, &tx, &mut shutdown).await
            }
            Err(e) => Err(e),
        };
        tx.send_replace(ElectionState::unknown());
        match outcome {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %ErrorChain(&e), "leader election: rejoining"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

pub(crate) async fn connect(s: &ZkSettings) -> Result<Client, ZkError> {
    let connecting = Client::connector()
        .with_session_timeout(s.session_timeout)
        .connect(&s.hosts);
    match tokio::time::timeout(s.session_timeout.max(Duration::from_secs(2)), connecting).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(source)) => Err(ZkError::Connect {
            hosts: s.hosts.clone(),
            source,
        }),
        Err(_) => Err(ZkError::ConnectTimeout {
            hosts: s.hosts.clone(),
        }),
    }
}

/// One session's membership: create the node, then follow the members until the session ends
/// (`Err`) or shutdown (`Ok`, node deleted).
async fn member(
    client: &Client,
    s: &ZkSettings,
    tx: &watch::Sender<ElectionState>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ZkError> {
    let op = |op, path: &str| {
        let path = path.to_owned();
        move |source| ZkError::Op { op, path, source }
    };
    let mut states = client.state_watcher();
    client
        .mkdir(
            &s.path,
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .map_err(op("mkdir", &s.path))?;
    let prefix = format!("{}/member-", s.path);
    let (_, seq) = client
        .create(
            &prefix,
            s.id.as_bytes(),
            &CreateMode::EphemeralSequential.with_acls(Acls::anyone_all()),
        )
        .await
        .map_err(op("create", &prefix))?;
    let my_name = format!("member-{:010}", seq.into_i64());
    let my_node = format!("{}/{my_name}", s.path);
    tracing::info!(node = %my_node, id = %s.id, "joined leader election");
    loop {
        let listed = client.get_and_watch_children(&s.path).await;
        let (children, _, watcher) = match listed {
            Ok(l) => l,
            Err(zookeeper_client::Error::ConnectionLoss) => {
                tx.send_replace(ElectionState::unknown());
                wait_reconnected(&mut states).await?;
                continue;
            }
            Err(e) => return Err(op("list", &s.path)(e)),
        };
        let mut members: Vec<(i64, String)> = children
            .into_iter()
            .filter_map(|c| sequence(&c).map(|n| (n, c)))
            .collect();
        members.sort();
        if !members.iter().any(|(_, c)| *c == my_name) {
            return Err(ZkError::NodeLost { node: my_node });
        }
        let (lowest, lowest_name) = &members[0];
        let state = if *lowest_name == my_name {
            ElectionState::Leader {
                term: u64::try_from(*lowest).unwrap_or(0) + 1,
            }
        } else {
            let node = format!("{}/{lowest_name}", s.path);
            let leader = client
                .get_data(&node)
                .await
                .ok()
                .map(|(d, _)| String::from_utf8_lossy(&d).into_owned());
            ElectionState::Follower { leader }
        };
        tx.send_if_modified(|old| {
            let changed = *old != state;
            *old = state;
            changed
        });
        let changed = watcher.changed();
        tokio::pin!(changed);
        loop {
            tokio::select! {
                _ = &mut changed => break,
                st = states.changed() => match st {
                    SessionState::Disconnected => {
                        // Stop acting now: the session may expire while we cannot see it.
                        tx.send_replace(ElectionState::unknown());
                    }
                    SessionState::SyncConnected => break,
                    SessionState::ConnectedReadOnly => {
                        tx.send_replace(ElectionState::unknown());
                    }
                    other => return Err(ZkError::SessionEnded { state: format!("{other:?}") }),
                },
                _ = shutdown.changed() => {
                    tx.send_replace(ElectionState::unknown());
                    if let Err(e) = client.delete(&my_node, None).await {
                        tracing::warn!(error = %ErrorChain(&e), node = %my_node, "leaving election: delete failed");
                    }
                    return Ok(());
                }
            }
        }
    }
}

async fn wait_reconnected(states: &mut zookeeper_client::StateWatcher) -> Result<(), ZkError> {
    loop {
        match states.changed().await {
            SessionState::SyncConnected => return Ok(()),
            SessionState::Disconnected | SessionState::ConnectedReadOnly => {}
            other => {
                return Err(ZkError::SessionEnded {
                    state: format!("{other:?}"),
                });
            }
        }
    }
}

/// The sequence of `member-0000000012`.
fn sequence(child: &str) -> Option<i64> {
    child.strip_prefix("member-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sequence_parses_member_nodes_only() {
        assert_eq!(super::sequence("member-0000000012"), Some(12));
        assert_eq!(super::sequence("lock-0000000012"), None);
        assert_eq!(super::sequence("member-x"), None);
    }
}
