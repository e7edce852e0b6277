//! "Why is it stuck?": the evidence Galley has about an under-replicated or bouncing instance,
//! from the same Marathon app list the count uses (plus the launch queue when the caller has
//! it). Each item renders as one line for the report and the alert text.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::observed::ObservedApp;

/// Thresholds of the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceConfig {
    /// A task still staging after this long is reported (default 3 minutes; Marathon kills
    /// it at `--task_launch_timeout`, 5 minutes by default).
    pub staging_too_long: TimeDelta,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            staging_too_long: TimeDelta::minutes(3),
        }
    }
}

/// One entry of Marathon's launch queue (`GET /v2/queue`) for an app of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueSignal {
    /// App id, with its leading `/`.
    pub app_id: String,
    /// Instances still to launch.
    pub count: u32,
    /// Remaining launch delay (backoff) in seconds, when the app is delayed.
    pub delay_seconds: Option<u64>,
    /// Why offers were declined, when Marathon says no agent can take the task
    /// (e.g. "InsufficientCpus, UnfulfilledConstraint").
    pub no_capacity: Option<String>,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Tasks still TASK_STAGING after [`EvidenceConfig::staging_too_long`].
    StagingTooLong {
        /// How many.
        count: usize,
        /// The longest staging time, seconds.
        longest_seconds: i64,
        /// One of them, `task id on host`.
        example: String,
    },
    /// Tasks with health results of which some are failing.
    HealthChecksFailing {
        /// How many tasks.
        count: usize,
        /// One of them, `task id on host`.
        example: String,
    },
    /// Healthy tasks that started less than a minute ago, so they do not count yet.
    TooYoung {
        /// How many.
        count: usize,
    },
    /// Marathon's `lastTaskFailure` of an app.
    LastTaskFailure {
        /// App id.
        app_id: String,
        /// `TASK_FAILED`, ...
        state: String,
        /// Mesos' message.
        message: String,
        /// Agent.
        host: String,
        /// When.
        timestamp: String,
    },
    /// A Marathon deployment is in flight for an app.
    DeploymentInFlight {
        /// App id.
        app_id: String,
        /// Deployment ids.
        deployments: Vec<String>,
    },
    /// An app is in Marathon's launch queue with a backoff delay.
    LaunchDelayed {
        /// App id.
        app_id: String,
        /// Instances waiting.
        waiting: u32,
        /// Remaining delay, seconds.
        seconds: u64,
    },
    /// No agent has room (or matches the constraints) for an app's tasks.
    NoCapacity {
        /// App id.
        app_id: String,
        /// Marathon's reason.
        reason: String,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::StagingTooLong {
                count,
                longest_seconds,
                example,
            } => write!(
                f,
                "{count} task(s) staging for too long (longest {longest_seconds}s), e.g. {example}"
            ),
            Evidence::HealthChecksFailing { count, example } => {
                write!(f, "{count} task(s) failing health checks, e.g. {example}")
            }
            Evidence::TooYoung { count } => write!(
                f,
                "{count} healthy task(s) started less than a minute ago (not counted yet)"
            ),
            Evidence::LastTaskFailure {
                app_id,
                state,
                message,
                host,
                timestamp,
            } => write!(
                f,
                "last task failure of {app_id}: {state} on {host} at {timestamp}: {message}"
            ),
            Evidence::DeploymentInFlight {
                app_id,
                deployments,
            } => write!(
                f,
                "Marathon deployment in flight for {app_id}: {}",
                deployments.join(", ")
            ),
            Evidence::LaunchDelayed {
                app_id,
                waiting,
                seconds,
            } => write!(
                f,
                "{app_id} is backing off: {waiting} task(s) waiting, next launch in {seconds}s"
            ),
            Evidence::NoCapacity { app_id, reason } => {
                write!(f, "no agent can take {app_id}'s tasks: {reason}")
            }
        }
    }
}

/// The evidence over the apps of one instance (see [`super::instance_apps`]) and the launch
/// queue entries (any app; those of other instances are ignored). Order: task-level findings,
/// then per app (sorted by id) failure, deployment, backoff, capacity.
pub fn gather_evidence(
    apps: &[&ObservedApp],
    now: DateTime<Utc>,
    config: &EvidenceConfig,
    queue: &[QueueSignal],
) -> Vec<Evidence> {
    let mut out = Vec::new();
    let tasks = || apps.iter().flat_map(|a| &a.tasks);
    let describe = |id: &str, host: &str| format!("{id} on {host}");

    let staging: Vec<_> = tasks()
        .filter(|t| t.started_at.is_none())
        .filter_map(|t| t.staged_at.map(|s| (t, now - s)))
        .filter(|(_, age)| *age > config.staging_too_long)
        .collect();
    if let Some((t, longest)) = staging.iter().max_by_key(|(_, age)| *age) {
        out.push(Evidence::StagingTooLong {
            count: staging.len(),
            longest_seconds: longest.num_seconds(),
            example: describe(&t.id, &t.host),
        });
    }
    let failing: Vec<_> = tasks()
        .filter(|t| t.health_results.iter().any(|alive| !alive))
        .collect();
    if let Some(t) = failing.first() {
        out.push(Evidence::HealthChecksFailing {
            count: failing.len(),
            example: describe(&t.id, &t.host),
        });
    }
    let young = tasks()
        .filter(|t| t.health_results.iter().all(|alive| *alive))
        .filter(|t| t.started_at.is_some_and(|s| s >= now - super::MIN_TASK_AGE))
        .count();
    if young > 0 {
        out.push(Evidence::TooYoung { count: young });
    }

    let mut sorted: Vec<&ObservedApp> = apps.to_vec();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for app in sorted {
        if let Some(failure) = &app.last_task_failure {
            out.push(Evidence::LastTaskFailure {
                app_id: app.id.clone(),
                state: failure.state.clone(),
                message: failure.message.clone(),
                host: failure.host.clone(),
                timestamp: failure.timestamp.clone(),
            });
        }
        if !app.deployments.is_empty() {
            out.push(Evidence::DeploymentInFlight {
                app_id: app.id.clone(),
                deployments: app.deployments.clone(),
            });
        }
        for q in queue.iter().filter(|q| q.app_id == app.id) {
            if let Some(seconds) = q.delay_seconds.filter(|s| *s > 0) {
                out.push(Evidence::LaunchDelayed {
                    app_id: app.id.clone(),
                    waiting: q.count,
                    seconds,
                });
            }
            if let Some(reason) = &q.no_capacity {
                out.push(Evidence::NoCapacity {
                    app_id: app.id.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }
    out
}
