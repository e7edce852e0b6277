//! The pure decision: after each pass, which deploy groups to roll back, and to what. No I/O:
//! it reads what a pass observed ([`InstanceObservation`]) and its own memory
//! ([`RollbackState`]), and returns [`Decision`]s for the async part to carry out.
//!
//! Rules, per instance whose policy is `rollback`:
//! - a new app version is *watched* from the first pass in which it exists in Marathon without
//!   a happy task; a happy task ends the watch (a later crash starts a new one);
//! - it *fails* when it has had no happy task for the policy's timeout, or when Marathon backs
//!   off its launches so that the next one comes after that deadline;
//! - the target is the last sha seen healthy on the deploy group (the only app of an instance
//!   of the group, with every task happy), else an older app of the instance that still has a
//!   happy task (known by its 8-char sha; the caller resolves it in git);
//! - never while the cluster is frozen or the instance paused (time held does not count), never
//!   from a follower or in a dry run, never twice in a row for the same sha of a group, and
//!   never to the sha that failed (a config-only change cannot be rolled back through git).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::policy::RollbackPolicy;

/// `(service, instance)`.
pub type InstanceKey = (String, String);
/// `(service, deploy group)`.
pub type GroupKey = (String, String);

/// One planned instance as a pass saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceObservation {
    /// `(service, instance)`.
    pub key: InstanceKey,
    /// Its deploy group.
    pub deploy_group: String,
    /// Its policy.
    pub policy: RollbackPolicy,
    /// The desired app id.
    pub desired_app: String,
    /// The full sha the desired app runs.
    pub desired_sha: String,
    /// Tasks wanted (0: stopped, never watched).
    pub desired_instances: u32,
    /// Happy tasks of the desired app; `None` while Marathon has no such app.
    pub new_app_happy: Option<u32>,
    /// Whether the desired app is the instance's only app.
    pub only_app: bool,
    /// The 8-char shas of the instance's other apps that still have a happy task.
    pub healthy_old_shas: Vec<String>,
    /// When Marathon backs off the desired app's launches: the time until its next launch.
    pub launch_delay: Option<Duration>,
    /// What Galley sees about the instance (one line each), for the alert and the log.
    pub evidence: Vec<String>,
    /// Paused by an operator.
    pub paused: bool,
}

/// What holds for the whole pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassContext {
    /// When the pass observed Marathon.
    pub now: DateTime<Utc>,
    /// The cluster is frozen.
    pub frozen: bool,
    /// This coordinator may act destructively (leading, grace period over).
    pub leading: bool,
    /// `reconcile.dry_run`: plan and log only.
    pub dry_run: bool,
}

/// The sha to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A full sha (seen healthy by this coordinator).
    Sha(String),
    /// The 8-char sha of an older app that still has a happy task (resolve it in git).
    Prefix(String),
}

impl Target {
    /// The sha or prefix.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Sha(s) | Target::Prefix(s) => s,
        }
    }
}

/// Why the new version counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// No happy task within the timeout.
    Timeout {
        /// How long it was watched.
        waited: Duration,
    },
    /// Marathon delays its next launch past the timeout.
    Backoff {
        /// How long it was watched.
        waited: Duration,
        /// Marathon's remaining launch delay.
        next_launch_in: Duration,
    },
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Timeout { waited } => {
                write!(f, "no happy new task within {}s", waited.as_secs())
            }
            Trigger::Backoff {
                waited,
                next_launch_in,
            } => write!(
                f,
                "no happy new task after {}s and Marathon backs off its launches (next in {}s, \
                 past the timeout)",
                waited.as_secs(),
                next_launch_in.as_secs()
            ),
        }
    }
}

/// A rollback to carry out: one deploy tag for the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// Service.
    pub service: String,
    /// The instance whose bounce failed.
    pub instance: String,
    /// Its deploy group (the tag's group).
    pub deploy_group: String,
    /// The desired app that failed.
    pub failed_app: String,
    /// The sha that failed.
    pub from_sha: String,
    /// Where to go (`None` only in a [`Decision::Held`] for [`HoldReason::NoHealthyVersion`]).
    pub to: Option<Target>,
    /// Why.
    pub trigger: Trigger,
    /// What Galley sees.
    pub evidence: Vec<String>,
}

