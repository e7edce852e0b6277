//! Per-app count samples kept as deltas, so a lifecycle step costs the apps whose tasks changed
//! (marked dirty) rather than every app; [`SampleLog::samples`] rebuilds the full snapshots.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use super::script::{AppCounts, Sample};
use super::state::Cluster;

/// Upper bound on recorded samples (oldest folded into the base first).
const SAMPLE_CAP: usize = 200_000;

/// Changed apps at one instant: new counts, or `None` when the app no longer exists.
type Delta = BTreeMap<String, Option<AppCounts>>;

/// Samples as a base snapshot plus one delta per recorded sample.
#[derive(Debug, Default)]
pub struct SampleLog {
    /// Counts just before the first recorded delta.
    base: BTreeMap<String, AppCounts>,
    deltas: VecDeque<(DateTime<Utc>, Delta)>,
    /// Counts as of the last [`Cluster::sample`].
    current: BTreeMap<String, AppCounts>,
}

fn apply(map: &mut BTreeMap<String, AppCounts>, delta: &Delta) {
    for (id, counts) in delta {
        match counts {
            Some(c) => map.insert(id.clone(), *c),
            None => map.remove(id),
        };
    }
}

impl SampleLog {
    /// Records a delta when it changes something, or when nothing is recorded yet.
    fn record(&mut self, at: DateTime<Utc>, delta: Delta) {
        if delta.is_empty() && !self.deltas.is_empty() {
            return;
        }
        apply(&mut self.current, &delta);
        self.deltas.push_back((at, delta));
        if self.deltas.len() > SAMPLE_CAP
            && let Some((_, first)) = self.deltas.pop_front()
        {
            apply(&mut self.base, &first);
        }
    }

    /// Forgets the recorded samples (the current counts stay the baseline).
    pub fn clear(&mut self) {
        self.base = self.current.clone();
        self.deltas.clear();
    }

    /// Every recorded sample as a full snapshot, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let mut apps = self.base.clone();
        self.deltas
            .iter()
            .map(|(at, delta)| {
                apply(&mut apps, delta);
                Sample {
                    at: *at,
                    apps: apps.clone(),
                }
            })
            .collect()
    }
}

impl Cluster {
    /// Marks an app whose counts or JSON may have changed (definition, last failure, task
    /// added, removed or updated).
    pub fn touch(&mut self, app_id: &str) {
        self.json_cache.forget(app_id);
        if !self.dirty.contains(app_id) {
            self.dirty.insert(app_id.to_string());
        }
    }

    /// Records per-app counts when they differ from the last sample (only dirty apps are
    /// recounted).
    pub fn sample(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut delta = Delta::new();
        for id in dirty {
            let now = self.apps.contains_key(&id).then(|| self.counts(&id));
            if self.sample_log.current.get(&id).copied() != now {
                delta.insert(id, now);
            }
        }
        let at = self.now();
        self.sample_log.record(at, delta);
        #[cfg(debug_assertions)]
        {
            let full: BTreeMap<String, AppCounts> = self
                .apps
                .keys()
                .map(|id| (id.clone(), self.counts(id)))
                .collect();
            debug_assert_eq!(
                full, self.sample_log.current,
                "incremental samples diverged: an app was changed without touch()"
            );
        }
    }
}
