//! The `status` screen, modelled on `paasta status`: a header for the coordinator, then one
//! block per instance — its state, desired and running versions, task counts, replication
//! verdict with its evidence, planned actions, rollback policy — and with `verbose` every task
//! with host, age and health. Pure: answers in, text out.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use galley_proto::v1 as pb;

/// How an instance stands, in the order the screen checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The cluster is frozen: nothing is applied.
    Frozen {
        /// The operator's reason.
        reason: String,
    },
    /// The instance is paused: nothing is applied to it.
    Paused {
        /// The operator's reason.
        reason: String,
        /// Who paused it.
        by: String,
    },
    /// A stop tag: zero tasks wanted.
    Stopped,
    /// No desired app (not deployed, invalid config).
    NotPlanned {
        /// Why.
        why: String,
    },
    /// The last apply failed, or Marathon delays the launches.
    BackingOff {
        /// Why.
        why: String,
    },
    /// A Marathon deployment holds the next steps.
    WaitingOnLock,
    /// More than one version, or actions planned.
    Bouncing {
        /// Bounce method.
        method: String,
        /// PaaSTA's progress line.
        progress: String,
    },
    /// One app, the desired one.
    Running,
}

impl State {
    /// One line: `Bouncing (crossover): …`.
    pub fn line(&self) -> String {
        match self {
            State::Frozen { reason } => format!("Frozen: {reason}"),
            State::Paused { reason, by } if by.is_empty() => format!("Paused: {reason}"),
            State::Paused { reason, by } => format!("Paused by {by}: {reason}"),
            State::Stopped => "Stopped".to_owned(),
            State::NotPlanned { why } => format!("Not planned: {why}"),
            State::BackingOff { why } => format!("Backing off: {why}"),
            State::WaitingOnLock => "Waiting on a Marathon deployment lock".to_owned(),
            State::Bouncing { method, progress } if progress.is_empty() => {
                format!("Bouncing ({method})")
            }
            State::Bouncing { method, progress } => format!("Bouncing ({method}): {progress}"),
            State::Running => "Running".to_owned(),
        }
    }

    fn colour(&self) -> Colour {
        match self {
            State::Running => Colour::Green,
            State::Stopped => Colour::Dim,
            State::NotPlanned { .. } => Colour::Red,
            _ => Colour::Yellow,
        }
    }
}

/// The instance's state.
pub fn state(i: &pb::InstanceStatus) -> State {
    if !i.frozen_reason.is_empty() {
        return State::Frozen {
            reason: i.frozen_reason.clone(),
        };
    }
    if !i.paused_reason.is_empty() {
        return State::Paused {
            reason: i.paused_reason.clone(),
            by: i.paused_by.clone(),
        };
    }
    let bounce = pb::BounceState::try_from(i.bounce_state).unwrap_or_default();
    if bounce == pb::BounceState::NotPlanned {
        return State::NotPlanned {
            why: i.last_error.clone(),
        };
    }
    if i.desired_state == pb::DesiredState::Stop as i32 {
        return State::Stopped;
    }
    if !i.backoff.is_empty() {
        return State::BackingOff {
            why: i.backoff.clone(),
        };
    }
    match bounce {
        pb::BounceState::Waiting => State::WaitingOnLock,
        pb::BounceState::Bouncing => State::Bouncing {
            method: i.bounce_method.clone(),
            progress: i.bounce_progress.clone(),
        },
        _ => State::Running,
    }
}

/// Whether the instance is CRITICAL: its replication check (as Sensu gets it) fails.
pub fn is_critical(i: &pb::InstanceStatus) -> bool {
    i.replication.as_ref().is_some_and(|r| r.under_replicated)
}

/// What the screen shows.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Every task.
    pub verbose: bool,
    /// ANSI colours (only on a terminal).
    pub colour: bool,
    /// Task ages are counted to this.
    pub now: DateTime<Utc>,
}

/// The whole screen: the coordinator's header, then each instance.
pub fn render(
    status: &pb::GetStatusResponse,
    instances: &[pb::InstanceStatus],
    o: Options,
) -> String {
    let mut out = header(status, o);
    for i in instances {
        out.push('\n');
        out.push_str(&instance(i, o));
    }
    if instances.is_empty() {
        out.push_str("\nno instance matches\n");
    }
    out
}

/// `Cluster C: coordinator ID (leader, term T), pass G …`.
pub fn header(s: &pb::GetStatusResponse, o: Options) -> String {
    let role = if s.leader {
        format!("leader, term {}", s.leader_term)
    } else {
        format!("follower; leader {}", s.leader_id)
    };
    let pass = match &s.last_pass {
        Some(p) => format!("pass {} at {}: {}", p.generation, p.started_at, p.detail),
        None => "no pass yet".to_owned(),
    };
    let mut out = format!(
        "Cluster {} (galley {}, {role}), {pass}\n",
        s.cluster, s.version
    );
    if !s.frozen_reason.is_empty() {
        let by = if s.frozen_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", s.frozen_by)
        };
        let line = format!("FROZEN{by}: {}", s.frozen_reason);
        out.push_str(&paint(&line, Colour::Yellow, o.colour));
        out.push('\n');
    }
    out
}

