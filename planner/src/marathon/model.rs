//! The planner's inputs and outputs: desired instances, observed apps with drain state, and
//! the [`Plan`] of actions. Plain data, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
pub use galley_common::bounce_methods::BounceMethod;

/// What the bounce needs of the happy-task test (`bounce_health_params`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HappyParams {
    /// A task must have been running this long to count (`min_task_uptime`, seconds).
    pub min_task_uptime: Option<f64>,
}

/// One service.instance as it should run in this cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredInstance {
    /// Service name.
    pub service: String,
    /// Instance name.
    pub instance: String,
    /// Full Marathon app id with leading `/` (`/<svc>.<inst>.git<sha8>.config<hash8>`).
    pub app_id: String,
    /// The app definition to POST (shared by the passes that planned from it).
    pub app: AppDefinition,
    /// Desired task count (0 when stopped).
    pub instances: u32,
    /// Bounce method.
    pub bounce_method: BounceMethod,
    /// Crossover margin, 0 < f ≤ 1.
    pub bounce_margin_factor: f64,
    /// Happy-task parameters.
    pub happy: HappyParams,
    /// How tasks are taken out of the load balancer before they are killed.
    pub drain: DrainKind,
    /// hacheck settings when `drain` is [`DrainKind::Hacheck`].
    pub hacheck: Option<HacheckParams>,
}

/// A rendered app definition, held as its compact JSON text encoded against a shared base
/// (see `compact.rs`: about a tenth of the text's size; a parsed `serde_json::Value` costs
/// about 8 KB per instance). Only the create call and `render-app` read it back. Cheap to
/// clone (shared); equal exactly when the texts are.
#[derive(Clone, PartialEq, Eq)]
pub struct AppDefinition {
    encoded: std::sync::Arc<[u8]>,
    /// The full git sha of its docker image tag (`…:paasta-<sha>`), read once.
    git_sha: Option<std::sync::Arc<str>>,
}

impl AppDefinition {
    /// The definition of `app` (wire JSON).
    pub fn new(app: &serde_json::Value) -> Self {
        let git_sha = app
            .pointer("/container/docker/image")
            .and_then(serde_json::Value::as_str)
            .and_then(|image| image.rsplit(':').next())
            .and_then(|tag| tag.strip_prefix("paasta-"))
            .map(std::sync::Arc::from);
        Self {
            encoded: super::compact::encode(&app.to_string()).into(),
            git_sha,
        }
    }

    /// The compact JSON text.
    pub fn text(&self) -> String {
        super::compact::decode(&self.encoded).expect("an AppDefinition decodes what it encoded")
    }

    /// The JSON tree (parsed on each call: for the create call and `render-app`).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).expect("an AppDefinition holds JSON it wrote")
    }

    /// The full git sha its docker image runs (`…:paasta-<sha>`), if the image names one.
    pub fn git_sha(&self) -> Option<&str> {
        self.git_sha.as_deref()
    }
}

impl From<serde_json::Value> for AppDefinition {
    fn from(app: serde_json::Value) -> Self {
        Self::new(&app)
    }
}

impl fmt::Debug for AppDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// hacheck settings of one instance (`drain_method_params`).
#[derive(Debug, Clone, PartialEq)]
pub struct HacheckParams {
    /// `<service>.<nerve_ns>`: the spool name.
    pub spool: String,
    /// hacheck's port on every host (`hacheck_port`, default 6666).
    pub port: u16,
    /// Seconds a task must be down before it is safe to kill (`delay`, default 120).
    pub delay: f64,
    /// Seconds the down spool lasts (`expiration`, default 10 × delay).
    pub expiration: f64,
}

/// Drain methods (spec §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DrainKind {
    /// Never draining, always safe to kill.
    #[default]
    Noop,
    /// hacheck on the task's host: draining once marked down, safe after the delay.
    Hacheck,
}

impl DesiredInstance {
    /// `/<svc>.<inst>.`, the prefix of every app id of this instance: a slice of `app_id`
    /// (no allocation) when it starts with it, as every rendered one does.
    pub fn apps_prefix(&self) -> std::borrow::Cow<'_, str> {
        fn escaped(s: &str) -> impl Iterator<Item = u8> + '_ {
            s.bytes().flat_map(|b| {
                let (bytes, n) = if b == b'_' {
                    ([b'-', b'-'], 2)
                } else {
                    ([b, 0], 1)
                };
                bytes.into_iter().take(n)
            })
        }
        let expected = || {
            std::iter::once(b'/')
                .chain(escaped(&self.service))
                .chain(std::iter::once(b'.'))
                .chain(escaped(&self.instance))
                .chain(std::iter::once(b'.'))
        };
        let n = expected().count();
        match self.app_id.get(..n) {
            // Ends with the ASCII '.', so `n` is a char boundary.
            Some(head) if head.bytes().eq(expected()) => std::borrow::Cow::Borrowed(head),
            _ => std::borrow::Cow::Owned(format!("/{}.", self.short_id())),
        }
    }

    /// `<svc>.<inst>` as it appears in app ids (`_` → `--`).
    pub fn short_id(&self) -> String {
        format!(
            "{}.{}",
            self.service.replace('_', "--"),
            self.instance.replace('_', "--")
        )
    }
}

/// Drain state of one task as the drain method reports it (noop: never draining, always safe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainState {
    /// The task has been taken out of the load balancer.
    pub draining: bool,
    /// Draining long enough that killing it drops no traffic.
    pub safe_to_kill: bool,
}

