//! After every reconcile pass: replication checks (PaaSTA's
//! check_marathon_services_replication), setup_marathon_job status events, Sensu alerts with
//! recovery and removal OKs, the deploy-log "Replication:" lines, and Prometheus metrics — from
//! the pass's snapshot, plus what [`sources`] reads at most once per round when needed:
//! Marathon's launch queue for the evidence of under-replicated or bouncing instances
//! ([`Monitor::with_launch_queue`]), and the Mesos slaves and synapse's haproxy for instances
//! whose namespace has a `proxy_port` ([`Monitor::with_smartstack`]; without it those are
//! counted from Marathon's tasks, as for every other instance).

mod prepared;
mod settled;
mod sources;

pub use sources::{LaunchQueue, SlaveList, SmartstackSources};

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use galley_common::monitoring::{CheckKind, MonitoringSources, SensuSettings, Status};
use galley_common::replication::{
    AppIndex, EvidenceConfig, ReplicationReport, gather_evidence, marathon_report,
    smartstack_report,
};

use crate::apply::ApplyEvent;
use crate::desired::{DesiredChange, InstanceIssue, ServiceWatch};
use crate::metrics::Metrics;
use crate::reconciler::{ActivationReason, EventSink, PassRecord, PassStatus};
use crate::sensu::{AlertTracker, SensuSink, Transition};
use galley_common::observed::prefix_range;
use prepared::{Prepared, PreparedCache};
use settled::SettledChecks;
use sources::Round;

/// One instance's replication result, kept for read APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReplication {
    /// Healthy tasks older than a minute (smartstack: UP haproxy backends over all locations).
    pub available: u64,
    /// Expected (summed per nerve_ns).
    pub expected: u64,
    /// OK / CRITICAL.
    pub status: Status,
    /// PaaSTA's text plus "What Galley sees" evidence (shared by the passes that reuse it).
    pub output: Arc<str>,
    /// More than one app version exists.
    pub bouncing: bool,
}

/// Monitoring state across passes.
pub struct Monitor<S: SensuSink> {
    cluster: String,
    alerts: AlertTracker<S>,
    metrics: Arc<Metrics>,
    events: EventSink,
    queue: Option<Arc<dyn LaunchQueue>>,
    smartstack: Option<SmartstackSources>,
    /// This pass is a round (periodic or first): unchanged events are sent again.
    resend: bool,
    /// Each service's instances as its checks need them, by service entry.
    prepared: PreparedCache,
    /// The services of the desired state last checked, to tell which ones a new one changed.
    services_seen: ServiceWatch,
    /// Instances whose checks need not run again until an input changes.
    settled: SettledChecks,
}

/// PaaSTA's keepalive text for a steady instance.
pub const BOUNCE_STEADY_OUTPUT: &str = "The bounce is in a steady state";

/// What one service's checks need from the round.
struct ServiceRound<'a> {
    prepared: &'a [Prepared],
    /// The pass's apps, sorted by id.
    apps: &'a [Arc<galley_common::observed::ObservedApp>],
    record: &'a PassRecord,
    now: DateTime<Utc>,
    desired_apps: &'a BTreeMap<(&'a str, &'a str), &'a str>,
    index: &'a AppIndex<'a>,
}

impl<S: SensuSink> Monitor<S> {
    /// A monitor for `cluster`.
    pub fn new(cluster: String, sink: S, metrics: Arc<Metrics>, events: EventSink) -> Self {
        Self {
            cluster,
            alerts: AlertTracker::new(sink),
            metrics,
            events,
            queue: None,
            resend: true,
            smartstack: None,
            prepared: PreparedCache::default(),
            services_seen: ServiceWatch::default(),
            settled: SettledChecks::default(),
        }
    }