/// One instance's block.
pub fn instance(i: &pb::InstanceStatus, o: Options) -> String {
    let mut out = String::new();
    let group = if i.deploy_group.is_empty() {
        String::new()
    } else {
        format!(" (deploy group {})", i.deploy_group)
    };
    let _ = writeln!(out, "{}.{}{group}", i.service, i.instance);
    let st = state(i);
    field(&mut out, "State", &paint(&st.line(), st.colour(), o.colour));
    versions(&mut out, i);
    let new = if i.apps.len() > 1 {
        format!(" ({} of the new version happy)", i.tasks_happy)
    } else {
        String::new()
    };
    field(
        &mut out,
        "Tasks",
        &format!(
            "{} healthy / {} running / {} expected{new}",
            i.tasks_healthy, i.tasks_running, i.tasks_expected
        ),
    );
    if let Some(r) = &i.replication {
        replication(&mut out, r, o);
    }
    if !i.planned_actions.is_empty() {
        field(&mut out, "Planned", &i.planned_actions.join("; "));
    }
    if !i.bounce_failure.is_empty() {
        field(&mut out, "On failure", &i.bounce_failure);
    }
    if !i.last_error.is_empty() && !matches!(st, State::NotPlanned { .. }) {
        field(
            &mut out,
            "Last error",
            &paint(&i.last_error, Colour::Red, o.colour),
        );
    }
    if o.verbose {
        tasks(&mut out, i, o);
    }
    out
}

fn versions(out: &mut String, i: &pb::InstanceStatus) {
    if i.desired_app_id.is_empty() {
        field(out, "Desired", "none");
    } else {
        field(
            out,
            "Desired",
            &format!("git {}  {}", short(&i.git_sha), i.desired_app_id),
        );
    }
    if i.apps.is_empty() {
        field(out, "Running", "no app in Marathon");
    }
    for (n, a) in i.apps.iter().enumerate() {
        let mark = if a.desired { "  (desired)" } else { "" };
        let line = format!(
            "git {}  {}  {}/{} task(s), {} happy{mark}",
            short(&sha8_of(&a.app_id)),
            a.app_id,
            a.tasks_running,
            a.instances,
            a.tasks_happy
        );
        field(out, if n == 0 { "Running" } else { "" }, &line);
        if !a.last_task_failure.is_empty() {
            field(
                out,
                "",
                &format!("  last task failure: {}", a.last_task_failure),
            );
        }
    }
}

fn replication(out: &mut String, r: &pb::ReplicationEntry, o: Options) {
    let (verdict, colour) = if r.under_replicated {
        ("CRITICAL", Colour::Red)
    } else {
        ("OK", Colour::Green)
    };
    // PaaSTA's verdict (its first paragraph) and Galley's evidence; PaaSTA's advice in
    // between is for the alert's reader, not for this screen.
    let verdict_lines = r.output.lines().take_while(|l| !l.trim().is_empty());
    let evidence = r
        .output
        .lines()
        .skip_while(|l| l.trim() != "What Galley sees:")
        .filter(|l| !l.trim().is_empty());
    let mut lines = verdict_lines.chain(evidence);
    let first = lines.next().unwrap_or_default();
    field(
        out,
        "Replication",
        &format!("{} {first}", paint(verdict, colour, o.colour)),
    );
    for l in lines {
        field(out, "", &format!("  {}", l.trim()));
    }
}

fn tasks(out: &mut String, i: &pb::InstanceStatus, o: Options) {
    if i.tasks.is_empty() {
        field(out, "Task list", "none");
        return;
    }
    field(out, "Task list", "");
    for t in &i.tasks {
        let health = match pb::TaskHealth::try_from(t.health).unwrap_or_default() {
            pb::TaskHealth::Healthy => paint("healthy", Colour::Green, o.colour),
            pb::TaskHealth::Unhealthy => paint("unhealthy", Colour::Red, o.colour),
            pb::TaskHealth::Unknown => paint("no health result yet", Colour::Yellow, o.colour),
            pb::TaskHealth::NoChecks | pb::TaskHealth::Unspecified => "no health checks".to_owned(),
        };
        let age = match DateTime::parse_from_rfc3339(&t.started_at) {
            Ok(at) => format!("up {}", age(o.now - at.with_timezone(&Utc))),
            Err(_) => "not started".to_owned(),
        };
        let happy = if t.happy { ", happy" } else { "" };
        let _ = writeln!(
            out,
            "    {}  {}  {}  {age}  {health}{happy}",
            t.task_id, t.host, t.state
        );
    }
}

/// `1h02m`, `5m07s`, `12s`.
pub fn age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// The first 8 characters of a sha.
pub fn short(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// `<sha8>` of `/<svc>.<inst>.git<sha8>.config<hash8>`.
fn sha8_of(app_id: &str) -> String {
    app_id
        .trim_start_matches('/')
        .split('.')
        .find_map(|p| p.strip_prefix("git"))
        .unwrap_or_default()
        .to_owned()
}

fn field(out: &mut String, name: &str, value: &str) {
    let label = if name.is_empty() {
        String::new()
    } else {
        format!("{name}:")
    };
    let _ = writeln!(out, "  {label:<14}{value}");
}

/// ANSI colours of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    Green,
    Yellow,
    Red,
    Dim,
}

fn paint(text: &str, c: Colour, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match c {
        Colour::Green => "32",
        Colour::Yellow => "33",
        Colour::Red => "31",
        Colour::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests;
