//! Automatic rollback of bounces that cannot converge (opt-in per instance: `bounce_failure:
//! rollback` with `bounce_timeout`, or the coordinator config's `rollback:` default).
//!
//! After every reconcile pass, [`observe`] turns the pass into per-instance observations (the
//! launch queue is read only when a new version has no happy task), the pure [`decide`] says
//! which deploy groups to roll back and to what, and [`Roller`] carries it out: it re-reads the
//! group's deploy tags in git (the group must still be on the failing sha; an 8-char target is
//! resolved there), pushes a deploy tag for the last healthy sha through the audited
//! [`TagWriter`] (as `DeployService` does), asks the git watch to re-list at once, writes the
//! deploy log, and raises a Sensu event (`galley_bounce_rollback.<service>.<instance>`,
//! WARNING, naming both shas and the evidence; an OK follows once the group runs another sha
//! healthily). Only the leader acts, and only past its grace period.

pub mod decide;
pub mod history;
pub mod observe;
mod policy;
mod sensu;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::apply::ApplyEvent;
use crate::election::Leadership;
use crate::error_chain::ErrorChain;
use crate::gitwatch::{GitWatchHandle, TagRequest, TagWriter};
use crate::monitor::LaunchQueue;
use crate::reconciler::{Control, EventSink, PassRecord, PassStatus};
use crate::sensu::SensuSink;

pub use decide::{
    Decision, HoldReason, InstanceObservation, PassContext, Rollback, RollbackState, Target,
    Trigger, decide,
};
pub use policy::RollbackPolicy;

use observe::{Interest, Observations, ObserveInputs, observe};
use sensu::Alerts;

/// What the rollback step needs from the composition root.
pub struct RollbackDeps<S: SensuSink> {
    /// This cluster.
    pub cluster: String,
    /// yelpsoa-configs (each service's `git_url`).
    pub soa_dir: PathBuf,
    /// The `rollback:` default policy.
    pub default: RollbackPolicy,
    /// `reconcile.dry_run`: log what would be rolled back, push nothing.
    pub dry_run: bool,
    /// The audited tag writer (`DeployService`'s).
    pub writer: Arc<TagWriter>,
    /// The git watch, re-listed after a push.
    pub git_watch: Option<GitWatchHandle>,
    /// Marathon's launch queue (backoff evidence).
    pub queue: Option<Arc<dyn LaunchQueue>>,
    /// Sensu (leader-only).
    pub sensu: S,
    /// The deploy log.
    pub events: EventSink,
    /// Freeze and pause.
    pub control: Control,
    /// Who leads.
    pub leadership: watch::Receiver<Leadership>,
    /// Bound on each git listing.
    pub git_timeout: Duration,
}

/// Carries out the decisions, pass after pass.
pub struct Roller<S: SensuSink> {
    deps: RollbackDeps<S>,
    state: RollbackState,
    alerts: Alerts,
    bad_policies: BTreeMap<(String, String), String>,
    configs: observe::ConfigCache,
}

impl<S: SensuSink> Roller<S> {
    /// A roller with no memory yet.
    pub fn new(deps: RollbackDeps<S>) -> Self {
        Self {
            deps,
            state: RollbackState::default(),
            alerts: Alerts::default(),
            bad_policies: BTreeMap::new(),
            configs: observe::ConfigCache::default(),
        }
    }

    /// The decision's memory.
    pub fn state(&self) -> &RollbackState {
        &self.state
    }

    /// Decides after `record` and acts. Passes that could not read their inputs are skipped.
    pub async fn after_pass(&mut self, record: &PassRecord) {
        if matches!(
            record.status,
            PassStatus::FailedReadingMarathon(_)
                | PassStatus::FailedReadingMesos(_)
                | PassStatus::FailedReadingSystemConfig(_)
                | PassStatus::LostLeadership
        ) {
            return;
        }
        let observations = self.observe(record).await;
        let leadership = self.deps.leadership.borrow().clone();
        let ctx = PassContext {
            now: record.started_at,
            frozen: self.deps.control.frozen().is_some(),
            leading: leadership.destructive.is_some(),
            dry_run: self.deps.dry_run,
        };
        self.state.record_news(&observations.news);
        let decisions = decide(&mut self.state, ctx, &observations.instances);
        for d in decisions {
            match d {
                Decision::Rollback(r) => self.roll_back(record, r).await,
                Decision::Held { rollback, reason } => self.held(&rollback, &reason, ctx),
            }
        }
        let resolved = self.alerts.resolved(&observations.instances);
        for (key, alert) in resolved {
            sensu::send_ok(&self.deps.sensu, &key, &alert).await;
        }
    }

