//! The operator API's read model: one immutable [`View`] per reconcile pass, built by a task
//! that follows the reconciler's status channel, so read RPCs answer from memory (never a
//! Marathon call) in time proportional to what they return.
//!
//! A view holds the pass's record (shared, not copied) and an index of its instances; an
//! instance's status is worked out when a read asks for it. Building is O(apps · log apps +
//! instances) and holds a few dozen bytes per instance: at 50,000 instances, statuses built in
//! advance would cost ~1.3 KB each and a pass's worth of CPU, for reads that mostly look at
//! one service. Every instance's apps are a contiguous range of the apps sorted by id (its
//! ids share the `/<svc>.<inst>.` prefix). Apply failures are remembered across passes (an
//! instance in backoff is not applied in the next pass, but its last error still shows).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use galley_common::observed::{AppSnapshot, prefix_range};
use galley_common::replication::{
    CheckTarget, EvidenceConfig, MarathonObservation, QueueSignal, check_marathon_instance,
};
use galley_proto::v1 as pb;
use tokio::sync::watch;

use crate::apply::InstanceOutcome;
use crate::desired::{DesiredReport, InstanceIssue};
use crate::monitor::LaunchQueue;
use crate::plan::DesiredInstance;
use crate::reconciler::{PassRecord, PassStatus};
use crate::rollback::RollbackPolicy;

use super::convert;

/// How `last_error` starts for an instance whose config is invalid (it cannot be planned
/// until someone fixes it).
pub const INVALID_CONFIG: &str = "invalid config";

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
    /// What statuses are worked out from; `None` before the first pass.
    source: Option<Arc<Source>>,
}

/// One pass's inputs and outcome, indexed by instance.
#[derive(Debug)]
struct Source {
    record: PassRecord,
    /// The pass's apps sorted by id (the pass's own `Arc` when they came sorted).
    apps: AppSnapshot,
    /// Every configured instance, sorted by (service, instance).
    keys: Arc<Vec<Key>>,
    /// Per key: its position in the desired instances and in the plan.
    desired_at: Arc<Vec<Option<u32>>>,
    plan_at: Vec<Option<u32>>,
    queue: Vec<QueueSignal>,
    /// Last apply error per instance, as of this pass.
    last_errors: BTreeMap<Key, String>,
    cluster: String,
    rollback_default: RollbackPolicy,
    /// When the view was built: replication is judged at this instant.
    now: DateTime<Utc>,
}

impl View {
    /// The pass's plan (per-instance `held_because` not filled in).
    pub fn plan(&self) -> pb::GetPlanResponse {
        match &self.source {
            Some(s) => convert::plan(&s.record.snapshot.plan, self.generation),
            None => pb::GetPlanResponse::default(),
        }
    }

    /// Configured instances.
    pub fn len(&self) -> usize {
        self.source.as_ref().map_or(0, |s| s.keys.len())
    }

    /// Whether no instance is configured (or no pass ran yet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `(service, instance)` at position `i` of the sorted instances.
    pub fn key(&self, i: usize) -> Option<&Key> {
        self.source.as_ref()?.keys.get(i)
    }

    /// The position of an instance in the sorted instances.
    fn position(&self, service: &str, instance: &str) -> Option<usize> {
        let keys = &self.source.as_ref()?.keys;
        keys.binary_search_by(|(s, i)| (s.as_str(), i.as_str()).cmp(&(service, instance)))
            .ok()
    }

    /// The position of the first instance at or after `(service, instance)`.
    pub fn lower_bound(&self, service: &str, instance: &str) -> usize {
        self.source.as_ref().map_or(0, |source| {
            source
                .keys
                .partition_point(|(s, i)| (s.as_str(), i.as_str()) < (service, instance))
        })
    }

    /// Whether `service.instance` is configured.
    pub fn has_instance(&self, service: &str, instance: &str) -> bool {
        self.position(service, instance).is_some()
    }

    /// The status of `service.instance` (pause and freeze not filled in).
    pub fn instance(&self, service: &str, instance: &str) -> Option<pb::InstanceStatus> {
        self.instance_at(self.position(service, instance)?)
    }

    /// The status of the instance at position `i` (pause and freeze not filled in).
    pub fn instance_at(&self, i: usize) -> Option<pb::InstanceStatus> {
        let source = self.source.as_ref()?;
        (i < source.keys.len()).then(|| source.status(i, self.generation))
    }

    /// Whether any instance of `service` is configured.
    pub fn has_service(&self, service: &str) -> bool {
        !self.service_range(service).is_empty()
    }

