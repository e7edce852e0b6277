//! The reconcile loop: one task that, on every activation (periodic timer, a change under the
//! soa dir, or an on-demand trigger), re-reads all desired state and all observed state, plans,
//! and applies. Level-triggered: the trigger is only logged, never acted upon.
//!
//! A pass never fails: every outcome, including "could not read Marathon", is a [`PassStatus`]
//! published on a `watch` channel with a snapshot of what the pass saw and did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use galley_common::observed::{AppSnapshot, ObservedApp, prefix_range};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::apply::{ApplyBudget, ApplyContext, ApplyEvent, ApplyReport, InstanceOutcome, apply};
use crate::desired::{DesiredContext, DesiredReport, read_desired, reread_desired, update_desired};
use crate::election::Leadership;
use crate::error_chain::ErrorChain;
use crate::marathon::MarathonApi;
use crate::mesos::MesosApi;
use crate::observed::hacheck::Hacheck;
use crate::plan::{CleanupPolicy, Observed, Plan, plan_with_memo};
use crate::system_dir::read_system_config;

mod control;
mod observe;
mod soa_changes;
mod steps;

pub use control::{Control, InstanceKey, Switches};
pub use observe::AppsSource;
pub use steps::StepTimes;

/// Static settings of the loop.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// yelpsoa-configs root.
    pub soa_dir: std::path::PathBuf,
    /// System config directory.
    pub system_config_dir: std::path::PathBuf,
    /// Cluster name override (else the system config's `cluster`).
    pub cluster: Option<String>,
    /// Periodic pass interval.
    pub interval: Duration,
    /// Cleanup threshold.
    pub cleanup: CleanupPolicy,
    /// Destructive-action budgets per pass.
    pub budget: ApplyBudget,
    /// Plan only.
    pub dry_run: bool,
}

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassStatus {
    /// Nothing to do.
    UpToDate,
    /// Nothing to do this pass, but bounces are in flight (waiting for new tasks to become
    /// happy, for drains to become safe, or for Marathon deployments to finish).
    Progressing {
        /// Instances with a bounce in flight.
        bouncing: usize,
    },
    /// Actions were applied (some may have failed or waited).
    Applied {
        /// Actions carried out.
        actions: usize,
        /// Instances whose actions failed.
        failed: usize,
        /// Instances waiting for a Marathon deployment lock.
        waiting: usize,
    },
    /// Dry run: the plan was computed and logged, nothing applied.
    DryRun {
        /// Actions the plan holds.
        actions: usize,
    },
    /// Reconciling is frozen by an operator; the plan was computed, nothing applied.
    Frozen {
        /// The operator's reason.
        reason: String,
    },
    /// Another coordinator leads (or none is known): the plan was computed for the read APIs,
    /// nothing applied.
    Follower {
        /// Who leads, as far as this coordinator knows.
        leader: String,
        /// Actions the plan holds.
        actions: usize,
    },
    /// Leading, but within the grace period of a new term (watch-only): planned, not applied.
    LeaderGrace {
        /// Actions the plan holds.
        actions: usize,
    },
    /// Leadership was lost while the pass ran: it was abandoned where it stood.
    LostLeadership,
    /// The system config could not be read: nothing was planned.
    FailedReadingSystemConfig(String),
    /// The Mesos master could not be read: nothing was planned (constraints need it).
    FailedReadingMesos(String),
    /// Marathon could not be listed: nothing was planned.
    FailedReadingMarathon(String),
}

impl PassStatus {
    /// How loudly a pass with this outcome is logged: a pass that found nothing to do (or
    /// planned nothing as a follower) at debug, failures at warn, the rest at info.
    pub fn log_level(&self) -> tracing::Level {
        match self {
            PassStatus::UpToDate
            | PassStatus::Follower { actions: 0, .. }
            | PassStatus::LeaderGrace { actions: 0 }
            | PassStatus::DryRun { actions: 0 } => tracing::Level::DEBUG,
            PassStatus::FailedReadingSystemConfig(_)
            | PassStatus::FailedReadingMesos(_)
            | PassStatus::FailedReadingMarathon(_)
            | PassStatus::LostLeadership => tracing::Level::WARN,
            _ => tracing::Level::INFO,
        }
    }
}

