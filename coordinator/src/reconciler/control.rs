//! Operator switches read by every pass: a cluster-wide freeze and per-instance pauses, each
//! with a reason that status reports show.

use std::collections::BTreeMap;

use super::Shared;

/// `(service, instance)`.
pub type InstanceKey = (String, String);

/// Freeze / pause switches, shared between the reconciler and the operator API.
#[derive(Debug, Clone, Default)]
pub struct Control {
    frozen: Shared<Option<String>>,
    paused: Shared<BTreeMap<InstanceKey, String>>,
}

impl Control {
    /// Stops all applying (plans are still computed and shown).
    pub fn freeze(&self, reason: &str) {
        *self.frozen.lock().expect("control lock") = Some(reason.to_string());
    }

    /// Lifts the freeze.
    pub fn unfreeze(&self) {
        *self.frozen.lock().expect("control lock") = None;
    }

    /// The freeze reason, if frozen.
    pub fn frozen(&self) -> Option<String> {
        self.frozen.lock().expect("control lock").clone()
    }

    /// Pauses one instance.
    pub fn pause(&self, key: InstanceKey, reason: &str) {
        self.paused
            .lock()
            .expect("control lock")
            .insert(key, reason.to_string());
    }

    /// Resumes one instance; whether it was paused.
    pub fn resume(&self, key: &InstanceKey) -> bool {
        self.paused
            .lock()
            .expect("control lock")
            .remove(key)
            .is_some()
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
