//! Replication of one service.instance as `check_marathon_services_replication` (era B, v0.34)
//! computes it (spec §5.2): expected count per nerve namespace, available count, the
//! under-replication test and PaaSTA's output text byte-for-byte, so runbooks still read right.
//!
//! Two measurements, chosen by the instance's namespace (`proxy_port` set → smartstack):
//! - **Marathon** ([`healthy_task_count`], [`marathon_report`]): healthy tasks older than one
//!   minute of the apps whose id starts with `/<short id>` — *without* a trailing dot, PaaSTA's
//!   prefix quirk, kept: `svc.main` also counts the tasks of `svc.main2`. (The bounce code's
//!   [`crate::app_id::is_app_of`] does use the dot; only the replication count keeps the quirk.)
//! - **Smartstack** ([`smartstack_report`]): UP haproxy backends per discover location. Fetching
//!   the synapse haproxy CSV is I/O and out of scope here: the caller passes the counts as data.
//!
//! On top of PaaSTA, [`gather_evidence`] lists what Galley can see about *why* an instance is
//! short ("why is it stuck?"); [`ReplicationReport::alert_output`] appends it after PaaSTA's
//! text (which stays a byte-exact prefix) for non-OK and bouncing instances.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::app_id::{is_app_of, short_id};
use crate::monitoring::Status;
use crate::observed::ObservedApp;
use crate::refs::DesiredState;
use crate::soa::{ConfigError, InstanceConfig};

mod evidence;
mod haproxy;

pub use evidence::{Evidence, EvidenceConfig, QueueSignal, gather_evidence};
pub use haproxy::{HaproxyCsvError, HaproxyRow, first_slave_per_location, parse_csv, up_backends};

/// A task must have started more than this long ago to count as available.
pub const MIN_TASK_AGE: TimeDelta = TimeDelta::minutes(1);

/// The instance a check is about.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckTarget {
    /// Service name (unformatted, with `_`).
    pub service: String,
    /// Instance name.
    pub instance: String,
    /// This cluster.
    pub cluster: String,
    /// `replication_threshold`, percent (default 50).
    pub threshold: f64,
}

impl CheckTarget {
    /// The target for an instance config, with its `replication_threshold`.
    pub fn from_config(config: &InstanceConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            service: config.service.clone(),
            instance: config.instance.clone(),
            cluster: config.cluster.clone(),
            threshold: config.replication_threshold()?,
        })
    }

    /// `compose_job_id(service, instance)`: `service.instance`, unformatted (used in the text).
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.service, self.instance)
    }

    /// The formatted short id (`_` → `--`) Marathon app ids start with.
    pub fn short_app_id(&self) -> String {
        short_id(&self.service, &self.instance)
    }
}

/// One marathon instance of this cluster, as the expected-count sum needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceMember {
    /// Instance name.
    pub instance: String,
    /// `nerve_ns` (default the instance name).
    pub nerve_ns: String,
    /// `get_instances()`: 0 when stopped.
    pub desired_instances: u64,
}

impl NamespaceMember {
    /// From an instance config and its desired state (from deployments.json) and autoscaler
    /// value. A service without deployments.json is skipped by PaaSTA (silently): the caller
    /// does not build members for it.
    pub fn from_config(
        config: &InstanceConfig,
        state: DesiredState,
        autoscaled: Option<i64>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            instance: config.instance.clone(),
            nerve_ns: config.nerve_ns()?,
            desired_instances: config.desired_instances(state, autoscaled)?.max(0) as u64,
        })
    }
}

/// `get_expected_instance_count_for_namespace`: the sum of desired instances of this cluster's
/// instances (of one service) whose nerve_ns is `namespace`.
pub fn expected_count(members: &[NamespaceMember], namespace: &str) -> u64 {
    members
        .iter()
        .filter(|m| m.nerve_ns == namespace)
        .map(|m| m.desired_instances)
        .sum()
}