    /// Reads Marathon's launch queue (once per round, only when an instance is under-replicated
    /// or bouncing) for backoff and capacity evidence.
    pub fn with_launch_queue(mut self, queue: Arc<dyn LaunchQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Counts instances whose namespace has a `proxy_port` from synapse's haproxy per discover
    /// location (spec §5.2) instead of from Marathon's tasks.
    pub fn with_smartstack(mut self, sources: SmartstackSources) -> Self {
        self.smartstack = Some(sources);
        self
    }

    /// Instances whose results the last pass reused from a settled check (see `settled.rs`).
    pub fn checks_reused(&self) -> usize {
        self.settled.last_reused
    }

    /// Processes one finished pass. Returns the replication results by instance.
    pub async fn observe(&mut self, record: &PassRecord, now: DateTime<Utc>) -> Results {
        self.metrics.pass_finished(
            outcome_label(&record.status),
            record.reason.label(),
            record.duration,
        );
        if let Some(apply) = &record.snapshot.apply {
            self.metrics.count_app_n("created", apply.created);
            self.metrics
                .count_app_n("bounced_deleted", apply.bounced_deleted);
            self.metrics.count_app_n("deleted", apply.deleted.len());
            self.metrics
                .count_tasks("killed", apply.tasks_killed as u64);
        }
        if matches!(
            record.status,
            PassStatus::FailedReadingMarathon(_)
                | PassStatus::FailedReadingMesos(_)
                | PassStatus::FailedReadingSystemConfig(_)
        ) {
            return BTreeMap::new(); // no fresh view: no alerts either way
        }
        let snapshot = &record.snapshot;
        // PaaSTA's crons ran on a cadence and Sensu counts their events; passes driven by
        // events, files or operators only send what changed.
        self.resend = matches!(
            record.reason,
            ActivationReason::Periodic | ActivationReason::Startup
        );
        let mut results = BTreeMap::new();
        let mut round = Round::default();
        // Borrowed: a pass allocates nothing per instance to look its desired app up.
        let desired_apps: BTreeMap<(&str, &str), &str> = snapshot
            .desired
            .desired
            .instances
            .iter()
            .map(|d| ((d.service.as_str(), d.instance.as_str()), d.app_id.as_str()))
            .collect();
        // Built once per pass: each instance's apps are a binary search, not a cluster scan.
        let index = AppIndex::new(&snapshot.apps);
        let change = self.services_seen.changes(&snapshot.desired);
        self.settled.start(&change);
        for (service, entry) in &snapshot.desired.services {
            let prepared = self.prepared.get(service, entry, &self.cluster);
            let ctx = ServiceRound {
                prepared: &prepared,
                apps: &snapshot.apps,
                record,
                now,
                desired_apps: &desired_apps,
                index: &index,
            };
            self.check_service(ctx, &mut round, &mut results).await;
        }
        let services = &snapshot.desired.services;
        self.prepared.retain(|s| services.contains_key(s));
        tracing::debug!(
            reused = self.settled.last_reused,
            checked = results.len() - self.settled.last_reused,
            "monitor: settled instances reused"
        );
        self.metrics
            .record_replication(results.iter().map(|(k, r)| (k, r.status != Status::Ok)));
        self.metrics
            .record_bounces(results.iter().map(|(k, r)| (k, r.bouncing)));
        // Checks are only reported for configured instances, so the tracked ones can only
        // leave the configured set when their service changed.
        if let DesiredChange::Services(changed) = &change {
            let services = &snapshot.desired.services;
            self.alerts
                .retain_instances(
                    changed,
                    &snapshot.desired.desired.configured,
                    |svc| {
                        let e = services.get(svc)?;
                        MonitoringSources::for_instance_removed(&e.source, &e.config()?.general)
                            .ok()
                    },
                    &self.cluster,
                )
                .await;
        }
        results
    }

    async fn check_service(
        &mut self,
        ctx: ServiceRound<'_>,
        round: &mut Round,
        results: &mut Results,
    ) {
        let ServiceRound {
            prepared,
            apps: all_apps,
            record,
            now,
            desired_apps,
            index,
        } = ctx;
        let mut prefix = String::new();
        for p in prepared {
            let key = &p.key;
            p.write_count_prefix(&mut prefix);
            let short = &prefix[1..];
            let counted = &all_apps[prefix_range(all_apps, &prefix)];
            if !self.resend
                && let Some(result) = self.settled.reuse(key, counted)
            {
                results.insert(key.clone(), result.clone());
                continue;
            }
            let mut quiet = true;
            let mut replication = None;
            let from_marathon = !self.counts_from_haproxy(p);
            let bouncing = index.is_bouncing(short);
            let report = self.replication(p, short, index, now, round).await;
            if let Some(report) = report {
                let output = report.alert_output();
                let settings = p.settings(CheckKind::Replication);
                let sent = self
                    .send(
                        CheckKind::Replication,
                        key,
                        report.status,
                        &output,
                        settings,
                    )
                    .await;
                quiet &= !sent.is_loud();
                if sent.is_sent() {
                    (self.events)(ApplyEvent {
                        service: key.0.clone(),
                        instance: key.1.clone(),
                        level: "debug",
                        message: format!("Replication: {}", report.output),
                    });
                }
                replication = Some(InstanceReplication {
                    available: report.available,
                    expected: report.expected,
                    status: report.status,
                    output: output.into(),
                    bouncing,
                });
            }
            let (setup_status, setup_output) = match record.snapshot.desired.issues.get(key) {
                None | Some(InstanceIssue::NoDeployments) => (Status::Ok, "Service deployed."),
                Some(InstanceIssue::NotDeployed(msg) | InstanceIssue::Invalid(msg)) => {
                    (Status::Critical, msg.as_str())
                }
            };
            let settings = p.settings(CheckKind::SetupMarathonJob);
            quiet &= !self
                .send(
                    CheckKind::SetupMarathonJob,
                    key,
                    setup_status,
                    setup_output,
                    settings,
                )
                .await
                .is_loud();
            // PaaSTA's setup_marathon_job sent this keepalive on every run where the instance
            // was steady (its desired app the only one) and none while it bounced, so a bounce
            // stuck for longer than the check's ttl (1 h) raises Sensu's stale-check alarm.
            let steady = desired_apps
                .get(&(key.0.as_str(), key.1.as_str()))
                .is_some_and(|want| {
                    let apps = index.instance_apps(short);
                    matches!(apps[..], [only] if only.id.trim_start_matches('/') == want.trim_start_matches('/'))
                });
            if steady {
                let settings = p.settings(CheckKind::BounceProgress);
                quiet &= !self
                    .send(
                        CheckKind::BounceProgress,
                        key,
                        Status::Ok,
                        BOUNCE_STEADY_OUTPUT,
                        settings,
                    )
                    .await
                    .is_loud();
            }
            match replication {
                Some(result) => {
                    self.settled
                        .record(key, counted, &result, quiet && from_marathon, now);
                    results.insert(key.clone(), result);
                }
                None => self.settled.forget(key),
            }
        }
    }

    /// Whether `p`'s replication is counted from synapse's haproxy (which changes without
    /// Marathon's apps changing) rather than from Marathon's tasks.
    fn counts_from_haproxy(&self, p: &Prepared) -> bool {
        self.smartstack.is_some() && p.namespace.is_some()
    }

    /// One instance's replication report with its evidence; `None` when no event is due
    /// (smartstack instance announced under another namespace, as PaaSTA) or its haproxy view
    /// could not be read this round.
    async fn replication(
        &self,
        p: &Prepared,
        short: &str,
        apps: &AppIndex<'_>,
        now: DateTime<Utc>,
        round: &mut Round,
    ) -> Option<ReplicationReport> {
        let target = &p.target(&self.cluster);
        let report = match (&self.smartstack, &p.namespace) {
            (Some(smartstack), Some(ns)) => {
                let Some(locations) = round
                    .locations(smartstack, &self.metrics, ns.discover(), &p.blacklist)
                    .await
                else {
                    tracing::warn!(service = %target.service, instance = %target.instance, "no smartstack view this round; replication not checked");
                    return None;
                };
                smartstack_report(target, p.nerve_ns(), p.expected, &locations)?
            }
            _ => marathon_report(target, p.expected, apps.healthy_task_count(short, now)),
        };
        let bouncing = apps.is_bouncing(short);
        if !report.is_under_replicated() && !bouncing {
            return Some(report);
        }
        let queue = round.queue(self.queue.as_deref(), &self.metrics).await;
        let evidence = gather_evidence(
            &apps.instance_apps(short),
            now,
            &EvidenceConfig::default(),
            queue,
        );
        Some(report.with_evidence(bouncing, evidence))
    }

    /// Reports one check.
    async fn send(
        &mut self,
        kind: CheckKind,
        key: &Arc<(String, String)>,
        status: Status,
        output: &str,
        settings: Option<&Arc<SensuSettings>>,
    ) -> Sent {
        let resend = self.resend;
        match self
            .alerts
            .report_keyed(kind, key, status, output, settings, resend)
            .await
        {
            Ok(Transition::Quiet) => Sent::Quiet,
            Ok(Transition::Unchanged) if resend => Sent::Resent,
            Ok(_) => Sent::New,
            Err(e) => {
                tracing::warn!(service = %key.0, instance = %key.1, error = %crate::error_chain::ErrorChain(&e), "sensu event not delivered");
                Sent::New
            }
        }
    }
}

/// What reporting one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Unchanged and not due: nothing sent.
    Quiet,
    /// Unchanged, sent again because the pass is a round.
    Resent,
    /// A new status or output, or a delivery that failed (tried again next pass).
    New,
}

