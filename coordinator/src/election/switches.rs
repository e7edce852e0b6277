//! Operator switches (freeze, pauses) shared by the coordinators of a cluster through one
//! ZooKeeper znode (JSON [`Switches`]), so a freeze survives a fail-over: a new leader
//! already mirrors it when it takes over.
//!
//! - Every coordinator watches the znode and mirrors it into its [`Control`].
//! - Only while leading (`acting`) does a local change (an operator's write, which the
//!   authorization layer lets through on the leader only) get written to the znode. A
//!   follower's local state is always overwritten by the znode's.
//! - A leader's local change that is not yet written always wins over what it reads back: the
//!   echo of an older write of its own must never undo a newer one (an `UnfreezeCluster`
//!   right before a `FreezeCluster` once left the cluster unfrozen). Writes are
//!   compare-and-set on the znode version just read; a lost race re-reads and writes again.
//!   So the switches that hold are those of the last write that was answered OK.
//! - Unreadable JSON in the znode is logged and ignored (the local switches stay).

use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

use super::zk::{ZkError, ZkSettings, connect};
use crate::error_chain::ErrorChain;
use crate::reconciler::{Control, Switches};

/// Keeps `control` equal to the znode at `path` (writing local changes while `acting`),
/// until `shutdown` turns true.
pub fn spawn_switch_sync(
    settings: ZkSettings,
    path: String,
    control: Control,
    acting: watch::Receiver<Option<u64>>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            let outcome = match connect(&settings).await {
                Ok(client) => {
                    backoff = Duration::from_millis(200);
                    sync(&client, &path, &control, &acting, &mut shutdown).await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), path = %path, "switch sync: reconnecting");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    })
}

async fn sync(
    client: &Client,
    path: &str,
    control: &Control,
    acting: &watch::Receiver<Option<u64>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ZkError> {
    let op = |op, path: &str| {
        let path = path.to_owned();
        move |source| ZkError::Op { op, path, source }
    };
    if let Some((parent, _)) = path.rsplit_once('/')
        && !parent.is_empty()
    {
        client
            .mkdir(
                parent,
                &CreateMode::Persistent.with_acls(Acls::anyone_all()),
            )
            .await
            .map_err(op("mkdir", parent))?;
    }
    let empty = serde_json::to_vec(&Switches::default()).unwrap_or_default();
    match client
        .create(
            path,
            &empty,
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
    {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
        Err(e) => return Err(op("create", path)(e)),
    }
    let mut states = client.state_watcher();
    let mut versions = control.subscribe();
    // The local version last written to (or read from) the znode.
    let mut applied = *versions.borrow_and_update();
    loop {
        let (data, stat, watcher) = client
            .get_and_watch_data(path)
            .await
            .map_err(op("read", path))?;
        let remote = match serde_json::from_slice::<Switches>(&data) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(path, error = %e, "switch znode is not valid JSON: ignored");
                None
            }
        };
        let pending = *versions.borrow() != applied;
        if acting.borrow().is_some() && pending {
            // The leader's newer local state goes to ZooKeeper, unless another write got
            // there since the read above (then read again).
            let version = *versions.borrow_and_update();
            let local = control.snapshot();
            let bytes = serde_json::to_vec(&local).unwrap_or_default();
            match client.set_data(path, &bytes, Some(stat.version)).await {
                Ok(_) => applied = version,
                Err(zookeeper_client::Error::BadVersion) => {
                    tracing::debug!(path, "switch znode changed under a write: re-reading");
                }
                Err(e) => return Err(op("write", path)(e)),
            }
            continue;
        }
        if let Some(remote) = &remote {
            // In step with the znode now (a follower's own changes are undone); a leader's
            // change made since the check above wins: it is written at the top of the loop.
            let follower = acting.borrow().is_none();
            let Some((version, changed)) = control.adopt(remote, applied, follower) else {
                continue;
            };
            if changed {
                tracing::info!(path, frozen = ?remote.frozen, paused = remote.paused.len(), "operator switches from ZooKeeper");
            }
            // (Not marked seen: a local change right after this is still noticed below.)
            applied = version;
        } else {
            applied = *versions.borrow_and_update();
        }
        let changed = watcher.changed();
        tokio::pin!(changed);
        loop {
            tokio::select! {
                _ = &mut changed => break,
                v = versions.changed() => {
                    if v.is_err() {
                        return Ok(());
                    }
                    if *versions.borrow() == applied {
                        versions.borrow_and_update();
                        continue;
                    }
                    // A local change: the leader writes it, a follower's is undone by the
                    // znode's (read at the top of the outer loop either way).
                    break;
                }
                st = states.changed() => match st {
                    SessionState::Disconnected | SessionState::ConnectedReadOnly => {}
                    SessionState::SyncConnected => break,
                    other => return Err(ZkError::SessionEnded { state: format!("{other:?}") }),
                },
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
}

/// The switch znode next to an election path: `/galley/c/leader` → `/galley/c/switches`.
pub fn switches_path(election_path: &str) -> String {
    match election_path.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => format!("{parent}/switches"),
        _ => "/galley-switches".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_switch_node_sits_next_to_the_election_node() {
        assert_eq!(
            super::switches_path("/galley/c1/leader"),
            "/galley/c1/switches"
        );
        assert_eq!(super::switches_path("/leader"), "/galley-switches");
    }
}