/// What a pass saw and did (shared with read APIs; never mutated after publishing).
#[derive(Debug, Clone, Default)]
pub struct PassSnapshot {
    /// Desired state and per-instance issues (shared with the desired-state cache).
    pub desired: Arc<DesiredReport>,
    /// Marathon's apps, sorted by id (shared with the Marathon view when they came from there).
    pub apps: AppSnapshot,
    /// The plan.
    pub plan: Plan,
    /// What apply did, when it ran.
    pub apply: Option<ApplyReport>,
    /// Where `apps` came from: the watched view or a list of its own.
    pub apps_source: AppsSource,
    /// Apps fetched again to confirm a plan from the view that drains, kills or deletes.
    pub confirmed_apps: usize,
    /// Instances planned afresh (the others were settled and unchanged: their last plan was
    /// reused).
    pub replanned: usize,
    /// How long each step took.
    pub steps: StepTimes,
}

/// One finished pass.
#[derive(Debug, Clone)]
pub struct PassRecord {
    /// Pass number since start (1-based).
    pub generation: u64,
    /// Why it ran.
    pub reason: ActivationReason,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// Outcome.
    pub status: PassStatus,
    /// What it saw and did.
    pub snapshot: Arc<PassSnapshot>,
}

/// Why a pass ran (for logs only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationReason {
    /// First pass after start.
    Startup,
    /// The periodic timer.
    Periodic,
    /// Something under the soa dir changed.
    FilesChanged,
    /// Someone asked (operator RPC, webhook, test).
    OnDemand,
    /// Marathon changed (an event named an app of the view).
    MarathonChanged,
}

impl ActivationReason {
    /// The name used in `GetStatus` and as the `trigger` label of pass metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Periodic => "periodic",
            Self::FilesChanged => "files_changed",
            Self::OnDemand => "on_demand",
            Self::MarathonChanged => "marathon_changed",
        }
    }
}

/// A deploy-log sink.
pub type EventSink = Arc<dyn Fn(ApplyEvent) + Send + Sync>;

/// Where "now" comes from (the wall clock in production; the emulator's clock in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The reconciler and its state across passes.
pub struct Reconciler<M, S> {
    marathon: Arc<M>,
    mesos: Arc<S>,
    settings: ReconcileSettings,
    control: Control,
    events: EventSink,
    clock: Clock,
    hacheck: Hacheck,
    soa_changes: Option<Arc<soa_changes::SoaChanges>>,
    leadership: Option<watch::Receiver<Leadership>>,
    desired_cache: Option<DesiredCache>,
    slaves_cache: Option<(Instant, Vec<galley_common::constraints::SlaveAttributes>)>,
    /// Plans of settled instances from the last pass, reused while their inputs are the same.
    plan_memo: std::sync::Mutex<crate::plan::PlanMemo>,
    generation: u64,
    backoff: BTreeMap<InstanceKey, (Instant, Duration)>,
    /// The hash of each bouncing instance's last progress line ([`crate::report::text_hash`]): a line is
    /// logged when it changes, and holding the lines themselves took ~350 bytes an instance
    /// while 50,000 converged.
    last_progress: BTreeMap<InstanceKey, u64>,
    view: Option<crate::observed::view::MarathonView>,
    /// Which instances in flight the next periodic pass fetches again.
    in_flight: observe::InFlightRefresh,
}

/// Handle to a running reconciler task.
#[derive(Clone)]
pub struct ReconcilerHandle {
    /// Latest pass.
    pub status: watch::Receiver<Option<Arc<PassRecord>>>,
    trigger: mpsc::Sender<()>,
    /// Freeze/pause switches.
    pub control: Control,
}

