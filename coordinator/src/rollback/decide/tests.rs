//! Table tests of the rollback decision: each case is a sequence of passes (seconds since the
//! start, the observation, the pass context) and the decisions expected after the last one.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use galley_common::bounce_failure::BounceFailure;

use super::*;

const OLD: &str = "1111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("time")
}

fn policy(secs: u64) -> RollbackPolicy {
    RollbackPolicy {
        on_failure: BounceFailure::Rollback,
        timeout: Duration::from_secs(secs),
    }
}

/// web.main of group `prod.main`, 3 tasks, running `sha` as its only app with `happy` tasks.
fn steady(sha: &str, happy: u32) -> InstanceObservation {
    InstanceObservation {
        key: ("web".into(), "main".into()),
        deploy_group: "prod.main".into(),
        policy: policy(60),
        desired_app: format!("/web.main.git{}.configaaaa", &sha[..8]),
        desired_sha: sha.into(),
        desired_instances: 3,
        new_app_happy: Some(happy),
        only_app: true,
        healthy_old_shas: vec![],
        launch_delay: None,
        evidence: vec!["3 task(s) failing health checks".into()],
        paused: false,
    }
}

/// A bounce from OLD (still running, healthy) to NEW with `happy` new tasks.
fn bouncing(happy: u32) -> InstanceObservation {
    InstanceObservation {
        only_app: false,
        healthy_old_shas: vec![OLD[..8].to_owned()],
        ..steady(NEW, happy)
    }
}

fn ctx(at: i64) -> PassContext {
    PassContext {
        now: t0() + TimeDelta::seconds(at),
        frozen: false,
        leading: true,
        dry_run: false,
    }
}

fn run(passes: &[(PassContext, Vec<InstanceObservation>)]) -> (RollbackState, Vec<Decision>) {
    let mut state = RollbackState::default();
    let mut last = Vec::new();
    for (c, obs) in passes {
        last = decide(&mut state, *c, obs);
    }
    (state, last)
}

/// The single rollback of `decisions`, or a panic naming what there was.
fn rollback_of(decisions: &[Decision]) -> &Rollback {
    match decisions {
        [Decision::Rollback(r)] => r,
        other => panic!("expected one rollback, got {other:?}"),
    }
}

#[test]
fn a_new_version_without_a_happy_task_is_rolled_back_after_the_timeout_not_before() {
    let (_, before) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(10), vec![bouncing(0)]),
        (ctx(69), vec![bouncing(0)]),
    ]);
    assert_eq!(before, vec![], "59 s of 60 watched");
    let (_, after) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(10), vec![bouncing(0)]),
        (ctx(70), vec![bouncing(0)]),
    ]);
    let r = rollback_of(&after);
    assert_eq!(
        r.to,
        Some(Target::Sha(OLD.into())),
        "the last healthy sha, in full"
    );
    assert_eq!(r.from_sha, NEW);
    assert_eq!(r.deploy_group, "prod.main");
    assert_eq!(
        r.trigger,
        Trigger::Timeout {
            waited: Duration::from_secs(60)
        }
    );
    assert_eq!(
        r.evidence,
        vec!["3 task(s) failing health checks".to_owned()]
    );
}

#[test]
fn the_target_comes_from_the_old_app_when_nothing_was_seen_healthy() {
    // A coordinator that starts mid-bounce knows only the old app's 8-char sha.
    let (_, d) = run(&[(ctx(0), vec![bouncing(0)]), (ctx(60), vec![bouncing(0)])]);
    assert_eq!(rollback_of(&d).to, Some(Target::Prefix(OLD[..8].into())));
}

#[test]
fn a_happy_new_task_ends_the_watch_and_a_later_crash_starts_a_new_one() {
    let passes = [
        (ctx(0), vec![bouncing(0)]),
        (ctx(50), vec![bouncing(1)]),
        (ctx(70), vec![bouncing(0)]),
        (ctx(120), vec![bouncing(0)]),
    ];
    let (state, d) = run(&passes);
    assert_eq!(d, vec![], "watched again from 70 s only");
    assert_eq!(
        state.watched_since(&("web".into(), "main".into())),
        Some(t0() + TimeDelta::seconds(70))
    );
    let (_, d) = run(&[
        passes[0].clone(),
        passes[1].clone(),
        passes[2].clone(),
        (ctx(130), vec![bouncing(0)]),
    ]);
    assert!(matches!(d[..], [Decision::Rollback(_)]), "{d:?}");
}