    /// The index range of `service`'s instances.
    pub fn service_range(&self, service: &str) -> std::ops::Range<usize> {
        let Some(source) = &self.source else {
            return 0..0;
        };
        let keys = &source.keys;
        let lo = keys.partition_point(|(s, _)| s.as_str() < service);
        let hi = lo + keys[lo..].partition_point(|(s, _)| s == service);
        lo..hi
    }

    /// Replication of every planned instance (of `service` only, when given), in instance
    /// order.
    pub fn replication(&self, service: Option<&str>) -> Vec<pb::ReplicationEntry> {
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let range = match service {
            Some(s) => self.service_range(s),
            None => 0..source.keys.len(),
        };
        range
            .filter_map(|i| {
                let d = source.desired(i)?;
                Some(source.replication(&source.keys[i], d))
            })
            .collect()
    }
}

impl Source {
    fn desired(&self, i: usize) -> Option<&DesiredInstance> {
        let at = self.desired_at[i]? as usize;
        self.record
            .snapshot
            .desired
            .desired
            .instances
            .get(at)
            .map(|d| &**d)
    }

    /// The status of the instance at `i`.
    fn status(&self, i: usize, generation: u64) -> pb::InstanceStatus {
        let snap = &self.record.snapshot;
        let key = &self.keys[i];
        let d = self.desired(i);
        let plan =
            self.plan_at[i].and_then(|at| snap.plan.instances.get(at as usize).map(|p| &**p));
        let short = galley_common::app_id::short_id(&key.0, &key.1);
        let own = prefix_range(&self.apps, &format!("/{short}."));
        let mut status =
            convert::instance_status(key, d, plan, &self.apps[own], generation, self.now);
        let apply_error = self.last_errors.get(key);
        status.last_error = apply_error
            .cloned()
            .or_else(|| snap.desired.issues.get(key).map(issue_text))
            .or_else(|| snap.desired.service_errors.get(&key.0).cloned())
            .unwrap_or_default();
        status.backoff = backoff(apply_error, d, &self.queue);
        (status.deploy_group, status.bounce_failure) =
            config_fields_of(&snap.desired, self.rollback_default, key);
        if let Some(d) = d {
            status.replication = Some(self.replication(key, d));
        }
        status
    }

    /// Replication of a planned instance at the view's instant.
    fn replication(&self, key: &Key, d: &DesiredInstance) -> pb::ReplicationEntry {
        // PaaSTA's prefix quirk: `/svc.main` also counts `/svc.main2`.
        let short = galley_common::app_id::short_id(&key.0, &key.1);
        let quirk = prefix_range(&self.apps, &format!("/{short}"));
        let target = CheckTarget {
            service: key.0.clone(),
            instance: key.1.clone(),
            cluster: self.cluster.clone(),
            threshold: DEFAULT_REPLICATION_THRESHOLD,
        };
        let observed = MarathonObservation {
            apps: &self.apps[quirk],
            now: self.now,
            queue: &self.queue,
        };
        let evidence = EvidenceConfig::default();
        let report = check_marathon_instance(&target, u64::from(d.instances), observed, &evidence);
        convert::replication_entry(key, &report)
    }
}

/// What the view reads besides the pass records.
#[derive(Clone, Default)]
pub struct ViewSources {
    /// Marathon's launch queue, read once per pass when an instance bounces or lacks happy
    /// tasks (backoff and capacity evidence); none: views without it.
    pub launch_queue: Option<Arc<dyn LaunchQueue>>,
    /// The `rollback:` default policy (shown per instance).
    pub rollback_default: RollbackPolicy,
}

/// Builds views from pass records, remembering the last apply error of each instance.
#[derive(Debug, Default)]
pub struct ViewBuilder {
    cluster: String,
    rollback_default: RollbackPolicy,
    last_errors: BTreeMap<Key, String>,
    /// The instance keys of the last desired state and where each is in its instances: a new
    /// pass on the same desired state (`Arc`) reuses them.
    keyed: Option<Keyed>,
    keyed_for: crate::desired::LastDesired,
}

#[derive(Debug)]
struct Keyed {
    keys: Arc<Vec<Key>>,
    desired_at: Arc<Vec<Option<u32>>>,
}

