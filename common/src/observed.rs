//! Observed state: what Marathon and Mesos report, in Galley's own terms (the wire DTOs stay in
//! the coordinator's client modules).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Marathon's apps as one pass sees them, sorted by id. The apps are shared with the view
/// that keeps them, so a new snapshot copies pointers, not apps (at 50,000 apps a deep copy
/// costs tens of milliseconds and a second copy of every app).
pub type AppSnapshot = std::sync::Arc<Vec<std::sync::Arc<ObservedApp>>>;

/// The range of `apps` (sorted by id) whose ids start with `prefix`: `O(log n)` instead of a
/// scan (an instance's apps share the `/<svc>.<inst>.` prefix).
pub fn prefix_range<A: std::borrow::Borrow<ObservedApp>>(
    apps: &[A],
    prefix: &str,
) -> std::ops::Range<usize> {
    let lo = apps.partition_point(|a| a.borrow().id.as_str() < prefix);
    let n = apps[lo..].partition_point(|a| a.borrow().id.starts_with(prefix));
    lo..lo + n
}

/// `app` as one of `held` (sorted by id) when `held` has an equal one (that same `Arc`), else
/// newly shared. A full list re-read this way keeps every unchanged app's `Arc`, so what is
/// keyed by those `Arc`s (settled checks, the plan memo) stays valid and an unchanged app's
/// copy is freed as soon as it is compared.
pub fn reuse_held(
    held: &[std::sync::Arc<ObservedApp>],
    app: ObservedApp,
) -> std::sync::Arc<ObservedApp> {
    match held.binary_search_by(|h| h.id.as_str().cmp(&app.id)) {
        Ok(i) if *held[i] == app => std::sync::Arc::clone(&held[i]),
        _ => std::sync::Arc::new(app),
    }
}

/// `apps` sorted by id, as [`prefix_range`] needs them: borrowed when they already are (a
/// pass's apps always are), else a sorted copy of the `Arc`s.
pub fn sorted_by_id(
    apps: &[std::sync::Arc<ObservedApp>],
) -> std::borrow::Cow<'_, [std::sync::Arc<ObservedApp>]> {
    if apps.is_sorted_by(|a, b| a.id <= b.id) {
        std::borrow::Cow::Borrowed(apps)
    } else {
        let mut sorted = apps.to_vec();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        std::borrow::Cow::Owned(sorted)
    }
}

/// A Marathon app as one list call (`embed=apps.tasks&embed=apps.lastTaskFailure`) shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedApp {
    /// Absolute id, with its leading `/`.
    pub id: String,
    /// Configured instance count.
    pub instances: u32,
    /// Whether the app defines health checks (then tasks need a passing result to count).
    pub has_health_checks: bool,
    /// Ids of deployments in flight for this app.
    pub deployments: Vec<String>,
    /// Its tasks.
    pub tasks: Vec<ObservedTask>,
    /// The last task failure Marathon recorded, if any.
    pub last_task_failure: Option<Box<TaskFailure>>,
    /// Counts as Marathon reports them.
    pub tasks_staged: u32,
    /// TASK_RUNNING tasks.
    pub tasks_running: u32,
    /// Tasks whose health results are all alive.
    pub tasks_healthy: u32,
    /// Tasks with a failing health result.
    pub tasks_unhealthy: u32,
}

/// Mesos' task states (`mesos.proto`'s `TaskState`).
const TASK_STATES: [&str; 14] = [
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
];

/// `state` as a task holds it: one of Mesos' states borrowed from a constant, anything else
/// kept as sent.
pub fn task_state(state: String) -> Cow<'static, str> {
    match TASK_STATES.iter().find(|s| **s == state) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(state),
    }
}

/// A Marathon task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedTask {
    /// Mesos task id, `<app id without slash>.<uuid>`.
    pub id: String,
    /// Agent hostname.
    pub host: String,
    /// Host ports.
    pub ports: Vec<u16>,
    /// Mesos state (`TASK_RUNNING`, ...), when reported ([`task_state`]: a known one is not
    /// allocated per task).
    pub state: Option<Cow<'static, str>>,
    /// When Mesos staged it.
    pub staged_at: Option<DateTime<Utc>>,
    /// When it started running (`None` while staging).
    pub started_at: Option<DateTime<Utc>>,
    /// `alive` of each health check result.
    pub health_results: Vec<bool>,
}

/// `lastTaskFailure`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskFailure {
    /// Failed task.
    pub task_id: String,
    /// `TASK_FAILED`, ...
    pub state: String,
    /// Mesos' message.
    pub message: String,
    /// Agent.
    pub host: String,
    /// When.
    pub timestamp: String,
}

/// A Mesos agent (slave) from the master's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MesosSlave {
    /// Agent id.
    pub id: String,
    /// Hostname.
    pub hostname: String,
    /// Attributes (`region`, `habitat`, `pool`, ...), values as strings.
    pub attributes: BTreeMap<String, String>,
}

/// A task the Mesos master knows, from any framework: what the orphan reaper needs (its id
/// protects its container, its agent counts the host's tasks).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MesosTask {
    /// Task id.
    pub id: String,
    /// Agent id.
    pub slave_id: String,
    /// State, e.g. `TASK_RUNNING` ([`task_state`]: a known one is not allocated per task).
    pub state: Cow<'static, str>,
}

/// The Mesos master's view: agents and the tasks of every framework.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MesosState {
    /// Agents.
    pub slaves: Vec<MesosSlave>,
    /// Tasks of all frameworks (active ones).
    pub tasks: Vec<MesosTask>,
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::task_state;

    #[test]
    fn an_equal_held_app_is_reused_and_any_other_is_new() {
        use std::sync::Arc;

        use super::{ObservedApp, reuse_held};
        let app = |id: &str, instances| ObservedApp {
            id: id.into(),
            instances,
            ..Default::default()
        };
        let held = vec![Arc::new(app("/a", 1)), Arc::new(app("/b", 2))];
        assert!(Arc::ptr_eq(&reuse_held(&held, app("/b", 2)), &held[1]));
        let changed = reuse_held(&held, app("/b", 3));
        assert!(!Arc::ptr_eq(&changed, &held[1]));
        assert_eq!(changed.instances, 3);
        assert_eq!(reuse_held(&held, app("/c", 1)).id, "/c");
        assert_eq!(reuse_held(&[], app("/a", 1)).id, "/a");
    }

    #[test]
    fn known_task_states_are_not_allocated_and_others_kept_as_sent() {
        assert!(matches!(
            task_state("TASK_RUNNING".into()),
            Cow::Borrowed("TASK_RUNNING")
        ));
        assert!(matches!(
            task_state("TASK_GONE_BY_OPERATOR".into()),
            Cow::Borrowed(_)
        ));
        assert_eq!(task_state("task_running".into()), "task_running");
        assert!(matches!(task_state("TASK_NEW".into()), Cow::Owned(_)));
    }
}