/// Why a due rollback is not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// Another coordinator leads (or this one is in its grace period).
    NotLeader,
    /// `reconcile.dry_run`.
    DryRun,
    /// This sha of the group was already rolled back once.
    AlreadyRolledBack,
    /// No healthy version is known for the group.
    NoHealthyVersion,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoldReason::NotLeader => "this coordinator does not lead",
            HoldReason::DryRun => "dry run",
            HoldReason::AlreadyRolledBack => {
                "this sha was rolled back once already; an operator must act"
            }
            HoldReason::NoHealthyVersion => "no other sha was seen healthy on the deploy group",
        })
    }
}

/// What the async part does after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Push a deploy tag for `to` on the group.
    Rollback(Rollback),
    /// A rollback is due but held (reported once per reason and app).
    Held {
        /// What would have been rolled back.
        rollback: Rollback,
        /// Why not.
        reason: HoldReason,
    },
}

/// `(deploy group, sha)`.
type GroupSha = (Box<str>, Box<str>);

/// A watched new app.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    app_id: String,
    since: DateTime<Utc>,
}

/// The decision's memory across passes (kept by followers too, so a new leader knows the
/// healthy shas; lost on restart).
#[derive(Debug, Clone, Default)]
pub struct RollbackState {
    watching: BTreeMap<InstanceKey, Watch>,
    /// service → (deploy group, sha), sorted by group: nested, so a pass finds an unchanged
    /// entry by borrowed names, and a short sorted list (a service has a few groups) instead of
    /// a map node per service.
    last_healthy: BTreeMap<String, Vec<GroupSha>>,
    rolled_back_from: BTreeMap<GroupKey, String>,
    reported: BTreeSet<(InstanceKey, String, String)>,
}

impl RollbackState {
    /// The last sha seen healthy on `(service, deploy group)`.
    pub fn last_healthy(&self, group: &GroupKey) -> Option<&str> {
        self.last_healthy_of(&group.0, &group.1)
    }

    /// [`Self::last_healthy`] by borrowed names.
    pub fn last_healthy_of(&self, service: &str, deploy_group: &str) -> Option<&str> {
        let groups = self.last_healthy.get(service)?;
        let at = groups
            .binary_search_by(|(g, _)| (**g).cmp(deploy_group))
            .ok()?;
        Some(&groups[at].1)
    }

    /// Remembers the sha of each deploy group's healthy news (as [`decide`] does for each
    /// healthy observation; call it before `decide`).
    pub fn record_news(&mut self, news: &[super::observe::HealthyNews]) {
        for n in news {
            self.healthy(&n.instance.service, &n.deploy_group, n.sha());
        }
    }

    /// Records `sha` as the last healthy one of `(service, deploy_group)` (allocates only when
    /// it is news).
    fn healthy(&mut self, service: &str, deploy_group: &str, sha: &str) {
        if self.last_healthy_of(service, deploy_group) == Some(sha) {
            return;
        }
        let groups = match self.last_healthy.get_mut(service) {
            Some(groups) => groups,
            None => self.last_healthy.entry(service.to_owned()).or_default(),
        };
        match groups.binary_search_by(|(g, _)| (**g).cmp(deploy_group)) {
            Ok(at) => groups[at].1 = sha.into(),
            Err(at) => groups.insert(at, (deploy_group.into(), sha.into())),
        }
    }

    /// Records that `r` was carried out (its tag pushed): its group is never rolled back
    /// from that sha again, and the passes before git catches up (still desiring the failed
    /// app) say nothing.
    pub fn rolled_back(&mut self, r: &Rollback) {
        let group = (r.service.clone(), r.deploy_group.clone());
        self.rolled_back_from.insert(group, r.from_sha.clone());
        let key = (r.service.clone(), r.instance.clone());
        let reason = HoldReason::AlreadyRolledBack.to_string();
        self.reported.insert((key, r.failed_app.clone(), reason));
    }

    /// The instances the decision remembers something of (watched, or a hold reported): their
    /// observations must reach it even when nothing else about them matters.
    pub fn remembered_instances(&self) -> impl Iterator<Item = (&str, &str)> {
        let watched = self.watching.keys();
        let reported = self.reported.iter().map(|(k, _, _)| k);
        watched
            .chain(reported)
            .map(|(s, i)| (s.as_str(), i.as_str()))
    }

    /// When `key`'s watched app started being watched.
    pub fn watched_since(&self, key: &InstanceKey) -> Option<DateTime<Utc>> {
        self.watching.get(key).map(|w| w.since)
    }
}