impl ViewBuilder {
    /// A builder for `cluster` (named in replication texts).
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            rollback_default: RollbackPolicy::default(),
            last_errors: BTreeMap::new(),
            keyed: None,
            keyed_for: Default::default(),
        }
    }

    /// Shows `policy` for instances whose config sets no rollback keys.
    pub fn with_rollback_default(mut self, policy: RollbackPolicy) -> Self {
        self.rollback_default = policy;
        self
    }

    /// The view after `record` (`queue`: the launch queue read after it, possibly empty). A
    /// pass that could not read its inputs keeps the instances of `previous` (what was last
    /// known) and only updates the pass summary.
    pub fn next(&mut self, record: &PassRecord, previous: &View, queue: &[QueueSignal]) -> View {
        if is_failed(&record.status) && previous.generation > 0 {
            let mut view = previous.clone();
            view.pass = Some(convert::pass_summary(record));
            return view;
        }
        self.build_with_queue(record, queue)
    }

    /// The view of `record`.
    pub fn build(&mut self, record: &PassRecord) -> View {
        self.build_with_queue(record, &[])
    }

    /// Every instance key of `desired` (configured or desired), sorted, and where each is in
    /// its desired instances; worked out once per desired state.
    fn keys_of(
        &mut self,
        desired: &Arc<crate::desired::DesiredReport>,
    ) -> (Arc<Vec<Key>>, Arc<Vec<Option<u32>>>) {
        if !self.keyed_for.changed_to(desired)
            && let Some(k) = &self.keyed
        {
            return (k.keys.clone(), k.desired_at.clone());
        }
        let instances = &desired.desired.instances;
        let mut keys: Vec<Key> = desired.desired.configured.iter().cloned().collect();
        keys.extend(
            instances
                .iter()
                .map(|d| (d.service.clone(), d.instance.clone())),
        );
        keys.sort();
        keys.dedup();
        let desired_at = positions(
            &keys,
            instances
                .iter()
                .map(|d| (d.service.as_str(), d.instance.as_str())),
        );
        let keyed = self.keyed.insert(Keyed {
            keys: Arc::new(keys),
            desired_at: Arc::new(desired_at),
        });
        (keyed.keys.clone(), keyed.desired_at.clone())
    }

    /// The view of `record`, with Marathon's launch queue for backoff and evidence.
    pub fn build_with_queue(&mut self, record: &PassRecord, queue: &[QueueSignal]) -> View {
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
        // A pass's apps come sorted by id (the snapshot is shared); anything else is a copy.
        let apps = match galley_common::observed::sorted_by_id(&snap.apps) {
            std::borrow::Cow::Borrowed(_) => snap.apps.clone(),
            std::borrow::Cow::Owned(sorted) => Arc::new(sorted),
        };
        let (keys, desired_at) = self.keys_of(&snap.desired);
        let plan_at = positions(
            &keys,
            snap.plan
                .instances
                .iter()
                .map(|p| (p.service.as_str(), p.instance.as_str())),
        );
        View {
            generation: record.generation,
            pass: Some(convert::pass_summary(record)),
            source: Some(Arc::new(Source {
                record: record.clone(),
                apps,
                keys,
                desired_at,
                plan_at,
                queue: queue.to_vec(),
                last_errors: self.last_errors.clone(),
                cluster: self.cluster.clone(),
                rollback_default: self.rollback_default,
                now: Utc::now(),
            })),
        }
    }
}

/// For each of `keys` (sorted), the position in `items` of the item with that key, if any.
fn positions<'a>(
    keys: &[Key],
    items: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<Option<u32>> {
    let mut at = vec![None; keys.len()];
    for (n, item) in items.enumerate() {
        if let Ok(i) = keys.binary_search_by(|(s, i)| (s.as_str(), i.as_str()).cmp(&item)) {
            at[i] = Some(n as u32);
        }
    }
    at
}

/// `(deploy group, bounce_failure text)` of `key`; empty when its config cannot say.
fn config_fields_of(
    desired: &DesiredReport,
    default: RollbackPolicy,
    key: &Key,
) -> (String, String) {
    let Some(entry) = desired.services.get(&key.0) else {
        return Default::default();
    };
    let Some(Ok(facts)) = entry.facts(&key.1) else {
        return Default::default();
    };
    let group = facts.deploy_group.clone().unwrap_or_default();
    let failure = match &facts.rollback {
        Ok(keys) => match RollbackPolicy::with_keys(*keys, default) {
            p if p.rolls_back() => p.to_string(),
            _ => String::new(),
        },
        Err(e) => format!("invalid, never rolled back: {e}"),
    };
    (group, failure)
}

/// Why the instance is held back: its last apply failed (the reconciler retries it with
/// backoff), or Marathon delays the launches of its desired app.
fn backoff(
    apply_error: Option<&String>,
    desired: Option<&DesiredInstance>,
    queue: &[QueueSignal],
) -> String {
    if let Some(e) = apply_error {
        return format!("the last apply failed, retried with backoff: {e}");
    }
    let Some(d) = desired else {
        return String::new();
    };
    queue
        .iter()
        .find(|q| q.app_id == d.app_id)
        .and_then(|q| {
            let delay = q.delay_seconds.filter(|s| *s > 0)?;
            Some(format!(
                "Marathon backs off launching {}: {} task(s) waiting, next launch in {delay}s",
                d.app_id, q.count
            ))
        })
        .unwrap_or_default()
}