impl ReconcilerHandle {
    /// Asks for a pass as soon as possible (coalesced with any pending request).
    pub fn trigger(&self) {
        let _ = self.trigger.try_send(());
    }
}

const MIN_BACKOFF: Duration = Duration::from_secs(5);
/// Even with no file event, desired state is re-read this often.
const FULL_REREAD_EVERY: Duration = Duration::from_secs(300);

/// How long the Mesos slaves' attributes read by one pass serve the next ones.
const SLAVES_MAX_AGE: Duration = Duration::from_secs(30);

/// How a pass reads desired state.
#[derive(Debug, PartialEq)]
enum DesiredRead {
    /// The cached state as it is.
    Cached,
    /// The cached state with these services read again.
    Update(BTreeSet<String>),
    /// Everything read again (the context changed, the watcher asked, or the safety net is
    /// due), keeping what reads the same as cached: an entry or instance equal to a cached one
    /// is that one, whatever the context it was read under.
    Reread,
    /// Everything read afresh (nothing cached).
    Full,
}

/// Decides how a pass reads desired state from the cache's context fingerprint and age, this
/// pass's context `fingerprint`, what the watcher saw `changed`, and why the pass runs. The
/// age-based re-read (a safety net against missed file events) happens on periodic passes
/// only, so that a pass a change woke never waits for it (seconds at 50,000 instances).
fn desired_read(
    cache: Option<(&str, Duration)>,
    fingerprint: &str,
    changed: soa_changes::Changed,
    reason: ActivationReason,
) -> DesiredRead {
    let Some((cached_under, age)) = cache else {
        return DesiredRead::Full;
    };
    let due = age >= FULL_REREAD_EVERY && reason == ActivationReason::Periodic;
    if cached_under != fingerprint || changed.all || due {
        DesiredRead::Reread
    } else if changed.services.is_empty() {
        DesiredRead::Cached
    } else {
        DesiredRead::Update(changed.services)
    }
}

