//! Scriptable behaviour: per-app task outcomes, HTTP faults, leadership, and the recorded
//! history tests assert on.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the tasks of matching apps behave once launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Runs, and passes every health check (the default).
    Healthy,
    /// Runs, but fails every health check (apps without health checks just run).
    NeverHealthy,
    /// Runs, passes health checks, then fails (TASK_FAILED) `after` its start.
    CrashAfter {
        /// Running time before the crash.
        #[serde(with = "secs")]
        after: Duration,
    },
    /// Never leaves TASK_STAGING (until `--task_launch_timeout` kills it).
    StuckStaging,
    /// Fails (TASK_FAILED) while staging; never runs. Drives launch backoff.
    FailOnLaunch,
}

/// Serialises a time as Marathon's timestamp text.
fn ser_ts<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::ids::ts(*t))
}

/// Seconds as a float, for the control API.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let x = f64::deserialize(d)?;
        Duration::try_from_secs_f64(x).map_err(serde::de::Error::custom)
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and `{"message": ...}`.
    Status {
        /// HTTP status.
        status: u16,
        /// Message of the JSON body.
        message: String,
    },
    /// Delay the request (real time) before handling it normally.
    Delay {
        /// Milliseconds to wait.
        millis: u64,
    },
    /// Close the connection without answering.
    Drop,
}

/// A fault injected into the Marathon listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Only requests whose path starts with this (`None`: all `/v2` and `/ping` requests).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests with this method (`GET`, `POST`, ...).
    #[serde(default)]
    pub method: Option<String>,
    /// The effect.
    pub kind: FaultKind,
    /// How many requests it hits before it expires (`None`: forever).
    #[serde(default)]
    pub count: Option<u32>,
}

impl Fault {
    /// A fault answering `status` on every request.
    pub fn status(status: u16) -> Self {
        Self {
            path_prefix: None,
            method: None,
            kind: FaultKind::Status {
                status,
                message: format!("simulated fault {status}"),
            },
            count: None,
        }
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    /// Restricts the fault to one method.
    pub fn on_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Expires the fault after `n` hits.
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }

    /// Whether this fault applies to a request.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && self.count != Some(0)
    }
}

/// Leadership of the emulated Mesos master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum MesosLeadership {
    /// This master leads and answers.
    Leading,
    /// Another master leads: 307 to `//host:port/master/state`.
    Follower {
        /// Leader hostname.
        host: String,
        /// Leader port.
        port: u16,
    },
    /// No leader elected: 503.
    NoLeader,
}

/// Task / deployment happenings, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HistoryKind {
    /// A task was placed on an agent (TASK_STAGING).
    TaskLaunched {
        app_id: String,
        task_id: String,
        host: String,
        version: String,
    },
    /// A task reached TASK_RUNNING.
    TaskRunning { app_id: String, task_id: String },
    /// A task's health changed.
    TaskHealth {
        app_id: String,
        task_id: String,
        alive: bool,
    },
    /// Marathon asked Mesos to kill a task.
    KillRequested {
        app_id: String,
        task_id: String,
        reason: String,
    },
    /// A task reached a terminal state and was expunged.
    TaskEnded {
        app_id: String,
        task_id: String,
        state: String,
    },
    /// A deployment started.
    DeploymentStarted { id: String, apps: Vec<String> },
    /// A deployment finished (`success`) or was cancelled.
    DeploymentEnded { id: String, success: bool },
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// Simulated time.
    #[serde(serialize_with = "ser_ts")]
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: HistoryKind,
}

/// Task counts of one app at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppCounts {
    /// TASK_STAGING.
    pub staged: u32,
    /// TASK_RUNNING.
    pub running: u32,
    /// Running with every health result alive.
    pub healthy: u32,
    /// With a health result not alive.
    pub unhealthy: u32,
    /// Running and, when the app has health checks, healthy: what serves traffic.
    pub happy: u32,
    /// Of those running, how many have a kill pending.
    pub killing: u32,
}

/// Per-app counts after a lifecycle step (recorded only when they changed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Simulated time.
    #[serde(serialize_with = "ser_ts")]
    pub at: DateTime<Utc>,
    /// Counts by app id (apps without tasks included while they exist).
    pub apps: BTreeMap<String, AppCounts>,
}