/// Decides after one pass. Updates the memory (healthy shas, watches) and returns what to do.
pub fn decide(
    state: &mut RollbackState,
    ctx: PassContext,
    observations: &[InstanceObservation],
) -> Vec<Decision> {
    for o in observations {
        if is_healthy(o) {
            state.healthy(&o.key.0, &o.deploy_group, &o.desired_sha);
        }
    }
    let mut out = Vec::new();
    let mut groups_done: BTreeSet<GroupKey> = BTreeSet::new();
    for o in observations {
        let Some(trigger) = watch(state, ctx, o) else {
            continue;
        };
        let group = (o.key.0.clone(), o.deploy_group.clone());
        if !groups_done.insert(group.clone()) {
            continue; // one tag per group and pass
        }
        let target = target(state, &group, o);
        let rollback = Rollback {
            service: o.key.0.clone(),
            instance: o.key.1.clone(),
            deploy_group: o.deploy_group.clone(),
            failed_app: o.desired_app.clone(),
            from_sha: o.desired_sha.clone(),
            to: target.clone(),
            trigger,
            evidence: o.evidence.clone(),
        };
        let hold = if state.rolled_back_from.get(&group) == Some(&o.desired_sha) {
            Some(HoldReason::AlreadyRolledBack)
        } else if target.is_none() {
            Some(HoldReason::NoHealthyVersion)
        } else if !ctx.leading {
            Some(HoldReason::NotLeader)
        } else if ctx.dry_run {
            Some(HoldReason::DryRun)
        } else {
            None
        };
        match hold {
            None => out.push(Decision::Rollback(rollback)),
            Some(reason) => {
                let seen = (o.key.clone(), o.desired_app.clone(), reason.to_string());
                if state.reported.insert(seen) {
                    out.push(Decision::Held { rollback, reason });
                }
            }
        }
    }
    // Forget reports of apps no longer desired.
    let live: BTreeSet<(&InstanceKey, &str)> = observations
        .iter()
        .map(|o| (&o.key, o.desired_app.as_str()))
        .collect();
    state
        .reported
        .retain(|(k, app, _)| live.contains(&(k, app.as_str())));
    out
}

/// The only app, every wanted task happy.
pub(super) fn is_healthy(o: &InstanceObservation) -> bool {
    healthy(o.desired_instances, o.only_app, o.new_app_happy)
}

/// [`is_healthy`] from its parts (for callers that have not built an observation).
pub(super) fn healthy(desired_instances: u32, only_app: bool, new_app_happy: Option<u32>) -> bool {
    desired_instances > 0 && only_app && new_app_happy.unwrap_or(0) >= desired_instances
}

/// Updates the watch of `o`'s new app; `Some` when it has failed.
fn watch(state: &mut RollbackState, ctx: PassContext, o: &InstanceObservation) -> Option<Trigger> {
    let watched = o.policy.rolls_back()
        && o.desired_instances > 0
        && o.new_app_happy == Some(0)
        && !ctx.frozen
        && !o.paused;
    if !watched {
        state.watching.remove(&o.key);
        return None;
    }
    let w = state
        .watching
        .entry(o.key.clone())
        .or_insert_with(|| Watch {
            app_id: o.desired_app.clone(),
            since: ctx.now,
        });
    if w.app_id != o.desired_app {
        *w = Watch {
            app_id: o.desired_app.clone(),
            since: ctx.now,
        };
    }
    let waited = (ctx.now - w.since).to_std().unwrap_or_default();
    if waited >= o.policy.timeout {
        return Some(Trigger::Timeout { waited });
    }
    match o.launch_delay {
        Some(delay) if waited + delay >= o.policy.timeout => Some(Trigger::Backoff {
            waited,
            next_launch_in: delay,
        }),
        _ => None,
    }
}

/// The sha to go back to: the group's last healthy sha, else an older app with a happy task;
/// never the failing sha itself.
fn target(state: &RollbackState, group: &GroupKey, o: &InstanceObservation) -> Option<Target> {
    let differs = |sha: &str| !o.desired_sha.starts_with(sha) && !sha.is_empty();
    if let Some(sha) = state.last_healthy(group).filter(|s| differs(s)) {
        return Some(Target::Sha(sha.to_owned()));
    }
    o.healthy_old_shas
        .iter()
        .find(|s| differs(s))
        .map(|s| Target::Prefix(s.clone()))
}

#[cfg(test)]
mod tests;