/// `is_under_replicated`: `(100·available/expected < threshold, ratio)`, the ratio being 100
/// when nothing is expected (so expected 0 is never critical).
pub fn is_under_replicated(available: u64, expected: u64, threshold: f64) -> (bool, f64) {
    let ratio = if expected == 0 {
        100.0
    } else {
        (available as f64 / expected as f64) * 100.0
    };
    (ratio < threshold, ratio)
}

/// Python's `'%d' % x` of a float: truncation toward zero.
fn pct(x: f64) -> i64 {
    x.trunc() as i64
}

/// Whether a task counts as available at `now`: every health result alive (no results counts
/// as healthy, v0.34), and started more than [`MIN_TASK_AGE`] ago (never started → no).
pub fn is_available_task(task: &crate::observed::ObservedTask, now: DateTime<Utc>) -> bool {
    task.health_results.iter().all(|alive| *alive)
        && task.started_at.is_some_and(|s| s < now - MIN_TASK_AGE)
}

/// Apps sorted by id, so the apps of an id prefix are found in `O(log n + matches)` instead of
/// a scan of the whole cluster per instance (which made the monitor quadratic: ~10^8 prefix
/// comparisons a pass at 10,000 instances). Build it once per pass.
#[derive(Debug, Clone, Default)]
pub struct AppIndex<'a> {
    sorted: Vec<&'a ObservedApp>,
}

impl<'a> AppIndex<'a> {
    /// Indexes `apps` (owned or shared).
    pub fn new<A: Borrow<ObservedApp>>(apps: &'a [A]) -> Self {
        let mut sorted: Vec<&ObservedApp> = apps.iter().map(Borrow::borrow).collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        Self { sorted }
    }

    /// The apps whose id starts with `prefix`, in id order.
    pub fn with_prefix(&self, prefix: &str) -> &[&'a ObservedApp] {
        &self.sorted[crate::observed::prefix_range(&self.sorted, prefix)]
    }

    /// [`healthy_task_count`] over the index.
    pub fn healthy_task_count(&self, short_app_id: &str, now: DateTime<Utc>) -> u64 {
        self.with_prefix(&format!("/{short_app_id}"))
            .iter()
            .flat_map(|app| &app.tasks)
            .filter(|t| is_available_task(t, now))
            .count() as u64
    }

    /// [`instance_apps`] over the index.
    pub fn instance_apps(&self, short_app_id: &str) -> Vec<&'a ObservedApp> {
        self.with_prefix(&format!("/{short_app_id}."))
            .iter()
            .copied()
            .filter(|a| is_app_of(&a.id, short_app_id))
            .collect()
    }

    /// [`is_bouncing`] over the index.
    pub fn is_bouncing(&self, short_app_id: &str) -> bool {
        self.instance_apps(short_app_id).len() > 1
    }
}

/// The healthy tasks of the apps whose id starts with `/<short_app_id>` (no trailing dot: the
/// prefix quirk, see the module docs).
pub fn healthy_task_count<A: Borrow<ObservedApp>>(
    apps: &[A],
    short_app_id: &str,
    now: DateTime<Utc>,
) -> u64 {
    let prefix = format!("/{short_app_id}");
    apps.iter()
        .map(Borrow::borrow)
        .filter(|app| app.id.starts_with(&prefix))
        .flat_map(|app| &app.tasks)
        .filter(|t| is_available_task(t, now))
        .count() as u64
}

/// The apps of one instance (`<short id>.` prefix, with the dot).
pub fn instance_apps<'a, A: Borrow<ObservedApp>>(
    apps: &'a [A],
    short_app_id: &str,
) -> Vec<&'a ObservedApp> {
    apps.iter()
        .map(Borrow::borrow)
        .filter(|a| is_app_of(&a.id, short_app_id))
        .collect()
}

