//! Operator switches read by every pass: a cluster-wide freeze and per-instance pauses, each
//! with a reason that status reports show. Every change bumps a version that
//! [`crate::election::spawn_switch_sync`] follows to share the switches among coordinators.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Shared;

/// `(service, instance)`.
pub type InstanceKey = (String, String);

/// Freeze / pause switches, shared between the reconciler and the operator API.
#[derive(Debug, Clone)]
pub struct Control {
    frozen: Shared<Option<String>>,
    paused: Shared<BTreeMap<InstanceKey, String>>,
    version: Arc<watch::Sender<u64>>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            frozen: Shared::default(),
            paused: Shared::default(),
            version: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// The switches as data (what coordinators share through ZooKeeper).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switches {
    /// The freeze reason, if frozen.
    #[serde(default)]
    pub frozen: Option<String>,
    /// `service.instance` → pause reason.
    #[serde(default)]
    pub paused: BTreeMap<String, String>,
}

impl Control {
    /// A version that changes with every switch change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The switches now.
    pub fn snapshot(&self) -> Switches {
        Switches {
            frozen: self.frozen(),
            paused: self
                .paused()
                .into_iter()
                .map(|((s, i), r)| (format!("{s}.{i}"), r))
                .collect(),
        }
    }

    /// Replaces every switch with `s` (another coordinator's).
    pub fn replace(&self, s: &Switches) {
        self.version.send_modify(|v| {
            self.set(s);
            *v += 1;
        });
    }

    fn set(&self, s: &Switches) {
        *self.frozen.lock().expect("control lock") = s.frozen.clone();
        *self.paused.lock().expect("control lock") = s
            .paused
            .iter()
            .filter_map(|(k, r)| {
                let (svc, inst) = k.split_once('.')?;
                Some(((svc.to_owned(), inst.to_owned()), r.clone()))
            })
            .collect();
    }

    /// Takes on the shared switches `s`, unless a local change came after version `since`
    /// (`force`: take them on anyway, as a follower does). Atomic with local changes (both
    /// hold the version's lock), so a change made between a read of ZooKeeper and this call is
    /// never undone by it. Returns the version now in step with `s` and whether anything
    /// changed, or `None` when a local change came first (to be written, not overwritten).
    pub fn adopt(&self, s: &Switches, since: u64, force: bool) -> Option<(u64, bool)> {
        let mut out = None;
        self.version.send_if_modified(|v| {
            if *v != since && !force {
                return false;
            }
            if self.snapshot() == *s {
                out = Some((*v, false));
                return false;
            }
            self.set(s);
            *v += 1;
            out = Some((*v, true));
            true
        });
        out
    }

    /// Changes a switch and bumps the version in one step (under the version's lock).
    fn change<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut out = None;
        self.version.send_modify(|v| {
            out = Some(f());
            *v += 1;
        });
        out.expect("send_modify runs its closure")
    }

    /// Stops all applying (plans are still computed and shown).
    pub fn freeze(&self, reason: &str) {
        self.change(|| *self.frozen.lock().expect("control lock") = Some(reason.to_string()));
    }

    /// Lifts the freeze.
    pub fn unfreeze(&self) {
        self.change(|| *self.frozen.lock().expect("control lock") = None);
    }

    /// The freeze reason, if frozen.
    pub fn frozen(&self) -> Option<String> {
        self.frozen.lock().expect("control lock").clone()
    }

    /// Pauses one instance.
    pub fn pause(&self, key: InstanceKey, reason: &str) {
        self.change(|| {
            self.paused
                .lock()
                .expect("control lock")
                .insert(key, reason.to_string())
        });
    }

    /// Resumes one instance; whether it was paused.
    pub fn resume(&self, key: &InstanceKey) -> bool {
        self.change(|| {
            self.paused
                .lock()
                .expect("control lock")
                .remove(key)
                .is_some()
        })
    }

    /// Whether an instance is paused.
    pub fn is_paused(&self, key: &InstanceKey) -> bool {
        self.paused.lock().expect("control lock").contains_key(key)
    }

    /// All paused instances with reasons.
    pub fn paused(&self) -> BTreeMap<InstanceKey, String> {
        self.paused.lock().expect("control lock").clone()
    }
}