/// The last desired state read, and what it was read under.
struct DesiredCache {
    fingerprint: String,
    read_at: Instant,
    report: Arc<DesiredReport>,
}
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl<M: MarathonApi, S: MesosApi> Reconciler<M, S> {
    /// A reconciler; `events` receives deploy-log events.
    pub fn new(
        marathon: Arc<M>,
        mesos: Arc<S>,
        settings: ReconcileSettings,
        events: EventSink,
    ) -> Self {
        Self {
            marathon,
            mesos,
            settings,
            control: Control::default(),
            events,
            clock: Arc::new(Utc::now),
            hacheck: Hacheck::new(Duration::from_secs(2)),
            soa_changes: None,
            leadership: None,
            desired_cache: None,
            slaves_cache: None,
            plan_memo: Default::default(),
            generation: 0,
            backoff: BTreeMap::new(),
            last_progress: BTreeMap::new(),
            view: None,
            in_flight: observe::InFlightRefresh::default(),
        }
    }

    /// Plans from `view` (list, then watch) instead of listing Marathon every pass, and runs a
    /// pass soon after Marathon changes (an event named an app). A pass lists Marathon itself
    /// whenever the view is not complete and settled.
    pub fn with_view(mut self, view: crate::observed::view::MarathonView) -> Self {
        self.view = Some(view);
        self
    }

    /// Uses `clock` for "now" (task ages, timestamps).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Applies only while `leadership` says this coordinator leads and its grace period is
    /// over; otherwise passes plan for the read APIs and apply nothing. A pass in flight is
    /// abandoned the moment leadership is lost. Without this, the reconciler always applies.
    pub fn with_leadership(mut self, leadership: watch::Receiver<Leadership>) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// The operator switches.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Runs one pass and returns its record. Never fails.
    pub async fn pass(&mut self, reason: ActivationReason) -> PassRecord {
        let started = Instant::now();
        let started_at = (self.clock)();
        self.generation += 1;
        let mut snapshot = PassSnapshot::default();
        let status = self.pass_inner(&mut snapshot, reason).await;
        let record = PassRecord {
            generation: self.generation,
            reason,
            started_at,
            duration: started.elapsed(),
            status,
            snapshot: Arc::new(snapshot),
        };
        let ms = record.duration.as_millis() as u64;
        let (generation, status) = (record.generation, &record.status);
        let steps = &record.snapshot.steps;
        match status.log_level() {
            tracing::Level::DEBUG => {
                tracing::debug!(generation, reason = ?reason, status = ?status, ms, %steps, "reconcile pass")
            }
            tracing::Level::WARN => {
                tracing::warn!(generation, reason = ?reason, status = ?status, ms, %steps, "reconcile pass")
            }
            _ => {
                tracing::info!(generation, reason = ?reason, status = ?status, ms, %steps, "reconcile pass")
            }
        }
        record
    }

    async fn pass_inner(
        &mut self,
        snapshot: &mut PassSnapshot,
        reason: ActivationReason,
    ) -> PassStatus {
        snapshot.steps = StepTimes::start();
        let system = match read_system_config(&self.settings.system_config_dir) {
            Ok(s) => s,
            Err(e) => return PassStatus::FailedReadingSystemConfig(e),
        };
        let Some(cluster) = self.settings.cluster.clone().or(system.cluster.clone()) else {
            return PassStatus::FailedReadingSystemConfig(format!(
                "no cluster configured and key `cluster` is not set in {}",
                self.settings.system_config_dir.display()
            ));
        };
        snapshot.steps.done("system_config");
        let slaves = match self.slave_attributes().await {
            Ok(s) => s,
            Err(e) => return PassStatus::FailedReadingMesos(ErrorChain(&e).to_string()),
        };
        snapshot.steps.done("mesos");
        let ctx = DesiredContext {
            cluster,
            system: system.settings,
            slaves,
        };
        snapshot.desired = self.desired(ctx, reason).await;
        snapshot.steps.done("desired");
        (snapshot.apps, snapshot.apps_source) = match self.observe_apps().await {
            Ok(observed) => observed,
            Err(e) => return PassStatus::FailedReadingMarathon(ErrorChain(&e).to_string()),
        };
        snapshot.steps.done("marathon");
        let now = (self.clock)();
        self.plan_pass(snapshot, now).await;
        snapshot.steps.done("plan");
        if snapshot.apps_source == AppsSource::View {
            let mut confirm = observe::apps_to_confirm(&snapshot.plan, &snapshot.apps);
            if reason == ActivationReason::Periodic {
                // Marathon drops events for a slow consumer without a word: a bounce waiting
                // on lost events would wait for the next resync. The periodic pass fetches the
                // apps of instances in flight again (a window of them, in turn), and the view
                // takes them too.
                let refresh = self.in_flight.next_window(&snapshot.plan, &snapshot.apps);
                if let Some(view) = &self.view {
                    view.invalidate(refresh.iter().cloned());
                }
                confirm.extend(refresh);
            }
            if !confirm.is_empty() {
                match self
                    .confirm_apps(Arc::make_mut(&mut snapshot.apps), confirm)
                    .await
                {
                    Ok(n) => snapshot.confirmed_apps = n,
                    Err(e) => {
                        return PassStatus::FailedReadingMarathon(format!(
                            "confirming a plan from the watched view: {}",
                            ErrorChain(&e)
                        ));
                    }
                }
                self.plan_pass(snapshot, now).await;
                snapshot.steps.done("confirm");
            }
        }
        let actions = count_actions(&snapshot.plan);
        if let Some(status) = self.not_leading(actions) {
            return status;
        }
        self.record_progress(&snapshot.plan);
        if actions == 0 {
            let bouncing = snapshot
                .plan
                .instances
                .iter()
                .filter(|p| p.bouncing || !p.waiting_on.is_empty())
                .count();
            return if bouncing == 0 {
                PassStatus::UpToDate
            } else {
                PassStatus::Progressing { bouncing }
            };
        }
        if let Some(reason) = self.control.frozen() {
            return PassStatus::Frozen { reason };
        }
        if self.settings.dry_run {
            tracing::info!(plan = %snapshot.plan, "dry run: not applying");
            return PassStatus::DryRun { actions };
        }
        let runnable = self.runnable(&snapshot.plan);
        let ctx = ApplyContext {
            desired: &snapshot.desired.desired.instances,
            apps: &snapshot.apps,
            hacheck: &self.hacheck,
            now,
        };
        let report = apply(
            self.marathon.as_ref(),
            &runnable,
            &ctx,
            self.settings.budget,
        )
        .await;
        snapshot.steps.done("apply");
        self.record_outcomes(&report);
        if let Some(view) = &self.view {
            view.invalidate(observe::written_apps(&runnable));
        }
        let status = summarize(&report);
        snapshot.apply = Some(report);
        status
    }

    /// The Mesos slaves' attributes (for `GROUP_BY` constraints), read at most every
    /// `SLAVES_MAX_AGE`: they change when agents come and go, not from pass to pass.
    async fn slave_attributes(
        &mut self,
    ) -> Result<Vec<galley_common::constraints::SlaveAttributes>, crate::mesos::MesosError> {
        if let Some((at, slaves)) = &self.slaves_cache
            && at.elapsed() < SLAVES_MAX_AGE
        {
            return Ok(slaves.clone());
        }
        let slaves: Vec<_> = self
            .mesos
            .slaves()
            .await?
            .into_iter()
            .map(|s| s.attributes)
            .collect();
        self.slaves_cache = Some((Instant::now(), slaves.clone()));
        Ok(slaves)
    }

    /// Plans from the snapshot's desired state and apps (reading hacheck's drain state).
    async fn plan_pass(&self, snapshot: &mut PassSnapshot, now: DateTime<Utc>) {
        let drain = observe_drain(
            &self.hacheck,
            &snapshot.desired.desired.instances,
            &snapshot.apps,
            now,
        )
        .await;
        let observed = Observed {
            apps: snapshot.apps.clone(),
            drain,
            now,
        };
        let mut memo = self.plan_memo.lock().unwrap_or_else(|p| p.into_inner());
        snapshot.plan = plan_with_memo(
            &snapshot.desired.desired,
            &observed,
            self.settings.cleanup,
            &mut memo,
        );
        snapshot.replanned = memo.last_planned;
        tracing::debug!(
            reused = memo.last_reused,
            planned = memo.last_planned,
            "plan: settled instances reused"
        );
    }

    /// `Some(status)` when this coordinator must not apply: a follower, or a leader in grace.
    fn not_leading(&self, actions: usize) -> Option<PassStatus> {
        let l = self.leadership.as_ref()?.borrow().clone();
        if l.acting.is_none() {
            return Some(PassStatus::Follower {
                leader: l.leader_name().to_owned(),
                actions,
            });
        }
        l.destructive
            .is_none()
            .then_some(PassStatus::LeaderGrace { actions })
    }

    /// Runs a pass, abandoning it if leadership is lost meanwhile (an HTTP request already
    /// sent may still take effect; nothing after it is started).
    async fn pass_while_leading(&mut self, reason: ActivationReason) -> PassRecord {
        let Some(mut leadership) = self.leadership.clone() else {
            return self.pass(reason).await;
        };
        let was_acting = leadership.borrow_and_update().acting;
        if was_acting.is_none() {
            return self.pass(reason).await;
        }
        let started_at = (self.clock)();
        let started = Instant::now();
        let lost = leadership.wait_for(|l| l.acting != was_acting);
        tokio::select! {
            record = self.pass(reason) => record,
            _ = lost => {
                tracing::warn!(generation = self.generation, "leadership lost mid-pass: pass abandoned");
                PassRecord {
                    generation: self.generation,
                    reason,
                    started_at,
                    duration: started.elapsed(),
                    status: PassStatus::LostLeadership,
                    snapshot: Arc::new(PassSnapshot::default()),
                }
            }
        }
    }

    /// Desired state. Without a watcher every pass reads the whole soa dir. With one, a pass
    /// re-reads only the services the watcher saw change (and finds added or removed ones),
    /// and reads everything when the context (cluster, system config, slave attributes)
    /// changed, the watcher asked for it, or — on a periodic pass only, so that a pass a
    /// change woke never waits for it (seconds at 50,000 instances) — the last full read is
    /// older than `FULL_REREAD_EVERY` (a safety net against missed file events).
    async fn desired(
        &mut self,
        ctx: DesiredContext,
        reason: ActivationReason,
    ) -> Arc<DesiredReport> {
        let Some(changes) = self.soa_changes.clone() else {
            let soa_dir = self.settings.soa_dir.clone();
            return Arc::new(read_blocking(move || read_desired(&soa_dir, &ctx)).await);
        };
        let fingerprint = format!("{}|{:?}|{:?}", ctx.cluster, ctx.system, ctx.slaves);
        let soa_dir = self.settings.soa_dir.clone();
        let cached = self.desired_cache.take();
        let read = desired_read(
            cached
                .as_ref()
                .map(|c| (c.fingerprint.as_str(), c.read_at.elapsed())),
            &fingerprint,
            changes.take(),
            reason,
        );
        let (report, read_at) = match (read, cached) {
            (DesiredRead::Cached, Some(cache)) => (cache.report, cache.read_at),
            (DesiredRead::Update(services), Some(cache)) => {
                let previous = Arc::unwrap_or_clone(cache.report);
                let report =
                    read_blocking(move || update_desired(&soa_dir, &ctx, previous, &services));
                (Arc::new(report.await), cache.read_at)
            }
            (DesiredRead::Reread, Some(cache)) => {
                let previous = Arc::clone(&cache.report);
                let fresh = read_blocking(move || reread_desired(&soa_dir, &ctx, &previous)).await;
                // A re-read that finds exactly what is cached (the periodic safety net,
                // usually) keeps the cached `Arc`: everything keyed by its identity (the plan
                // memo's inputs, the monitor's settled checks, rollback's configs, the gRPC
                // view's keys) stays warm instead of being worked out again for every instance.
                let report = if *cache.report == fresh {
                    cache.report
                } else {
                    Arc::new(fresh)
                };
                (report, Instant::now())
            }
            _ => {
                let fresh = read_blocking(move || read_desired(&soa_dir, &ctx)).await;
                (Arc::new(fresh), Instant::now())
            }
        };
        self.desired_cache = Some(DesiredCache {
            fingerprint,
            read_at,
            report: report.clone(),
        });
        report
    }

    /// The plan minus paused instances and instances in backoff.
    fn runnable(&self, full: &Plan) -> Plan {
        let now = Instant::now();
        let mut p = full.clone();
        p.instances.retain(|ip| {
            let key = (ip.service.clone(), ip.instance.clone());
            let backing_off = self
                .backoff
                .get(&key)
                .is_some_and(|(until, _)| *until > now);
            !backing_off && !self.control.is_paused(&key)
        });
        p
    }

    fn record_outcomes(&mut self, report: &ApplyReport) {
        for (key, outcome) in &report.instances {
            match outcome {
                InstanceOutcome::Failed { error } => {
                    let next = self
                        .backoff
                        .get(key)
                        .map(|(_, d)| (*d * 2).min(MAX_BACKOFF))
                        .unwrap_or(MIN_BACKOFF);
                    tracing::warn!(service = %key.0, instance = %key.1, error = %error, backoff_s = next.as_secs(), "instance failed; backing off");
                    self.backoff
                        .insert(key.clone(), (Instant::now() + next, next));
                }
                _ => {
                    self.backoff.remove(key);
                }
            }
        }
        // Bounce-progress lines are not apply events: `record_progress` logs them on change.
        for event in &report.events {
            (self.events)(event.clone());
        }
    }

    /// Logs PaaSTA's "<method> bounce in progress ..." line when an instance's bounce state changes.
    fn record_progress(&mut self, plan: &Plan) {
        for ip in &plan.instances {
            if ip.progress.is_none() && self.last_progress.is_empty() {
                continue; // the steady case: no key to build
            }
            let key = (ip.service.clone(), ip.instance.clone());
            match ip.progress_line() {
                Some(line) => {
                    let hash = crate::report::text_hash(&line);
                    if self.last_progress.insert(key, hash) != Some(hash) {
                        (self.events)(ApplyEvent {
                            service: ip.service.clone(),
                            instance: ip.instance.clone(),
                            level: "event",
                            message: line.to_string(),
                        });
                    }
                }
                None => {
                    self.last_progress.remove(&key);
                }
            }
        }
    }

    /// Spawns the loop; it stops when `shutdown` changes to `true` (or its sender drops).
    pub fn spawn(mut self, mut shutdown: watch::Receiver<bool>) -> ReconcilerHandle {
        let (status_tx, status_rx) = watch::channel(None);
        let (trigger_tx, mut trigger_rx) = mpsc::channel(1);
        let (files_tx, mut files_rx) = mpsc::channel(1);
        let changes = Arc::new(soa_changes::SoaChanges::new(&self.settings.soa_dir));
        let watcher = soa_changes::watch_dir(changes.clone(), files_tx);
        if watcher.is_some() {
            self.soa_changes = Some(changes);
        }
        let handle = ReconcilerHandle {
            status: status_rx,
            trigger: trigger_tx,
            control: self.control.clone(),
        };
        let mut view_changes = self.view.as_ref().map(|v| v.changes());
        tokio::spawn(async move {
            let _watcher = watcher; // dropped (and stopped) with the task
            let mut reason = ActivationReason::Startup;
            loop {
                let record = self.pass_while_leading(reason).await;
                status_tx.send_replace(Some(Arc::new(record)));
                if let Some(v) = view_changes.as_mut() {
                    v.borrow_and_update(); // what this pass saw is not news
                }
                // Every arm is cancel-safe (sleep, recv, changed); no await inside an arm.
                reason = tokio::select! {
                    _ = tokio::time::sleep(self.settings.interval) => ActivationReason::Periodic,
                    Some(()) = trigger_rx.recv() => ActivationReason::OnDemand,
                    Some(()) = files_rx.recv() => ActivationReason::FilesChanged,
                    () = observe::changed(view_changes.as_mut()) => ActivationReason::MarathonChanged,
                    _ = shutdown.changed() => break,
                };
                if *shutdown.borrow() {
                    break;
                }
            }
        });
        handle
    }
}

