//! After every reconcile pass: replication checks (PaaSTA's
//! check_marathon_services_replication), setup_marathon_job status events, Sensu alerts with
//! recovery and removal OKs, the deploy-log "Replication:" lines, and Prometheus metrics — all
//! from the pass's snapshot, never from extra Marathon calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use galley_common::branch_state::branch_state;
use galley_common::monitoring::{CheckKind, MonitoringSources, Status};
use galley_common::replication::{
    CheckTarget, EvidenceConfig, MarathonObservation, NamespaceMember, check_marathon_instance,
    expected_count, is_bouncing,
};
use galley_common::soa::InstanceKind;

use crate::apply::ApplyEvent;
use crate::desired::{InstanceIssue, ServiceEntry};
use crate::metrics::Metrics;
use crate::reconciler::{EventSink, PassRecord, PassStatus};
use crate::sensu::{AlertTracker, SensuSink};

/// One instance's replication result, kept for read APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReplication {
    /// Healthy tasks older than a minute.
    pub available: u64,
    /// Expected (summed per nerve_ns).
    pub expected: u64,
    /// OK / CRITICAL.
    pub status: Status,
    /// PaaSTA's text plus "What Galley sees" evidence.
    pub output: String,
    /// More than one app version exists.
    pub bouncing: bool,
}

/// Monitoring state across passes.
pub struct Monitor<S: SensuSink> {
    cluster: String,
    alerts: AlertTracker<S>,
    metrics: Arc<Metrics>,
    events: EventSink,
}

impl<S: SensuSink> Monitor<S> {
    /// A monitor for `cluster`.
    pub fn new(cluster: String, sink: S, metrics: Arc<Metrics>, events: EventSink) -> Self {
        Self {
            cluster,
            alerts: AlertTracker::new(sink),
            metrics,
            events,
        }
    }

    /// Processes one finished pass. Returns the replication results by instance.
    pub async fn observe(
        &mut self,
        record: &PassRecord,
        now: DateTime<Utc>,
    ) -> BTreeMap<(String, String), InstanceReplication> {
        self.metrics
            .pass_finished(outcome_label(&record.status), record.duration);
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
        let mut results = BTreeMap::new();
        for (service, entry) in &snapshot.desired.services {
            self.check_service(service, entry, record, now, &mut results)
                .await;
        }
        self.metrics.record_replication(
            results
                .iter()
                .map(|((s, i), r)| (s.clone(), i.clone(), r.status != Status::Ok)),
        );
        self.metrics.record_bounces(
            results
                .iter()
                .map(|((s, i), r)| (s.clone(), i.clone(), r.bouncing)),
        );
        let configured: BTreeSet<(String, String)> = snapshot.desired.desired.configured.clone();
        let services = snapshot.desired.services.clone();
        let cluster = self.cluster.clone();
        self.alerts
            .retain_instances(
                &configured,
                |svc| {
                    services.get(svc).and_then(|e| {
                        MonitoringSources::for_instance_removed(&e.source, &e.config.general).ok()
                    })
                },
                &cluster,
            )
            .await;
        results
    }

    async fn check_service(
        &mut self,
        service: &str,
        entry: &ServiceEntry,
        record: &PassRecord,
        now: DateTime<Utc>,
        results: &mut BTreeMap<(String, String), InstanceReplication>,
    ) {
        let Some(deployments) = &entry.deployments else {
            return;
        }; // PaaSTA skips silently
        let names = entry
            .config
            .instance_names(&self.cluster, InstanceKind::Marathon);
        let configs: Vec<_> = names
            .iter()
            .filter_map(|i| {
                entry
                    .config
                    .instance(&self.cluster, InstanceKind::Marathon, i)
                    .ok()
            })
            .collect();
        let members: Vec<NamespaceMember> = configs
            .iter()
            .filter_map(|c| {
                let state = branch_state(Some(deployments), c).ok()?.desired_state;
                NamespaceMember::from_config(c, state, None).ok()
            })
            .collect();
        for config in &configs {
            let key = (service.to_string(), config.instance.clone());
            let Ok(target) = CheckTarget::from_config(config) else {
                continue;
            };
            let Ok(nerve_ns) = config.nerve_ns() else {
                continue;
            };
            let sources =
                MonitoringSources::for_instance(config, &entry.source, &entry.config.general).ok();
            let expected = expected_count(&members, &nerve_ns);
            let observation = MarathonObservation {
                apps: &record.snapshot.apps,
                now,
                queue: &[],
            };
            let report =
                check_marathon_instance(&target, expected, observation, &EvidenceConfig::default());
            let bouncing = is_bouncing(&record.snapshot.apps, &target.short_app_id());
            let output = report.alert_output();
            self.send(
                CheckKind::Replication,
                &key,
                report.status,
                &output,
                sources.as_ref(),
            )
            .await;
            (self.events)(ApplyEvent {
                service: key.0.clone(),
                instance: key.1.clone(),
                level: "debug",
                message: format!("Replication: {}", report.output),
            });
            let (setup_status, setup_output) = match record.snapshot.desired.issues.get(&key) {
                None | Some(InstanceIssue::NoDeployments) => {
                    (Status::Ok, "Service deployed.".to_string())
                }
                Some(InstanceIssue::NotDeployed(msg) | InstanceIssue::Invalid(msg)) => {
                    (Status::Critical, msg.clone())
                }
            };
            self.send(
                CheckKind::SetupMarathonJob,
                &key,
                setup_status,
                &setup_output,
                sources.as_ref(),
            )
            .await;
            results.insert(
                key,
                InstanceReplication {
                    available: report.available,
                    expected: report.expected,
                    status: report.status,
                    output,
                    bouncing,
                },
            );
        }
    }

    async fn send(
        &mut self,
        kind: CheckKind,
        key: &(String, String),
        status: Status,
        output: &str,
        sources: Option<&MonitoringSources>,
    ) {
        let settings = sources.and_then(|s| s.resolve(kind, &self.cluster));
        if let Err(e) = self
            .alerts
            .report(kind, &key.0, &key.1, status, output, settings.as_ref())
            .await
        {
            tracing::warn!(service = %key.0, instance = %key.1, error = %crate::error_chain::ErrorChain(&e), "sensu event not delivered");
        }
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

/// Replication results of the latest pass, by instance.
pub type ReplicationView = Arc<BTreeMap<(String, String), InstanceReplication>>;

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
            let results = monitor.observe(&record, clock()).await;
            tx.send_replace(Arc::new(results));
        }
    });
    rx
}
