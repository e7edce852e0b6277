//! The screen's states, verdicts and text.

use chrono::{DateTime, TimeDelta, Utc};
use galley_proto::v1 as pb;

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-06T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn running() -> pb::InstanceStatus {
    pb::InstanceStatus {
        service: "web".into(),
        instance: "main".into(),
        deploy_group: "norcal-prod.everything".into(),
        desired_app_id: "/web.main.git1a2b3c4d.config5f6a7b8c".into(),
        git_sha: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d".into(),
        desired_state: pb::DesiredState::Start as i32,
        bounce_method: "crossover".into(),
        bounce_state: pb::BounceState::Steady as i32,
        tasks_expected: 1,
        tasks_running: 1,
        tasks_healthy: 1,
        tasks_happy: 1,
        apps: vec![pb::AppStatus {
            app_id: "/web.main.git1a2b3c4d.config5f6a7b8c".into(),
            instances: 1,
            tasks_running: 1,
            tasks_healthy: 1,
            tasks_happy: 1,
            desired: true,
            has_health_checks: true,
            ..Default::default()
        }],
        tasks: vec![pb::TaskStatus {
            task_id: "web.main.git1a2b3c4d.config5f6a7b8c.t1".into(),
            app_id: "/web.main.git1a2b3c4d.config5f6a7b8c".into(),
            host: "mesos-agent-1".into(),
            state: "TASK_RUNNING".into(),
            started_at: "2026-01-06T11:54:48Z".into(),
            health: pb::TaskHealth::Healthy as i32,
            happy: true,
            ..Default::default()
        }],
        replication: Some(pb::ReplicationEntry {
            available: 1,
            expected: 1,
            output:
                "Service web.main has 1 out of 1 expected instances available! (threshold: 50%)"
                    .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn each_state_is_told_apart_in_the_screens_order() {
    let with = |f: &dyn Fn(&mut pb::InstanceStatus)| {
        let mut i = running();
        f(&mut i);
        state(&i).line()
    };
    assert_eq!(with(&|_| {}), "Running");
    assert_eq!(
        with(&|i| {
            i.bounce_state = pb::BounceState::Bouncing as i32;
            i.bounce_progress = "crossover bounce in progress on web.main".into();
        }),
        "Bouncing (crossover): crossover bounce in progress on web.main"
    );
    assert_eq!(
        with(&|i| i.bounce_state = pb::BounceState::Waiting as i32),
        "Waiting on a Marathon deployment lock"
    );
    assert_eq!(
        with(&|i| i.desired_state = pb::DesiredState::Stop as i32),
        "Stopped"
    );
    assert_eq!(
        with(&|i| i.backoff = "the last apply failed".into()),
        "Backing off: the last apply failed"
    );
    assert_eq!(
        with(&|i| {
            i.bounce_state = pb::BounceState::NotPlanned as i32;
            i.last_error = "invalid config: x".into();
        }),
        "Not planned: invalid config: x"
    );
    assert_eq!(
        with(&|i| {
            i.paused_reason = "debugging".into();
            i.paused_by = "alice".into();
            i.bounce_state = pb::BounceState::Bouncing as i32;
        }),
        "Paused by alice: debugging",
        "a pause wins over the bounce under it"
    );
    assert_eq!(
        with(&|i| {
            i.paused_reason = "debugging".into();
            i.frozen_reason = "incident".into();
        }),
        "Frozen: incident"
    );
}

#[test]
fn critical_is_the_replication_verdict() {
    let mut i = running();
    assert!(!is_critical(&i));
    i.replication.as_mut().unwrap().under_replicated = true;
    assert!(is_critical(&i));
    i.replication = None;
    assert!(!is_critical(&i), "no check (not planned): no verdict");
}

#[test]
fn the_block_shows_versions_counts_verdict_and_with_verbose_every_task() {
    let o = Options {
        verbose: false,
        colour: false,
        now: now(),
    };
    let text = instance(&running(), o);
    assert!(
        text.starts_with("web.main (deploy group norcal-prod.everything)\n"),
        "{text}"
    );
    for needle in [
        "  State:        Running\n",
        "  Desired:      git 1a2b3c4d  /web.main.git1a2b3c4d.config5f6a7b8c\n",
        "  Running:      git 1a2b3c4d  /web.main.git1a2b3c4d.config5f6a7b8c  1/1 task(s), 1 happy  (desired)\n",
        "  Tasks:        1 healthy / 1 running / 1 expected\n",
        "  Replication:  OK Service web.main has 1 out of 1 expected instances available!",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    assert!(!text.contains("mesos-agent-1"), "tasks only with -v");
    assert!(!text.contains('\x1b'), "no colour off a terminal");
    let verbose = instance(&running(), Options { verbose: true, ..o });
    assert!(
        verbose.contains("    web.main.git1a2b3c4d.config5f6a7b8c.t1  mesos-agent-1  TASK_RUNNING  up 5m12s  healthy, happy\n"),
        "{verbose}"
    );
    let coloured = instance(&running(), Options { colour: true, ..o });
    assert!(coloured.contains("\x1b[32mRunning\x1b[0m"), "{coloured}");
}

#[test]
fn evidence_lines_follow_a_critical_verdict() {
    let mut i = running();
    let r = i.replication.as_mut().unwrap();
    r.under_replicated = true;
    r.output = "Service web.main has 0 out of 1 expected instances available!\n(threshold: 50%)\n\nWhat this alert means:\n\n  This replication alert means...\n\nWhat Galley sees:\n\n  * 1 task(s) failing health checks, e.g. t1 on h1\n".into();
    let text = instance(
        &i,
        Options {
            verbose: false,
            colour: false,
            now: now(),
        },
    );
    assert!(
        text.contains("  Replication:  CRITICAL Service web.main has 0 out of 1"),
        "{text}"
    );
    assert!(
        text.contains("                  (threshold: 50%)\n")
            && !text.contains("What this alert means")
            && text.contains("                  What Galley sees:\n"),
        "{text}"
    );
    assert!(
        text.contains("                  * 1 task(s) failing health checks, e.g. t1 on h1\n"),
        "{text}"
    );
}

#[test]
fn the_header_names_the_cluster_the_leader_and_a_freeze() {
    let s = pb::GetStatusResponse {
        cluster: "norcal-prod".into(),
        version: "0.1.0".into(),
        leader: true,
        leader_term: 3,
        frozen_reason: "incident 4711".into(),
        frozen_by: "alice".into(),
        last_pass: Some(pb::PassSummary {
            generation: 42,
            started_at: "2026-01-06T11:59:58Z".into(),
            detail: "nothing to do".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let o = Options {
        verbose: false,
        colour: false,
        now: now(),
    };
    assert_eq!(
        header(&s, o),
        "Cluster norcal-prod (galley 0.1.0, leader, term 3), pass 42 at 2026-01-06T11:59:58Z: nothing to do\nFROZEN by alice: incident 4711\n"
    );
    assert!(render(&s, &[], o).ends_with("no instance matches\n"));
}

#[test]
fn ages_read_like_paasta_status() {
    assert_eq!(age(TimeDelta::seconds(12)), "12s");
    assert_eq!(age(TimeDelta::seconds(307)), "5m07s");
    assert_eq!(age(TimeDelta::seconds(3720)), "1h02m");
    assert_eq!(age(TimeDelta::seconds(-5)), "0s");
}