#[test]
fn marathon_backing_off_past_the_deadline_rolls_back_early() {
    let delayed = |secs| InstanceObservation {
        launch_delay: Some(Duration::from_secs(secs)),
        ..bouncing(0)
    };
    // Next launch 40 s after 10 s of watching: before the 60 s deadline, keep waiting.
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(5), vec![bouncing(0)]),
        (ctx(15), vec![delayed(40)]),
    ]);
    assert_eq!(d, vec![]);
    // Next launch 50 s after 10 s: at the deadline, nothing can be happy in time.
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(5), vec![bouncing(0)]),
        (ctx(15), vec![delayed(50)]),
    ]);
    assert_eq!(
        rollback_of(&d).trigger,
        Trigger::Backoff {
            waited: Duration::from_secs(10),
            next_launch_in: Duration::from_secs(50)
        }
    );
}

#[test]
fn nothing_is_rolled_back_while_frozen_or_paused_and_held_time_does_not_count() {
    let frozen = PassContext {
        frozen: true,
        ..ctx(100)
    };
    let paused = InstanceObservation {
        paused: true,
        ..bouncing(0)
    };
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (frozen, vec![bouncing(0)]),
    ]);
    assert_eq!(d, vec![], "frozen");
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (ctx(100), vec![paused.clone()]),
    ]);
    assert_eq!(d, vec![], "paused");
    // Unfrozen at 100 s: watched again from there, a full timeout.
    let (_, d) = run(&[
        (ctx(1), vec![bouncing(0)]),
        (frozen, vec![bouncing(0)]),
        (ctx(101), vec![bouncing(0)]),
        (ctx(159), vec![bouncing(0)]),
    ]);
    assert_eq!(d, vec![]);
    let (_, d) = run(&[
        (ctx(1), vec![bouncing(0)]),
        (ctx(100), vec![paused]),
        (ctx(101), vec![bouncing(0)]),
        (ctx(161), vec![bouncing(0)]),
    ]);
    assert!(matches!(d[..], [Decision::Rollback(_)]), "{d:?}");
}

#[test]
fn followers_and_dry_runs_hold_and_say_so_once() {
    let follower = |at| PassContext {
        leading: false,
        ..ctx(at)
    };
    let (mut state, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (follower(61), vec![bouncing(0)]),
    ]);
    assert!(
        matches!(
            &d[..],
            [Decision::Held {
                reason: HoldReason::NotLeader,
                ..
            }]
        ),
        "{d:?}"
    );
    assert_eq!(
        decide(&mut state, follower(62), &[bouncing(0)]),
        vec![],
        "said once"
    );
    // The follower kept the memory: once it leads, it rolls back at once, to the full sha.
    let d = decide(&mut state, ctx(63), &[bouncing(0)]);
    assert_eq!(rollback_of(&d).to, Some(Target::Sha(OLD.into())));

    let dry = PassContext {
        dry_run: true,
        ..ctx(61)
    };
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (dry, vec![bouncing(0)]),
    ]);
    assert!(
        matches!(
            &d[..],
            [Decision::Held {
                reason: HoldReason::DryRun,
                ..
            }]
        ),
        "{d:?}"
    );
}

#[test]
fn a_sha_is_never_rolled_back_twice_in_a_row() {
    let (mut state, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (ctx(61), vec![bouncing(0)]),
    ]);
    state.rolled_back(rollback_of(&d));
    // Git has not caught up yet: NEW is still desired. Nothing to say.
    assert_eq!(decide(&mut state, ctx(62), &[bouncing(0)]), vec![]);
    assert_eq!(decide(&mut state, ctx(63), &[bouncing(0)]), vec![]);
    // Back on OLD, healthy; someone marks NEW again and it fails again: still held.
    decide(&mut state, ctx(70), &[steady(OLD, 3)]);
    decide(&mut state, ctx(80), &[bouncing(0)]);
    let d = decide(&mut state, ctx(140), &[bouncing(0)]);
    assert!(
        matches!(
            &d[..],
            [Decision::Held {
                reason: HoldReason::AlreadyRolledBack,
                ..
            }]
        ),
        "{d:?}"
    );
}