/// Whether the launch queue is worth reading after `record`: an instance has more than one
/// app, or its desired app fewer tasks than wanted (Marathon may be backing off).
pub fn wants_queue(record: &PassRecord) -> bool {
    let snap = &record.snapshot;
    if snap.plan.instances.iter().any(|p| p.bouncing) {
        return true;
    }
    let apps = galley_common::observed::sorted_by_id(&snap.apps);
    let running = |id: &str| -> Option<u32> {
        let at = apps.binary_search_by(|a| a.id.as_str().cmp(id)).ok()?;
        Some(apps[at].tasks_running)
    };
    // A pass's apps are sorted by id: a search per instance, no map of the cluster per pass.
    snap.desired
        .desired
        .instances
        .iter()
        .any(|d| running(&d.app_id).is_some_and(|n| n < d.instances))
}

fn issue_text(issue: &InstanceIssue) -> String {
    match issue {
        InstanceIssue::NoDeployments => {
            "no deployments.json for this service yet (nothing deployed)".to_owned()
        }
        InstanceIssue::NotDeployed(msg) => format!("not deployed: {msg}"),
        InstanceIssue::Invalid(msg) => format!("{INVALID_CONFIG}: {msg}"),
    }
}

/// Spawns the task that rebuilds the view after every pass; it ends with the status channel.
pub fn spawn_view_task(
    cluster: &str,
    mut status: watch::Receiver<Option<Arc<PassRecord>>>,
    sources: ViewSources,
) -> watch::Receiver<Arc<View>> {
    let (tx, rx) = watch::channel(Arc::new(View::default()));
    let mut builder = ViewBuilder::new(cluster).with_rollback_default(sources.rollback_default);
    tokio::spawn(async move {
        loop {
            let record = status.borrow_and_update().clone();
            if let Some(record) = record {
                let queue = read_queue(sources.launch_queue.as_deref(), &record).await;
                let previous = tx.borrow().clone();
                let view = builder.next(&record, &previous, &queue);
                tx.send_replace(Arc::new(view));
            }
            if status.changed().await.is_err() || tx.is_closed() {
                break;
            }
        }
    });
    rx
}

/// The launch queue after `record`, when it is worth reading (empty on failure: the view
/// only loses that evidence).
async fn read_queue(source: Option<&dyn LaunchQueue>, record: &PassRecord) -> Vec<QueueSignal> {
    let Some(source) = source else {
        return Vec::new();
    };
    if is_failed(&record.status) || !wants_queue(record) {
        return Vec::new();
    }
    match source.launch_queue().await {
        Ok(q) => q,
        Err(e) => {
            tracing::debug!(error = %crate::error_chain::ErrorChain(&e), "view: launch queue unreadable");
            Vec::new()
        }
    }
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

#[cfg(test)]
mod tests {
    use galley_common::replication::QueueSignal;

    use super::backoff;
    use crate::plan::{BounceMethod, DesiredInstance, DrainKind, HappyParams};

    fn desired() -> DesiredInstance {
        DesiredInstance {
            service: "web".into(),
            instance: "main".into(),
            app_id: "/web.main.gitaaaaaaaa.configbbbbbbbb".into(),
            app: serde_json::json!({}).into(),
            instances: 3,
            bounce_method: BounceMethod::Crossover,
            bounce_margin_factor: 1.0,
            happy: HappyParams::default(),
            drain: DrainKind::Noop,
            hacheck: None,
        }
    }

    #[test]
    fn backoff_names_the_failed_apply_first_then_marathons_delay() {
        let d = desired();
        let delayed = [QueueSignal {
            app_id: d.app_id.clone(),
            count: 2,
            delay_seconds: Some(40),
            no_capacity: None,
        }];
        let error = "POST /v2/apps: 422".to_owned();
        assert_eq!(
            backoff(Some(&error), Some(&d), &delayed),
            "the last apply failed, retried with backoff: POST /v2/apps: 422"
        );
        assert_eq!(
            backoff(None, Some(&d), &delayed),
            "Marathon backs off launching /web.main.gitaaaaaaaa.configbbbbbbbb: 2 task(s) \
             waiting, next launch in 40s"
        );
        let other = [QueueSignal {
            app_id: "/other".into(),
            ..delayed[0].clone()
        }];
        assert_eq!(backoff(None, Some(&d), &other), "");
        let no_delay = [QueueSignal {
            delay_seconds: Some(0),
            ..delayed[0].clone()
        }];
        assert_eq!(backoff(None, Some(&d), &no_delay), "");
        assert_eq!(backoff(None, None, &delayed), "");
    }
}
