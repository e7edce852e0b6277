//! The operator API's read model: one immutable [`View`] per reconcile pass, built by a task
//! that follows the reconciler's status channel, so read RPCs answer from memory (never a
//! Marathon call) in time proportional to what they return.
//!
//! Building is O(apps · log apps + instances): apps are sorted by id once, and every
//! instance's apps are a contiguous range of that order (its ids share the `/<svc>.<inst>.`
//! prefix). Apply failures are remembered across passes (an instance in backoff is not applied
//! in the next pass, but its last error still shows).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use galley_common::observed::ObservedApp;
use galley_common::replication::{
    CheckTarget, EvidenceConfig, MarathonObservation, check_marathon_instance,
};
use galley_proto::v1 as pb;
use tokio::sync::watch;

use crate::apply::InstanceOutcome;
use crate::desired::InstanceIssue;
use crate::plan::{DesiredInstance, InstancePlan};
use crate::reconciler::{PassRecord, PassStatus};

use super::convert;

/// PaaSTA's default `replication_threshold` (percent), used for the on-demand report.
pub const DEFAULT_REPLICATION_THRESHOLD: f64 = 50.0;

/// `(service, instance)`.
pub type Key = (String, String);

/// Everything the read RPCs serve, as of one pass.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The pass (0 before the first).
    pub generation: u64,
    /// Its summary.
    pub pass: Option<pb::PassSummary>,
    /// Every configured instance, sorted by (service, instance); pause/freeze not filled in.
    pub instances: Vec<pb::InstanceStatus>,
    /// Position of each instance in `instances`.
    pub index: HashMap<Key, usize>,
    /// Replication of every planned instance, in `instances` order.
    pub replication: Vec<pb::ReplicationEntry>,
    /// The pass's plan (per-instance `held_because` not filled in).
    pub plan: pb::GetPlanResponse,
}

impl View {
    /// The instance at `key`.
    pub fn instance(&self, service: &str, instance: &str) -> Option<&pb::InstanceStatus> {
        self.index
            .get(&(service.to_owned(), instance.to_owned()))
            .map(|&i| &self.instances[i])
    }

    /// Whether any instance of `service` is configured.
    pub fn has_service(&self, service: &str) -> bool {
        let range = self.service_range(service);
        !range.is_empty()
    }

    /// The index range of `service`'s instances.
    pub fn service_range(&self, service: &str) -> std::ops::Range<usize> {
        let lo = self
            .instances
            .partition_point(|i| i.service.as_str() < service);
        let hi = lo + self.instances[lo..].partition_point(|i| i.service == service);
        lo..hi
    }
}

/// Builds views from pass records, remembering the last apply error of each instance.
#[derive(Debug, Default)]
pub struct ViewBuilder {
    cluster: String,
    last_errors: BTreeMap<Key, String>,
}