#[test]
fn no_target_no_rollback_and_never_to_the_failing_sha() {
    // Nothing healthy ever seen, no old app: held.
    let alone = InstanceObservation {
        only_app: true,
        ..bouncing(0)
    };
    let alone = InstanceObservation {
        healthy_old_shas: vec![],
        ..alone
    };
    let (_, d) = run(&[(ctx(0), vec![alone.clone()]), (ctx(60), vec![alone])]);
    assert!(
        matches!(&d[..], [Decision::Held { reason: HoldReason::NoHealthyVersion, rollback }] if rollback.to.is_none()),
        "{d:?}"
    );
    // A config change on the same sha: the healthy sha is the failing one.
    let config_change = InstanceObservation {
        desired_app: format!("/web.main.git{}.configbbbb", &OLD[..8]),
        desired_sha: OLD.into(),
        healthy_old_shas: vec![OLD[..8].into()],
        ..bouncing(0)
    };
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![config_change.clone()]),
        (ctx(61), vec![config_change]),
    ]);
    assert!(
        matches!(
            &d[..],
            [Decision::Held {
                reason: HoldReason::NoHealthyVersion,
                ..
            }]
        ),
        "{d:?}"
    );
}

#[test]
fn wait_policies_stopped_instances_and_missing_apps_are_never_watched() {
    let wait = InstanceObservation {
        policy: RollbackPolicy {
            on_failure: BounceFailure::Wait,
            ..policy(60)
        },
        ..bouncing(0)
    };
    let stopped = InstanceObservation {
        desired_instances: 0,
        ..bouncing(0)
    };
    let not_created = InstanceObservation {
        new_app_happy: None,
        ..bouncing(0)
    };
    for o in [wait, stopped, not_created] {
        let (state, d) = run(&[
            (ctx(0), vec![steady(OLD, 3)]),
            (ctx(1), vec![o.clone()]),
            (ctx(1000), vec![o.clone()]),
        ]);
        assert_eq!(d, vec![], "{o:?}");
        assert_eq!(state.watched_since(&o.key), None);
    }
}

#[test]
fn a_new_desired_app_restarts_the_watch_and_one_group_gets_one_tag() {
    let newer = InstanceObservation {
        desired_app: "/web.main.git33333333.configaaaa".into(),
        desired_sha: "3".repeat(40),
        ..bouncing(0)
    };
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0)]),
        (ctx(50), vec![newer.clone()]),
        (ctx(100), vec![newer.clone()]),
    ]);
    assert_eq!(d, vec![], "watched from 50 s");
    // Two instances of one group fail in the same pass: one tag.
    let canary = InstanceObservation {
        key: ("web".into(), "canary".into()),
        ..bouncing(0)
    };
    let (_, d) = run(&[
        (ctx(0), vec![steady(OLD, 3)]),
        (ctx(1), vec![bouncing(0), canary.clone()]),
        (ctx(61), vec![bouncing(0), canary]),
    ]);
    assert_eq!(d.len(), 1, "{d:?}");
}

#[test]
fn the_last_healthy_sha_needs_the_only_app_with_every_task_happy() {
    let mut state = RollbackState::default();
    let group = ("web".to_owned(), "prod.main".to_owned());
    decide(&mut state, ctx(0), &[steady(OLD, 2)]);
    assert_eq!(state.last_healthy(&group), None, "2 of 3 happy");
    decide(&mut state, ctx(1), &[bouncing(3)]);
    assert_eq!(state.last_healthy(&group), None, "not the only app");
    decide(&mut state, ctx(2), &[steady(OLD, 3)]);
    assert_eq!(state.last_healthy(&group), Some(OLD));
}

#[test]
fn last_healthy_shas_are_kept_per_group_of_a_service() {
    let mut state = RollbackState::default();
    state.healthy("web", "b", "sha-b");
    state.healthy("web", "a", "sha-a");
    state.healthy("web", "c", "sha-c");
    state.healthy("api", "a", "sha-api");
    state.healthy("web", "a", "sha-a2");
    assert_eq!(state.last_healthy_of("web", "a"), Some("sha-a2"));
    assert_eq!(state.last_healthy_of("web", "b"), Some("sha-b"));
    assert_eq!(state.last_healthy_of("web", "c"), Some("sha-c"));
    assert_eq!(state.last_healthy_of("api", "a"), Some("sha-api"));
    assert_eq!(state.last_healthy_of("api", "b"), None);
    assert_eq!(
        state.last_healthy(&("web".to_string(), "b".to_string())),
        Some("sha-b")
    );
}
