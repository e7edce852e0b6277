//! Domain → protobuf conversions of the operator API (the only place that builds `galley.v1`
//! messages from coordinator types, and parses protobuf enums back).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use galley_common::observed::{ObservedApp, ObservedTask};
use galley_common::replication::ReplicationReport;
use galley_proto::v1 as pb;

use crate::agents::{AgentStatus, ContainerObs, ContainerState, Finding, ReaperMode};
use crate::deploy_log::DeployEvent;
use crate::plan::{DesiredInstance, InstancePlan, Plan, is_happy};
use crate::reconciler::{PassRecord, PassStatus};

use super::view::Key;

/// RFC 3339, UTC, milliseconds.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The Marathon view's health, as `GetStatus` reports it.
pub fn marathon_view(s: &crate::observed::view::ViewStatus) -> pb::MarathonViewStatus {
    pb::MarathonViewStatus {
        complete: s.complete,
        apps: u32::try_from(s.apps).unwrap_or(u32::MAX),
        pending: u32::try_from(s.pending).unwrap_or(u32::MAX),
        last_resync: s.last_resync.map(timestamp).unwrap_or_default(),
        seconds_since_resync: s.since_resync.map(|d| d.as_secs_f64()).unwrap_or_default(),
        lists: s.lists,
        fetches: s.fetches,
        events: s.events,
        breaks: s.breaks,
    }
}

/// Milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A pass record's summary.
pub fn pass_summary(record: &PassRecord) -> pb::PassSummary {
    use pb::PassOutcome as O;
    let (outcome, detail) = match &record.status {
        PassStatus::UpToDate => (O::UpToDate, "nothing to do".to_owned()),
        PassStatus::Progressing { bouncing } => (
            O::Progressing,
            format!("{bouncing} bounce(s) in flight, nothing to do this pass"),
        ),
        PassStatus::Applied {
            actions,
            failed,
            waiting,
        } => (
            O::Applied,
            format!("{actions} action(s) applied, {failed} instance(s) failed, {waiting} waiting"),
        ),
        PassStatus::DryRun { actions } => {
            (O::DryRun, format!("dry run: {actions} action(s) planned"))
        }
        PassStatus::Frozen { reason } => (O::Frozen, format!("frozen: {reason}")),
        PassStatus::Follower { leader, actions } => (
            O::Follower,
            format!("follower (leader: {leader}): {actions} action(s) planned, none applied"),
        ),
        PassStatus::LeaderGrace { actions } => (
            O::LeaderGrace,
            format!("new leader in its grace period: {actions} action(s) planned, none applied"),
        ),
        PassStatus::LostLeadership => (
            O::LostLeadership,
            "leadership lost mid-pass: pass abandoned".to_owned(),
        ),
        PassStatus::FailedReadingSystemConfig(e) => (O::FailedSystemConfig, e.clone()),
        PassStatus::FailedReadingMesos(e) => (O::FailedMesos, e.clone()),
        PassStatus::FailedReadingMarathon(e) => (O::FailedMarathon, e.clone()),
    };
    pb::PassSummary {
        generation: record.generation,
        reason: record.reason.label().to_owned(),
        started_at: timestamp(record.started_at),
        duration_ms: millis(record.duration),
        outcome: outcome as i32,
        detail,
        steps: record.snapshot.steps.to_string(),
        apps_source: match record.snapshot.apps_source {
            crate::reconciler::AppsSource::View => "view",
            crate::reconciler::AppsSource::List => "list",
        }
        .to_owned(),
    }
}

/// `.git<sha8>.config<hash8>` parts of an app id.
fn id_parts(app_id: &str) -> (String, String) {
    let mut sha = String::new();
    let mut hash = String::new();
    for part in app_id.trim_start_matches('/').split('.') {
        if let Some(s) = part.strip_prefix("git") {
            sha = s.to_owned();
        } else if let Some(h) = part.strip_prefix("config") {
            hash = h.to_owned();
        }
    }
    (sha, hash)
}