/// Asks hacheck for the drain state of every task of instances that use it and have something
/// to drain (an old app, or more tasks than wanted). A task whose state cannot be read is left
/// out, which the planner treats as "not safe to kill". `apps`: the pass's, sorted by id.
async fn observe_drain(
    hacheck: &Hacheck,
    desired: &[Arc<crate::plan::DesiredInstance>],
    apps: &[Arc<ObservedApp>],
    now: DateTime<Utc>,
) -> BTreeMap<String, crate::plan::DrainState> {
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut queries = tokio::task::JoinSet::new();
    for d in desired {
        let Some(params) = &d.hacheck else { continue };
        // A pass's apps are sorted by id: the instance's apps are one range (this was a scan
        // of every app for every hacheck instance, every pass).
        let related: Vec<&ObservedApp> = apps[prefix_range(apps, &d.apps_prefix())]
            .iter()
            .map(|a| &**a)
            .collect();
        let surplus = related
            .iter()
            .any(|a| a.id == d.app_id && a.tasks.len() > d.instances as usize);
        if related.len() < 2 && !surplus {
            continue;
        }
        for task in related.iter().flat_map(|a| &a.tasks) {
            let (task, params, hacheck, permits) = (
                task.clone(),
                params.clone(),
                hacheck.clone(),
                permits.clone(),
            );
            queries.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                (task.id.clone(), hacheck.state(&task, &params, now).await)
            });
        }
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = queries.join_next().await {
        let Ok((id, result)) = joined else { continue };
        match result {
            Ok(state) => {
                out.insert(id, state);
            }
            Err(e) => {
                tracing::warn!(task = %id, error = %ErrorChain(&e), "hacheck state unknown; not safe to kill")
            }
        }
    }
    out
}

