//! Progress of the ScaleApplication and RestartApplication actions of a deployment (§2), and
//! the choice of tasks to kill.

use std::collections::BTreeSet;

use super::deploy::{RestartState, ScaleState};
use super::state::{Cluster, Task, TaskState};

impl Cluster {
    /// Starts a ScaleApplication (`DeploymentActor.scaleRunnable`, `ScalingProposition`):
    /// kills the chosen victims, then more to get down to `n`, and counts how many instances
    /// it must start (`TaskStartActor.nrToStart`: `n` minus what is launched or queued, of any
    /// version, kills not yet confirmed included).
    pub(super) fn start_scale(&mut self, app_id: &str, n: u32, chosen: &[String]) -> ScaleState {
        let all: Vec<&Task> = self.app_tasks(app_id);
        let launched = all.len() as u32;
        let active: Vec<String> = all
            .iter()
            .filter(|t| t.kill_at.is_none())
            .map(|t| t.id.clone())
            .collect();
        let mut victims: Vec<String> = chosen
            .iter()
            .filter(|v| active.contains(v))
            .cloned()
            .collect();
        let excess = active
            .len()
            .saturating_sub(n as usize)
            .saturating_sub(victims.len());
        let already = victims.clone();
        victims.extend(self.pick_victims(app_id, excess, |t| !already.contains(&t.id)));
        for v in &victims {
            self.kill_task(v, "scaling down");
        }
        ScaleState {
            killed: victims,
            first_new_seq: self.next_seq,
            to_start: n.saturating_sub(launched + self.queued(app_id)),
        }
    }

    /// Keeps `n` instances launched (`StartingBehavior`'s `Sync`: launched instances, kills
    /// pending included, plus queued ones) and tells whether the action has finished: every
    /// kill confirmed and `to_start` tasks launched by it ready. Tasks that were there before
    /// (an older version left by a cancelled deployment among them) neither count nor block,
    /// as in Marathon 1.4, where `ReadinessBehavior` only counts instances of the deployment's
    /// own version.
    pub(super) fn scale_progress(&mut self, app_id: &str, n: u32, st: &ScaleState) -> bool {
        let now = self.now();
        let launched = self.app_tasks(app_id).len() as u32;
        let Some(app) = self.apps.get(app_id) else {
            return true;
        };
        let has_health = app.spec.health.is_some();
        if launched + app.queued < n
            && let Some(app) = self.apps.get_mut(app_id)
        {
            app.set_queued(n - launched, now);
            self.queued_apps.insert(app_id.to_owned());
        }
        let started_ready = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| t.seq >= st.first_new_seq && t.ready(has_health))
            .count();
        st.killed.iter().all(|v| !self.tasks.contains_key(v))
            && started_ready >= st.to_start as usize
    }

    pub(super) fn restart_progress(
        &mut self,
        app_id: &str,
        state: &mut Option<RestartState>,
    ) -> bool {
        let now = self.now();
        let Some(app) = self.apps.get(app_id) else {
            return true;
        };
        let (spec, config) = (app.spec.clone(), app.config_version.clone());
        let has_health = spec.health.is_some();
        let i = i64::from(spec.instances);
        if i == 0 {
            return true;
        }
        let is_old = move |t: &Task| t.config_version != config;
        let old_is = is_old.clone();
        if state.is_none() {
            let min_healthy = (i as f64 * spec.minimum_health_capacity).ceil() as i64;
            let mut max_capacity = (i as f64 * (1.0 + spec.maximum_over_capacity)).floor() as i64;
            let old_running = self
                .app_tasks(app_id)
                .iter()
                .filter(|t| is_old(t) && t.kill_at.is_none())
                .count() as i64;
            if min_healthy == max_capacity && max_capacity <= old_running {
                max_capacity += 1;
            }
            let kill_now = (old_running - min_healthy).max(0) as usize;
            for v in self.pick_victims(app_id, kill_now, |t| old_is(t)) {
                self.kill_task(&v, "upgrade");
            }
            *state = Some(RestartState {
                max_capacity,
                healthy_seen: BTreeSet::new(),
            });
        }
        let Some(st) = state.as_mut() else {
            return true;
        };
        let newly_healthy: Vec<String> = self
            .app_tasks(app_id)
            .iter()
            .filter(|t| !is_old(t) && t.ready(has_health) && !st.healthy_seen.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        for id in newly_healthy {
            st.healthy_seen.insert(id);
            let old = is_old.clone();
            for v in self.pick_victims(app_id, 1, move |t| old(t)) {
                self.kill_task(&v, "upgrade");
            }
        }
        let tasks = self.app_tasks(app_id);
        let old_left = tasks.iter().filter(|t| is_old(t)).count() as i64;
        // New instances count until they are terminal, a kill pending included
        // (`TaskReplaceActor` relaunches only on a terminal status).
        let new_active = tasks.iter().filter(|t| !is_old(t)).count() as i64;
        let new_ready = tasks
            .iter()
            .filter(|t| !is_old(t) && t.ready(has_health))
            .count() as i64;
        let queued = i64::from(self.queued(app_id));
        let started = new_active + queued;
        let to_start = (i - started)
            .min(st.max_capacity - old_left - started)
            .max(0);
        if to_start > 0
            && let Some(app) = self.apps.get_mut(app_id)
        {
            app.set_queued(app.queued + to_start as u32, now);
            self.queued_apps.insert(app_id.to_owned());
        }
        new_ready >= i && old_left == 0
    }

    /// Picks up to `count` tasks to kill among active tasks accepted by `filter`: unhealthy first,
    /// then staging, then the rest; ties by killSelection (YOUNGEST_FIRST by default).
    pub fn pick_victims(
        &self,
        app_id: &str,
        count: usize,
        filter: impl Fn(&Task) -> bool,
    ) -> Vec<String> {
        let oldest_first = self.apps.get(app_id).is_some_and(|a| a.spec.oldest_first);
        let mut candidates: Vec<&Task> = self
            .app_tasks(app_id)
            .into_iter()
            .filter(|t| t.kill_at.is_none() && filter(t))
            .collect();
        candidates.sort_by_key(|t| {
            let class = match (&t.health, t.state) {
                (Some(h), _) if !h.alive() => 0,
                (_, TaskState::Staging) => 1,
                _ => 2,
            };
            let age = if oldest_first {
                t.seq as i64
            } else {
                -(t.seq as i64)
            };
            (class, age)
        });
        candidates
            .into_iter()
            .take(count)
            .map(|t| t.id.clone())
            .collect()
    }
}