/// `paasta status`'s "Bouncing": more than one app of the instance.
pub fn is_bouncing<A: Borrow<ObservedApp>>(apps: &[A], short_app_id: &str) -> bool {
    instance_apps(apps, short_app_id).len() > 1
}

/// The result of one replication check.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationReport {
    /// `check_marathon_services_replication.<service>.<instance>`.
    pub check_name: String,
    /// OK or CRITICAL.
    pub status: Status,
    /// PaaSTA's output text, byte-for-byte.
    pub output: String,
    /// Available instances (smartstack: summed over locations).
    pub available: u64,
    /// Expected instances (smartstack: the namespace total).
    pub expected: u64,
    /// 100·available/expected (100 when nothing is expected).
    pub percent: f64,
    /// Evidence of why it is short, when Galley has some (see [`gather_evidence`]).
    pub evidence: Vec<Evidence>,
}

impl ReplicationReport {
    /// Whether the check is CRITICAL.
    pub fn is_under_replicated(&self) -> bool {
        self.status != Status::Ok
    }

    /// Attaches `evidence` when the instance is under-replicated or `bouncing`; otherwise the
    /// report stays as PaaSTA's.
    pub fn with_evidence(mut self, bouncing: bool, evidence: Vec<Evidence>) -> Self {
        if self.is_under_replicated() || bouncing {
            self.evidence = evidence;
        }
        self
    }

    /// The text for the alert and the report: PaaSTA's output, then the evidence, if any.
    pub fn alert_output(&self) -> String {
        if self.evidence.is_empty() {
            return self.output.clone();
        }
        let mut out = self.output.clone();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\nWhat Galley sees:\n\n");
        for e in &self.evidence {
            out.push_str(&format!("  * {e}\n"));
        }
        out
    }
}

/// The check name of an instance's replication event.
pub fn check_name(target: &CheckTarget) -> String {
    format!("check_marathon_services_replication.{}", target.full_name())
}

/// `send_event_if_under_replication` for an instance outside smartstack.
pub fn marathon_report(target: &CheckTarget, expected: u64, available: u64) -> ReplicationReport {
    let full_name = target.full_name();
    let mut output = format!(
        "Service {full_name} has {available} out of {expected} expected instances available!\n\
         (threshold: {}%)",
        pct(target.threshold)
    );
    let (under, percent) = is_under_replicated(available, expected, target.threshold);
    if under {
        output.push_str(&format!(
            "\n\n\
             What this alert means:\n\
             \n\
             \x20 This replication alert means that the service PaaSTA can't keep the\n\
             \x20 requested number of copies up and healthy in the cluster.\n\
             \n\
             Reasons this might be happening:\n\
             \n\
             \x20 The service may simply unhealthy. There also may not be enough resources\n\
             \x20 in the cluster to support the requested instance count.\n\
             \n\
             Things you can do:\n\
             \n\
             \x20 * Increase the instance count\n\
             \x20 * Fix the cause of the unhealthy service. Try running:\n\
             \n\
             \x20     paasta status -s {} -i {} -c {} -vv\n",
            target.service, target.instance, target.cluster
        ));
    }
    ReplicationReport {
        check_name: check_name(target),
        status: if under { Status::Critical } else { Status::Ok },
        output,
        available,
        expected,
        percent,
        evidence: Vec::new(),
    }
}

/// UP backends per discover location: location → haproxy backend name (`service.namespace`)
/// → number of UP backends. Locations come from the Mesos slaves grouped by the namespace's
/// `discover` attribute, minus `monitoring_blacklist`.
pub type SmartstackLocations = BTreeMap<String, BTreeMap<String, u64>>;

