//! Checks proportional to change: an instance whose checks were all quiet (nothing new to send)
//! with inputs that cannot change by themselves is not checked again until one of them does.
//!
//! An instance's checks are a function of the desired state (its config, its issue, its
//! desired app), the apps whose ids start with `/<svc>.<inst>` (PaaSTA's prefix, no dot: it
//! takes in apps of longer instance names too), the clock, and on rounds the resend rule. It is
//! *settled* when the last check found it healthy (OK, not bouncing) with every event quiet or
//! resent unchanged, counted from Marathon's tasks (not haproxy, which changes on its own), and
//! no task of those apps was young: a task becomes available a minute after it started, so
//! only a young task lets the clock change the count. A pass that is not a round then reuses a
//! settled instance's result while its service's entry in the desired state is the same (`Arc`)
//! and its apps are the same `Arc`s; a round checks everything.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use galley_common::monitoring::Status;
use galley_common::observed::ObservedApp;
use galley_common::replication::MIN_TASK_AGE;

use super::InstanceReplication;
use crate::desired::DesiredChange;

#[derive(Debug)]
struct Settled {
    /// The apps of its prefix when it was checked (kept: an `Arc` is only compared while held).
    apps: Vec<Arc<ObservedApp>>,
    result: InstanceReplication,
}

/// Settled instances.
#[derive(Debug, Default)]
pub(super) struct SettledChecks {
    /// Keyed by the prepared instances' shared keys.
    by_key: HashMap<Arc<(String, String)>, Settled>,
    /// Instances reused by the last pass (for tests and logs).
    pub(super) last_reused: usize,
}

impl SettledChecks {
    /// Starts a pass whose desired state made `change`: the instances of a changed service
    /// are not settled (their config, issue or desired app may be new).
    pub(super) fn start(&mut self, change: &DesiredChange) {
        if !change.is_same() {
            self.by_key.retain(|key, _| !change.touches(&key.0));
        }
        self.last_reused = 0;
    }

    /// The result to reuse for `key`, if it is settled and its apps are `apps`.
    pub(super) fn reuse(
        &mut self,
        key: &(String, String),
        apps: &[Arc<ObservedApp>],
    ) -> Option<&InstanceReplication> {
        let settled = self.by_key.get(key)?;
        let same = settled.apps.len() == apps.len()
            && settled
                .apps
                .iter()
                .zip(apps)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if same {
            self.last_reused += 1;
        }
        same.then_some(&settled.result)
    }

    /// Forgets `key` (checked without a result).
    pub(super) fn forget(&mut self, key: &(String, String)) {
        self.by_key.remove(key);
    }

    /// Records a checked instance: settled when `quiet` (no event sent or failed, or only
    /// resent unchanged), `counted_from_marathon`, healthy, and no task of `apps` is young.
    pub(super) fn record(
        &mut self,
        key: &Arc<(String, String)>,
        apps: &[Arc<ObservedApp>],
        result: &InstanceReplication,
        quiet_and_from_marathon: bool,
        now: DateTime<Utc>,
    ) {
        let settles = quiet_and_from_marathon
            && result.status == Status::Ok
            && !result.bouncing
            && time_invariant(apps, now);
        if settles {
            let settled = Settled {
                apps: apps.to_vec(),
                result: result.clone(),
            };
            self.by_key.insert(Arc::clone(key), settled);
        } else {
            self.by_key.remove(key);
        }
    }
}

/// Whether the clock cannot change which tasks of `apps` count as available: none started
/// less than [`MIN_TASK_AGE`] before `now` (a task never started stays unavailable).
fn time_invariant(apps: &[Arc<ObservedApp>], now: DateTime<Utc>) -> bool {
    apps.iter()
        .flat_map(|a| &a.tasks)
        .all(|t| t.started_at.is_none_or(|s| s < now - MIN_TASK_AGE))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use galley_common::observed::ObservedTask;

    use super::*;

    fn app(started_minutes_ago: i64, now: DateTime<Utc>) -> Arc<ObservedApp> {
        Arc::new(ObservedApp {
            id: "/web.main.git1.config1".into(),
            instances: 1,
            tasks: vec![ObservedTask {
                id: "t".into(),
                started_at: Some(now - TimeDelta::minutes(started_minutes_ago)),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn ok() -> InstanceReplication {
        InstanceReplication {
            available: 1,
            expected: 1,
            status: Status::Ok,
            output: "fine".into(),
            bouncing: false,
        }
    }

    #[test]
    fn only_a_quiet_healthy_instance_with_old_tasks_settles_and_only_with_the_same_apps() {
        let now = Utc::now();
        let key = Arc::new(("web".to_string(), "main".to_string()));
        let mut s = SettledChecks::default();
        s.start(&DesiredChange::Same);
        let old = [app(5, now)];
        s.record(&key, &old, &ok(), true, now);
        assert!(s.reuse(&key, &old).is_some(), "settled");
        assert!(
            s.reuse(&key, &[app(5, now)]).is_none(),
            "a new app Arc is a change"
        );
        assert!(s.reuse(&key, &[]).is_none(), "its app gone is a change");

        let young = [app(0, now)];
        s.record(&key, &young, &ok(), true, now);
        assert!(
            s.reuse(&key, &young).is_none(),
            "a young task lets the clock change it"
        );
        s.record(&key, &old, &ok(), false, now);
        assert!(
            s.reuse(&key, &old).is_none(),
            "an event was sent: check again"
        );
        let critical = InstanceReplication {
            status: Status::Critical,
            ..ok()
        };
        s.record(&key, &old, &critical, true, now);
        assert!(s.reuse(&key, &old).is_none(), "unhealthy: check again");
        let bouncing = InstanceReplication {
            bouncing: true,
            ..ok()
        };
        s.record(&key, &old, &bouncing, true, now);
        assert!(s.reuse(&key, &old).is_none(), "bouncing: check again");

        s.record(&key, &old, &ok(), true, now);
        let other = DesiredChange::Services(["api".to_string()].into());
        s.start(&other);
        assert!(s.reuse(&key, &old).is_some(), "another service changed");
        let its_own = DesiredChange::Services(["web".to_string()].into());
        s.start(&its_own);
        assert!(
            s.reuse(&key, &old).is_none(),
            "its service changed: it is not settled"
        );
    }
}