fn count_actions(plan: &Plan) -> usize {
    plan.instances
        .iter()
        .map(|p| p.actions.len())
        .sum::<usize>()
        + plan.cleanup.actions.len()
}

fn summarize(report: &ApplyReport) -> PassStatus {
    let mut actions = report.deleted.len();
    let (mut failed, mut waiting) = (0, 0);
    for outcome in report.instances.values() {
        match outcome {
            InstanceOutcome::Done { actions: n } => actions += n,
            InstanceOutcome::Waiting { .. } => waiting += 1,
            InstanceOutcome::Failed { .. } | InstanceOutcome::OverBudget => failed += 1,
        }
    }
    PassStatus::Applied {
        actions,
        failed,
        waiting,
    }
}

/// Reads desired state on the blocking pool (file I/O and parsing).
async fn read_blocking(read: impl FnOnce() -> DesiredReport + Send + 'static) -> DesiredReport {
    tokio::task::spawn_blocking(read)
        .await
        .expect("reading desired state does not panic")
}

/// Shared, lock-protected state; see [`Control`].
pub(crate) type Shared<T> = Arc<Mutex<T>>;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::soa_changes::Changed;
    use super::{ActivationReason as R, DesiredRead, FULL_REREAD_EVERY, desired_read};

    fn changed(all: bool, services: &[&str]) -> Changed {
        Changed {
            all,
            services: services.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn desired_state_is_read_as_little_as_the_changes_and_the_safety_net_allow() {
        let fresh = Some(("ctx", Duration::from_secs(1)));
        let old = Some(("ctx", FULL_REREAD_EVERY));
        let none = || changed(false, &[]);
        assert_eq!(
            desired_read(None, "ctx", none(), R::Startup),
            DesiredRead::Full
        );
        assert_eq!(
            desired_read(Some(("other", Duration::ZERO)), "ctx", none(), R::Periodic),
            DesiredRead::Reread,
            "another cluster, system config or slave attributes"
        );
        assert_eq!(
            desired_read(fresh, "ctx", none(), R::Periodic),
            DesiredRead::Cached
        );
        assert_eq!(
            desired_read(fresh, "ctx", changed(false, &["web"]), R::FilesChanged),
            DesiredRead::Update(BTreeSet::from(["web".to_string()]))
        );
        assert_eq!(
            desired_read(fresh, "ctx", changed(true, &[]), R::FilesChanged),
            DesiredRead::Reread,
            "the watcher asked for everything"
        );
        assert_eq!(
            desired_read(old, "ctx", none(), R::Periodic),
            DesiredRead::Reread,
            "the safety net is due"
        );
        for reason in [R::FilesChanged, R::MarathonChanged, R::OnDemand, R::Startup] {
            assert_eq!(
                desired_read(old, "ctx", changed(false, &["web"]), reason),
                DesiredRead::Update(BTreeSet::from(["web".to_string()])),
                "{reason:?}: a change is not held up by the safety net"
            );
            assert_eq!(
                desired_read(old, "ctx", none(), reason),
                DesiredRead::Cached
            );
        }
    }
}