/// `check_smartstack_replication_for_instance`. `None` when the instance is announced under
/// another namespace (`nerve_ns != instance`): PaaSTA sends no event for it.
pub fn smartstack_report(
    target: &CheckTarget,
    nerve_ns: &str,
    expected: u64,
    locations: &SmartstackLocations,
) -> Option<ReplicationReport> {
    if nerve_ns != target.instance {
        return None;
    }
    let full_name = target.full_name();
    let mut report = ReplicationReport {
        check_name: check_name(target),
        status: Status::Critical,
        output: String::new(),
        available: 0,
        expected,
        percent: 0.0,
        evidence: Vec::new(),
    };
    if locations.is_empty() {
        report.output = format!(
            "Service {full_name} has no Smartstack replication info. Make sure the discover key \
             in your smartstack.yaml is valid!\n"
        );
        return Some(report);
    }
    let per_location = expected / locations.len() as u64;
    let mut any_under = false;
    for (location, backends) in locations {
        let available = backends.get(&full_name).copied().unwrap_or(0);
        report.available += available;
        let (under, ratio) = is_under_replicated(available, per_location, target.threshold);
        any_under |= under;
        let word = if under { "CRITICAL" } else { "OK" };
        report.output.push_str(&format!(
            "- Service {full_name} has {available} out of {per_location} expected instances in \
             {location} ({word}: {}%)\n",
            pct(ratio)
        ));
    }
    report.percent = is_under_replicated(report.available, expected, target.threshold).1;
    if any_under {
        report.output.push_str(&smartstack_paragraph(target));
    } else {
        report.status = Status::Ok;
    }
    Some(report)
}

fn smartstack_paragraph(target: &CheckTarget) -> String {
    format!(
        "\n\n\
         What this alert means:\n\
         \n\
         \x20 This replication alert means that a SmartStack powered loadbalancer (haproxy)\n\
         \x20 doesn't have enough healthy backends. Not having enough healthy backends\n\
         \x20 means that clients of that service will get 503s (http) or connection refused\n\
         \x20 (tcp) when trying to connect to it.\n\
         \n\
         Reasons this might be happening:\n\
         \n\
         \x20 The service may simply not have enough copies or it could simply be\n\
         \x20 unhealthy in that location. There also may not be enough resources\n\
         \x20 in the cluster to support the requested instance count.\n\
         \n\
         Things you can do:\n\
         \n\
         \x20 * Fix the cause of the unhealthy service. Try running:\n\
         \n\
         \x20     paasta status -s {} -i {} -c {} -vv\n\
         \n\
         \x20 * Widen SmartStack discovery settings\n\
         \x20 * Increase the instance count\n\
         \n",
        target.service, target.instance, target.cluster
    )
}

/// Everything one Marathon-path check needs besides config: the whole app list (as one
/// `list_apps` call returns it), the time, and Marathon's launch queue if it was fetched.
#[derive(Debug)]
pub struct MarathonObservation<'a, A = ObservedApp> {
    /// Every app (owned or shared).
    pub apps: &'a [A],
    /// Now (the emulator's clock in tests).
    pub now: DateTime<Utc>,
    /// Launch-queue entries (delay, unmatched offers), possibly none.
    pub queue: &'a [QueueSignal],
}

// By hand: a derive would ask `A: Copy`, and shared apps (`Arc`) are not.
impl<A> Clone for MarathonObservation<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for MarathonObservation<'_, A> {}

/// The whole Marathon-path check of one instance: count, report, and evidence for non-OK or
/// bouncing instances.
pub fn check_marathon_instance(
    target: &CheckTarget,
    expected: u64,
    observed: MarathonObservation<'_, impl Borrow<ObservedApp>>,
    config: &EvidenceConfig,
) -> ReplicationReport {
    let short = target.short_app_id();
    let available = healthy_task_count(observed.apps, &short, observed.now);
    let apps = instance_apps(observed.apps, &short);
    let evidence = gather_evidence(&apps, observed.now, config, observed.queue);
    marathon_report(target, expected, available).with_evidence(apps.len() > 1, evidence)
}

impl fmt::Display for ReplicationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}/{} ({}%)",
            self.check_name,
            self.status,
            self.available,
            self.expected,
            pct(self.percent)
        )
    }
}

#[cfg(test)]
mod tests;