impl ViewBuilder {
    /// A builder for `cluster` (named in replication texts).
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            last_errors: BTreeMap::new(),
        }
    }

    /// The view after `record`. A pass that could not read its inputs keeps the instances of
    /// `previous` (what was last known) and only updates the pass summary.
    pub fn next(&mut self, record: &PassRecord, previous: &View) -> View {
        if is_failed(&record.status) && previous.generation > 0 {
            let mut view = previous.clone();
            view.pass = Some(convert::pass_summary(record));
            return view;
        }
        self.build(record)
    }

    /// The view of `record`.
    pub fn build(&mut self, record: &PassRecord) -> View {
        let snap = &record.snapshot;
        if let Some(report) = &snap.apply {
            for (key, outcome) in &report.instances {
                match outcome {
                    InstanceOutcome::Failed { error } => {
                        self.last_errors.insert(key.clone(), error.clone());
                    }
                    InstanceOutcome::Done { .. } => {
                        self.last_errors.remove(key);
                    }
                    InstanceOutcome::Waiting { .. } | InstanceOutcome::OverBudget => {}
                }
            }
        }
        let mut apps: Vec<&ObservedApp> = snap.apps.iter().collect();
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        let sorted_owned: Vec<ObservedApp> = apps.iter().map(|a| (*a).clone()).collect();
        let plans: HashMap<Key, &InstancePlan> = snap
            .plan
            .instances
            .iter()
            .map(|p| ((p.service.clone(), p.instance.clone()), p))
            .collect();
        let desired: HashMap<Key, &DesiredInstance> = snap
            .desired
            .desired
            .instances
            .iter()
            .map(|d| ((d.service.clone(), d.instance.clone()), d))
            .collect();
        let mut keys: Vec<Key> = snap.desired.desired.configured.iter().cloned().collect();
        keys.extend(desired.keys().cloned());
        keys.sort();
        keys.dedup();

        let now = Utc::now();
        let evidence = EvidenceConfig::default();
        let mut instances = Vec::with_capacity(keys.len());
        let mut replication = Vec::with_capacity(desired.len());
        for key in &keys {
            let d = desired.get(key).copied();
            let short = galley_common::app_id::short_id(&key.0, &key.1);
            let own = prefix_range(&sorted_owned, &format!("/{short}."));
            let mut status = convert::instance_status(
                key,
                d,
                plans.get(key).copied(),
                &sorted_owned[own],
                record.generation,
            );
            status.last_error = self
                .last_errors
                .get(key)
                .cloned()
                .or_else(|| snap.desired.issues.get(key).map(issue_text))
                .or_else(|| snap.desired.service_errors.get(&key.0).cloned())
                .unwrap_or_default();
            if let Some(d) = d {
                // PaaSTA's prefix quirk: `/svc.main` also counts `/svc.main2`.
                let quirk = prefix_range(&sorted_owned, &format!("/{short}"));
                let target = CheckTarget {
                    service: key.0.clone(),
                    instance: key.1.clone(),
                    cluster: self.cluster.clone(),
                    threshold: DEFAULT_REPLICATION_THRESHOLD,
                };
                let observed = MarathonObservation {
                    apps: &sorted_owned[quirk],
                    now,
                    queue: &[],
                };
                let report =
                    check_marathon_instance(&target, u64::from(d.instances), observed, &evidence);
                replication.push(convert::replication_entry(key, &report));
            }
            instances.push(status);
        }
        let index = keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
        View {
            generation: record.generation,
            pass: Some(convert::pass_summary(record)),
            instances,
            index,
            replication,
            plan: convert::plan(&snap.plan, record.generation),
        }
    }
}

/// The range of `apps` (sorted by id) whose ids start with `prefix`.
fn prefix_range(apps: &[ObservedApp], prefix: &str) -> std::ops::Range<usize> {
    let lo = apps.partition_point(|a| a.id.as_str() < prefix);
    let hi = lo + apps[lo..].partition_point(|a| a.id.starts_with(prefix));
    lo..hi
}

fn issue_text(issue: &InstanceIssue) -> String {
    match issue {
        InstanceIssue::NoDeployments => {
            "no deployments.json for this service yet (nothing deployed)".to_owned()
        }
        InstanceIssue::NotDeployed(msg) => format!("not deployed: {msg}"),
        InstanceIssue::Invalid(msg) => format!("invalid config: {msg}"),
    }
}

/// Spawns the task that rebuilds the view after every pass; it ends with the status channel.
pub fn spawn_view_task(
    cluster: &str,
    mut status: watch::Receiver<Option<Arc<PassRecord>>>,
) -> watch::Receiver<Arc<View>> {
    let (tx, rx) = watch::channel(Arc::new(View::default()));
    let mut builder = ViewBuilder::new(cluster);
    tokio::spawn(async move {
        loop {
            let record = status.borrow_and_update().clone();
            if let Some(record) = record {
                let previous = tx.borrow().clone();
                let view = builder.next(&record, &previous);
                tx.send_replace(Arc::new(view));
            }
            if status.changed().await.is_err() || tx.is_closed() {
                break;
            }
        }
    });
    rx
}

/// Whether a pass status means the pass could not read its inputs.
pub fn is_failed(status: &PassStatus) -> bool {
    matches!(
        status,
        PassStatus::FailedReadingSystemConfig(_)
            | PassStatus::FailedReadingMesos(_)
            | PassStatus::FailedReadingMarathon(_)
    )
}