/// One instance, desired vs observed, its apps and tasks at `now` (pause, freeze, last error,
/// deploy group, backoff and replication are filled in by callers).
pub fn instance_status(
    key: &Key,
    desired: Option<&DesiredInstance>,
    plan: Option<&InstancePlan>,
    apps: &[std::sync::Arc<ObservedApp>],
    generation: u64,
    now: DateTime<Utc>,
) -> pb::InstanceStatus {
    let mut s = pb::InstanceStatus {
        service: key.0.clone(),
        instance: key.1.clone(),
        generation,
        ..Default::default()
    };
    if let Some(d) = desired {
        let (sha8, hash) = id_parts(&d.app_id);
        s.desired_app_id = d.app_id.clone();
        s.git_sha = d.app.git_sha().map_or(sha8, str::to_owned);
        s.config_hash = hash;
        s.desired_state = if d.instances == 0 {
            pb::DesiredState::Stop
        } else {
            pb::DesiredState::Start
        } as i32;
        s.bounce_method = d.bounce_method.as_str().to_owned();
        s.tasks_expected = d.instances;
    }
    let happy_params = desired.map(|d| d.happy).unwrap_or_default();
    for app in apps {
        let is_desired = desired.is_some_and(|d| d.app_id == app.id);
        let tasks: Vec<pb::TaskStatus> = app
            .tasks
            .iter()
            .map(|t| task(app, t, is_happy(app, t, happy_params, now)))
            .collect();
        let happy = tasks.iter().filter(|t| t.happy).count() as u32;
        if is_desired {
            s.tasks_happy = happy;
        }
        s.tasks_running += app.tasks_running;
        s.tasks_healthy += app.tasks_healthy;
        s.apps.push(pb::AppStatus {
            app_id: app.id.clone(),
            instances: app.instances,
            tasks_running: app.tasks_running,
            tasks_healthy: app.tasks_healthy,
            tasks_staged: app.tasks_staged,
            deployments: u32::try_from(app.deployments.len()).unwrap_or(u32::MAX),
            desired: is_desired,
            tasks_happy: happy,
            has_health_checks: app.has_health_checks,
            last_task_failure: app
                .last_task_failure
                .as_ref()
                .map(|f| {
                    format!(
                        "{} on {} at {}: {}",
                        f.state, f.host, f.timestamp, f.message
                    )
                })
                .unwrap_or_default(),
        });
        s.tasks.extend(tasks);
    }
    let state = match (desired, plan) {
        (None, _) => pb::BounceState::NotPlanned,
        (Some(_), Some(p)) if !p.waiting_on.is_empty() => pb::BounceState::Waiting,
        (Some(_), Some(p)) if p.bouncing || !p.actions.is_empty() => pb::BounceState::Bouncing,
        (Some(_), _) => pb::BounceState::Steady,
    };
    s.bounce_state = state as i32;
    if let Some(p) = plan {
        s.bounce_progress = p.progress_line().map(|l| l.to_string()).unwrap_or_default();
        s.planned_actions = p.actions.iter().map(ToString::to_string).collect();
    }
    s
}

/// One task of `app`.
fn task(app: &ObservedApp, t: &ObservedTask, happy: bool) -> pb::TaskStatus {
    let health = if !app.has_health_checks {
        pb::TaskHealth::NoChecks
    } else if t.health_results.is_empty() {
        pb::TaskHealth::Unknown
    } else if t.health_results.iter().any(|alive| *alive) {
        pb::TaskHealth::Healthy
    } else {
        pb::TaskHealth::Unhealthy
    };
    pb::TaskStatus {
        task_id: t.id.clone(),
        app_id: app.id.clone(),
        host: t.host.clone(),
        state: t.state.as_deref().unwrap_or_default().to_owned(),
        staged_at: t.staged_at.map(timestamp).unwrap_or_default(),
        started_at: t.started_at.map(timestamp).unwrap_or_default(),
        health: health as i32,
        happy,
    }
}

/// One replication check.
pub fn replication_entry(key: &Key, r: &ReplicationReport) -> pb::ReplicationEntry {
    pb::ReplicationEntry {
        service: key.0.clone(),
        instance: key.1.clone(),
        available: r.available,
        expected: r.expected,
        percent: r.percent,
        under_replicated: r.is_under_replicated(),
        output: r.alert_output(),
    }
}