/// Everything observed for one pass.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Marathon's apps with their tasks (shared with the pass that observed them).
    pub apps: galley_common::observed::AppSnapshot,
    /// Drain state by task id; a task not listed is not draining and safe to kill (noop).
    pub drain: BTreeMap<String, DrainState>,
    /// When this was observed.
    pub now: DateTime<Utc>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// POST the new app.
    CreateApp {
        /// App id.
        app_id: String,
    },
    /// Raise the new app's instance count.
    ScaleApp {
        /// App id.
        app_id: String,
        /// New count.
        instances: u32,
    },
    /// Take tasks out of the load balancer.
    Drain {
        /// Owning app.
        app_id: String,
        /// Tasks.
        task_ids: Vec<String>,
    },
    /// Put tasks back into the load balancer.
    StopDraining {
        /// Owning app.
        app_id: String,
        /// Tasks.
        task_ids: Vec<String>,
    },
    /// Kill drained tasks and lower their app's instance count (`scale=true`).
    KillTasks {
        /// Owning app.
        app_id: String,
        /// Tasks.
        task_ids: Vec<String>,
    },
    /// Delete an app (an old version, or one whose instance left the config).
    DeleteApp {
        /// App id.
        app_id: String,
        /// Why.
        reason: DeleteReason,
    },
}

/// Why an app is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeleteReason {
    /// An old version whose tasks are all gone or being killed.
    Bounced,
    /// Its service.instance is no longer in the config (cleanup).
    Removed,
}

/// The plan for one instance: its actions and a human summary of the bounce.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstancePlan {
    /// Service.
    pub service: String,
    /// Instance.
    pub instance: String,
    /// The desired (new) app id.
    pub app_id: String,
    /// The bounce method in use.
    pub bounce_method: Option<BounceMethod>,
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Whether more than one app version exists, or the new one is missing (a bounce is on).
    pub bouncing: bool,
    /// Where the bounce stands, when bouncing ([`InstancePlan::progress_line`] is PaaSTA's
    /// line of it).
    pub progress: Option<BounceProgress>,
    /// Apps whose deployment is in flight: their scale/kill steps wait for a later pass.
    pub waiting_on: BTreeSet<String>,
}

/// Where a bounce stands: the figures of PaaSTA's "<method> bounce in progress on S.I. ..."
/// line. (Kept as figures, not as the line: while 50,000 instances converge, every plan is
/// bouncing, and the lines were 15 MB.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BounceProgress {
    /// The bounce method.
    pub method: BounceMethod,
    /// Whether Marathon has the new app.
    pub new_exists: bool,
    /// New tasks still to bring up.
    pub to_bring_up: usize,
    /// Old tasks receiving traffic and happy.
    pub old_happy: usize,
    /// Old tasks unhappy.
    pub old_unhappy: usize,
    /// Old tasks draining.
    pub old_draining: usize,
    /// Old apps.
    pub old_apps: usize,
}

/// PaaSTA's bounce progress line of one instance ([`InstancePlan::progress_line`]).
#[derive(Debug, Clone, Copy)]
pub struct ProgressLine<'a> {
    plan: &'a InstancePlan,
    progress: BounceProgress,
}

impl InstancePlan {
    /// PaaSTA's "<method> bounce in progress on S.I. ..." line, when bouncing.
    pub fn progress_line(&self) -> Option<ProgressLine<'_>> {
        self.progress.map(|progress| ProgressLine {
            plan: self,
            progress,
        })
    }
}

impl fmt::Display for ProgressLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ip, p) = (self.plan, &self.progress);
        write!(
            f,
            "{} bounce in progress on {}.{}. New marathon app {} {}. {} new tasks to bring up. \
             {} old tasks receiving traffic and happy. {} old tasks unhappy. {} old tasks draining. {} old apps.",
            p.method,
            ip.service,
            ip.instance,
            ip.app_id.trim_start_matches('/'),
            if p.new_exists {
                "exists"
            } else {
                "not created yet"
            },
            p.to_bring_up,
            p.old_happy,
            p.old_unhappy,
            p.old_draining,
            p.old_apps
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateApp { app_id } => write!(f, "create {app_id}"),
            Action::ScaleApp { app_id, instances } => write!(f, "scale {app_id} to {instances}"),
            Action::Drain { app_id, task_ids } => {
                write!(f, "drain {} task(s) of {app_id}", task_ids.len())
            }
            Action::StopDraining { app_id, task_ids } => {
                write!(f, "stop draining {} task(s) of {app_id}", task_ids.len())
            }
            Action::KillTasks { app_id, task_ids } => {
                write!(f, "kill {} task(s) of {app_id}", task_ids.len())
            }
            Action::DeleteApp {
                app_id,
                reason: DeleteReason::Bounced,
            } => write!(f, "delete old app {app_id}"),
            Action::DeleteApp {
                app_id,
                reason: DeleteReason::Removed,
            } => {
                write!(f, "delete {app_id} (instance no longer configured)")
            }
        }
    }
}

impl fmt::Display for InstancePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}:", self.service, self.instance)?;
        if self.actions.is_empty() {
            write!(f, " nothing to do")?;
        }
        for a in &self.actions {
            write!(f, "\n  - {a}")?;
        }
        for app in &self.waiting_on {
            write!(f, "\n  (waiting for the deployment in flight on {app})")?;
        }
        Ok(())
    }
}