    async fn observe(&mut self, record: &PassRecord) -> Observations {
        let paused = self.deps.control.paused();
        let mut inputs = ObserveInputs {
            default: self.deps.default,
            queue: &[],
            paused: &paused,
            now: record.started_at,
        };
        let alerted: Vec<(&str, &str)> = self.alerts.instances().collect();
        let interest = Interest {
            state: &self.state,
            instances: (self.state.remembered_instances())
                .chain(alerted.iter().copied())
                .collect(),
            alerted: alerted.iter().map(|(s, _)| *s).collect(),
        };
        let mut obs: Observations = observe(&record.snapshot, inputs, &mut self.configs, &interest);
        let queue = match (&self.deps.queue, obs.has_candidates()) {
            (Some(q), true) => match q.launch_queue().await {
                Ok(q) => q,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "rollback: launch queue unreadable; deciding without it");
                    Vec::new()
                }
            },
            _ => Vec::new(),
        };
        if !queue.is_empty() {
            inputs.queue = &queue;
            obs = observe(&record.snapshot, inputs, &mut self.configs, &interest);
        }
        self.report_bad_policies(&obs);
        obs
    }

    /// Logs each invalid policy once (until it changes or is fixed).
    fn report_bad_policies(&mut self, obs: &Observations) {
        let now: BTreeMap<_, _> = obs.bad_policies.iter().cloned().collect();
        for (key, err) in &now {
            if self.bad_policies.get(key) != Some(err) {
                tracing::warn!(service = %key.0, instance = %key.1, error = %err,
                    "rollback policy invalid: this instance is never rolled back");
            }
        }
        self.bad_policies = now;
    }

    fn held(&self, r: &Rollback, reason: &HoldReason, ctx: PassContext) {
        let message = format!(
            "Automatic rollback of {}.{} (deploy group {}) held: {} ({}); {reason}",
            r.service, r.instance, r.deploy_group, r.failed_app, r.trigger
        );
        if !ctx.leading {
            tracing::debug!("{message}");
            return;
        }
        tracing::warn!("{message}");
        self.event(&r.service, &r.instance, message);
    }

    async fn roll_back(&mut self, record: &PassRecord, r: Rollback) {
        let to = match self.target(&r).await {
            Ok(to) => to,
            Err(why) => {
                let message = format!(
                    "Automatic rollback of {}.{} (deploy group {}) not done: {why}",
                    r.service, r.instance, r.deploy_group
                );
                tracing::warn!("{message}");
                self.event(&r.service, &r.instance, message);
                return;
            }
        };
        if self.deps.leadership.borrow().destructive.is_none() {
            return; // lost the lead meanwhile
        }
        let request = TagRequest::MarkForDeployment {
            service: r.service.clone(),
            deploy_group: r.deploy_group.clone(),
            sha: to.clone(),
        };
        let who = format!("galley-coordinator@{} (automatic rollback)", self.me());
        if let Err(e) = self.deps.writer.write(&request, &who).await {
            let message = format!(
                "Automatic rollback of {}.{} (deploy group {}) to {to} failed, retried next pass: {}",
                r.service,
                r.instance,
                r.deploy_group,
                ErrorChain(&e)
            );
            tracing::warn!("{message}");
            self.event(&r.service, &r.instance, message);
            return;
        }
        self.state.rolled_back(&r);
        if let Some(w) = &self.deps.git_watch {
            w.refresh(&r.service);
        }
        let text = sensu::describe(&r, &to);
        tracing::warn!("{}", text.lines().next().unwrap_or_default());
        self.event(&r.service, &r.instance, text.replace('\n', " "));
        let settings = sensu::settings(record, &self.deps.cluster, &r);
        let alert = self.alerts.raise(&r, &to, settings);
        sensu::send_raised(&self.deps.sensu, &r, &alert, &text).await;
    }

    /// The full sha to go back to, checked against git: the group must still be deployed to
    /// the failing sha (nobody pushed a newer tag meanwhile).
    async fn target(&self, r: &Rollback) -> Result<String, String> {
        let history = history::deploy_history(
            &self.deps.soa_dir,
            &r.service,
            &r.deploy_group,
            self.deps.git_timeout,
        )
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
        match history::current_sha(&history) {
            Some(current) if current == r.from_sha => {}
            current => {
                return Err(format!(
                    "the group is now at {} in git, not the failing {}",
                    current.unwrap_or("nothing"),
                    r.from_sha
                ));
            }
        }
        match &r.to {
            Some(Target::Sha(sha)) => Ok(sha.clone()),
            Some(Target::Prefix(p)) => history::resolve_prefix(&history, p)
                .map(str::to_owned)
                .ok_or_else(|| format!("no deploy tag of the group has a sha starting {p}")),
            None => Err("no healthy sha known".to_owned()),
        }
    }

    fn me(&self) -> String {
        self.deps.leadership.borrow().me.clone()
    }

    fn event(&self, service: &str, instance: &str, message: String) {
        (self.deps.events)(ApplyEvent {
            service: service.to_owned(),
            instance: instance.to_owned(),
            level: "event",
            message,
        });
    }
}

/// Runs `roller` after every pass on `passes`; ends when the reconciler's channel closes (the
/// composition root awaits it on shutdown, so a tag push in hand is finished).
pub async fn run<S: SensuSink>(
    mut roller: Roller<S>,
    mut passes: watch::Receiver<Option<Arc<PassRecord>>>,
) {
    while passes.changed().await.is_ok() {
        let Some(record) = passes.borrow_and_update().clone() else {
            continue;
        };
        roller.after_pass(&record).await;
    }
}