impl Sent {
    /// Whether an event went out (or failed to).
    fn is_sent(self) -> bool {
        self != Sent::Quiet
    }

    /// Whether it was news: the check must run again next pass.
    fn is_loud(self) -> bool {
        self == Sent::New
    }
}

fn outcome_label(status: &PassStatus) -> &'static str {
    match status {
        PassStatus::UpToDate => "up_to_date",
        PassStatus::Progressing { .. } => "progressing",
        PassStatus::Applied { failed: 0, .. } => "applied",
        PassStatus::Applied { .. } => "partially_failed",
        PassStatus::DryRun { .. } => "dry_run",
        PassStatus::Frozen { .. } => "frozen",
        PassStatus::Follower { .. } => "follower",
        PassStatus::LeaderGrace { .. } => "leader_grace",
        PassStatus::LostLeadership => "lost_leadership",
        PassStatus::FailedReadingSystemConfig(_) => "failed_system_config",
        PassStatus::FailedReadingMesos(_) => "failed_mesos",
        PassStatus::FailedReadingMarathon(_) => "failed_marathon",
    }
}

/// One pass's replication results, by instance (the keys are the monitor's own, shared by
/// every pass: a pass copies no names).
pub type Results = BTreeMap<Arc<(String, String)>, InstanceReplication>;

/// Replication results of the latest pass, by instance.
pub type ReplicationView = Arc<Results>;

/// Runs `monitor` after every pass published on `passes`; the latest results are published on
/// the returned channel (for read APIs). Ends when the reconciler's channel closes.
pub fn spawn<S: SensuSink>(
    mut monitor: Monitor<S>,
    mut passes: tokio::sync::watch::Receiver<Option<Arc<PassRecord>>>,
    clock: crate::reconciler::Clock,
) -> tokio::sync::watch::Receiver<ReplicationView> {
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(BTreeMap::new()));
    tokio::spawn(async move {
        while passes.changed().await.is_ok() {
            let Some(record) = passes.borrow_and_update().clone() else {
                continue;
            };
            let round = matches!(
                record.reason,
                ActivationReason::Periodic | ActivationReason::Startup
            );
            let results = monitor.observe(&record, clock()).await;
            tx.send_replace(Arc::new(results));
            if round {
                // A round checked and re-sent every instance: give the heap its work freed
                // back now, not at the next timed trim (see `runtime::trim`).
                let _ = tokio::task::spawn_blocking(crate::runtime::trim_heap).await;
            }
        }
    });
    rx
}