/// The plan of a pass (per-instance holds are filled in by callers).
pub fn plan(plan: &Plan, generation: u64) -> pb::GetPlanResponse {
    pb::GetPlanResponse {
        instances: plan
            .instances
            .iter()
            .filter(|p| !p.actions.is_empty() || !p.waiting_on.is_empty())
            .map(|p| pb::InstancePlan {
                service: p.service.clone(),
                instance: p.instance.clone(),
                actions: p.actions.iter().map(ToString::to_string).collect(),
                waiting_on: p.waiting_on.iter().cloned().collect(),
                held_because: String::new(),
            })
            .collect(),
        cleanup: plan
            .cleanup
            .actions
            .iter()
            .map(ToString::to_string)
            .collect(),
        cleanup_refused: plan
            .cleanup
            .refused
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        text: plan.to_string(),
        generation,
    }
}

/// Reaper mode to protobuf.
pub fn reaper_mode(mode: ReaperMode) -> pb::ReaperMode {
    match mode {
        ReaperMode::Report => pb::ReaperMode::Report,
        ReaperMode::Enforce => pb::ReaperMode::Enforce,
    }
}

/// Reaper mode from protobuf (`None` for UNSPECIFIED or unknown numbers).
pub fn reaper_mode_from(raw: i32) -> Option<ReaperMode> {
    match pb::ReaperMode::try_from(raw).ok()? {
        pb::ReaperMode::Report => Some(ReaperMode::Report),
        pb::ReaperMode::Enforce => Some(ReaperMode::Enforce),
        pb::ReaperMode::Unspecified => None,
    }
}

/// One agent (container counts from its inventory).
pub fn agent(a: &AgentStatus, running: usize, now: DateTime<Utc>) -> pb::AgentInfo {
    let last = chrono::TimeDelta::from_std(a.since_last_message).unwrap_or_default();
    pb::AgentInfo {
        host: a.identity.hostname.clone(),
        connected: a.connected,
        fresh: a.fresh,
        last_heartbeat: timestamp(now - last),
        containers: u32::try_from(a.containers).unwrap_or(u32::MAX),
        containers_running: u32::try_from(running).unwrap_or(u32::MAX),
        version: a.identity.version.clone(),
        mesos_slave_id: a.identity.mesos_slave_id.clone(),
    }
}

/// Docker's name of a state.
pub fn container_state(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Unknown => "unknown",
        ContainerState::Created => "created",
        ContainerState::Running => "running",
        ContainerState::Paused => "paused",
        ContainerState::Restarting => "restarting",
        ContainerState::Removing => "removing",
        ContainerState::Exited => "exited",
        ContainerState::Dead => "dead",
    }
}

/// One container of an inventory.
pub fn container(c: &ContainerObs) -> pb::ContainerInfo {
    pb::ContainerInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        state: container_state(c.state).to_owned(),
        image: c.image.clone(),
        task_id: c.task_ids().next().unwrap_or_default().to_owned(),
        marathon_app_id: c.marathon_app_id.clone().unwrap_or_default(),
        created_at: timestamp(DateTime::from_timestamp_nanos(c.created_unix_nanos)),
    }
}

/// One reaper finding.
pub fn orphan(f: &Finding) -> pb::Orphan {
    pb::Orphan {
        host: f.host.clone(),
        container_id: f.target.container_id.clone(),
        container_name: f.target.name.clone(),
        task_id: f.task_id.clone().unwrap_or_default(),
        reason: f.reason.name().to_owned(),
        hold: f.hold.map(|h| h.name().to_owned()).unwrap_or_default(),
        sightings: f.sightings,
    }
}

/// One deploy-log event.
pub fn event(e: &DeployEvent) -> pb::Event {
    pb::Event {
        timestamp: e.timestamp.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        level: e.level.as_str().to_owned(),
        cluster: e.cluster.clone(),
        service: e.service.clone(),
        instance: e.instance.clone(),
        component: e.component.as_str().to_owned(),
        message: e.message.clone(),
    }
}
