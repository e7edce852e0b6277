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
    CheckTarget, EvidenceConfig, MarathonObservation, QueueSignal, check_marathon_instance,
};
use galley_common::soa::InstanceKind;
use galley_proto::v1 as pb;
use tokio::sync::watch;

use crate::apply::InstanceOutcome;
use crate::desired::{DesiredReport, InstanceIssue};
use crate::monitor::LaunchQueue;
use crate::plan::{DesiredInstance, InstancePlan};
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
    /// Deploy group and rollback text per instance, worked out once per desired state (the
    /// same `Arc` while the reconciler's desired-state cache holds).
    configs_of: std::sync::Weak<DesiredReport>,
    configs: HashMap<Key, (String, String)>,
}

impl ViewBuilder {
    /// A builder for `cluster` (named in replication texts).
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            rollback_default: RollbackPolicy::default(),
            last_errors: BTreeMap::new(),
            configs_of: std::sync::Weak::new(),
            configs: HashMap::new(),
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
        // A pass's apps come sorted by id; anything else is sorted here (a copy).
        let sorted_owned: std::borrow::Cow<'_, [ObservedApp]> =
            if snap.apps.is_sorted_by(|a, b| a.id <= b.id) {
                std::borrow::Cow::Borrowed(&snap.apps[..])
            } else {
                let mut apps = snap.apps.to_vec();
                apps.sort_by(|a, b| a.id.cmp(&b.id));
                std::borrow::Cow::Owned(apps)
            };
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
                &sorted_owned[own.clone()],
                record.generation,
                now,
            );
            let apply_error = self.last_errors.get(key);
            status.last_error = apply_error
                .cloned()
                .or_else(|| snap.desired.issues.get(key).map(issue_text))
                .or_else(|| snap.desired.service_errors.get(&key.0).cloned())
                .unwrap_or_default();
            status.backoff = backoff(apply_error, d, queue);
            self.config_fields(&snap.desired, key, &mut status);
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
                    queue,
                };
                let report =
                    check_marathon_instance(&target, u64::from(d.instances), observed, &evidence);
                let entry = convert::replication_entry(key, &report);
                status.replication = Some(entry.clone());
                replication.push(entry);
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

impl ViewBuilder {
    /// Deploy group and rollback policy of `key`, from the config the pass read.
    fn config_fields(
        &mut self,
        desired: &Arc<DesiredReport>,
        key: &Key,
        s: &mut pb::InstanceStatus,
    ) {
        if !std::sync::Weak::ptr_eq(&self.configs_of, &Arc::downgrade(desired)) {
            self.configs_of = Arc::downgrade(desired);
            self.configs.clear();
        }
        let (cluster, default) = (&self.cluster, self.rollback_default);
        let (group, failure) = self
            .configs
            .entry(key.clone())
            .or_insert_with(|| config_fields_of(desired, cluster, default, key));
        s.deploy_group.clone_from(group);
        s.bounce_failure.clone_from(failure);
    }
}

/// `(deploy group, bounce_failure text)` of `key`; empty when its config cannot say.
fn config_fields_of(
    desired: &DesiredReport,
    cluster: &str,
    default: RollbackPolicy,
    key: &Key,
) -> (String, String) {
    let Some(entry) = desired.services.get(&key.0) else {
        return Default::default();
    };
    let Ok(config) = entry
        .config
        .instance(cluster, InstanceKind::Marathon, &key.1)
    else {
        return Default::default();
    };
    let group = config.deploy_group().unwrap_or_default();
    let failure = match RollbackPolicy::for_instance(&config, default) {
        Ok(p) if p.rolls_back() => p.to_string(),
        Ok(_) => String::new(),
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
    let running: HashMap<&str, u32> = snap
        .apps
        .iter()
        .map(|a| (a.id.as_str(), a.tasks_running))
        .collect();
    snap.desired.desired.instances.iter().any(|d| {
        running
            .get(d.app_id.as_str())
            .is_some_and(|n| *n < d.instances)
    })
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
