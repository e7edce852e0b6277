//! Which tasks are "happy" (spec §3.7): started, up for `min_task_uptime`, and — when the app
//! has health checks — with at least one passing result.

use chrono::{DateTime, Utc};
use galley_common::observed::{ObservedApp, ObservedTask};

use super::model::HappyParams;

/// Whether `task` of `app` is happy at `now`.
pub fn is_happy(
    app: &ObservedApp,
    task: &ObservedTask,
    params: HappyParams,
    now: DateTime<Utc>,
) -> bool {
    let Some(started) = task.started_at else {
        return false; // cannot be healthy before it has started
    };
    if let Some(min) = params.min_task_uptime {
        let up = (now - started).num_milliseconds() as f64 / 1000.0;
        if up < min {
            return false;
        }
    }
    if app.has_health_checks && task.health_results.is_empty() {
        return false; // checks defined, none ran yet
    }
    // No results (and no checks) is healthy; otherwise any passing check suffices.
    task.health_results.is_empty() || task.health_results.iter().any(|alive| *alive)
}
