//! Planner cases, most from PaaSTA's own tests (spec §8 items 22–33).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use galley_common::observed::{ObservedApp, ObservedTask};
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2016-06-01T12:00:00Z")
        .expect("ts")
        .with_timezone(&Utc)
}

fn task(id: &str, minutes_ago: Option<i64>, health: &[bool]) -> ObservedTask {
    ObservedTask {
        id: id.into(),
        started_at: minutes_ago.map(|m| now() - Duration::minutes(m)),
        health_results: health.to_vec(),
        host: "slave1".into(),
        ..Default::default()
    }
}

fn app(id: &str, instances: u32, tasks: Vec<ObservedTask>) -> ObservedApp {
    let tasks = tasks.into_iter().map(|t| ObservedTask { ..t }).collect();
    ObservedApp {
        id: id.into(),
        instances,
        tasks,
        ..Default::default()
    }
}

/// `n` happy (running 10 min, no checks) tasks named `<prefix>0..`.
fn happy_tasks(prefix: &str, n: usize) -> Vec<ObservedTask> {
    (0..n)
        .map(|i| task(&format!("{prefix}{i}"), Some(10), &[]))
        .collect()
}

/// `n` unhappy (not started) tasks.
fn unhappy_tasks(prefix: &str, n: usize) -> Vec<ObservedTask> {
    (0..n)
        .map(|i| task(&format!("{prefix}{i}"), None, &[]))
        .collect()
}

const NEW: &str = "/svc.main.gitnew.confignew";
const OLD: &str = "/svc.main.gitold.configold";

fn desired(method: BounceMethod, instances: u32) -> DesiredInstance {
    DesiredInstance {
        service: "svc".into(),
        instance: "main".into(),
        app_id: NEW.into(),
        app: json!({"id": NEW}).into(),
        instances,
        bounce_method: method,
        bounce_margin_factor: 1.0,
        happy: HappyParams::default(),
        drain: DrainKind::Noop,
        hacheck: None,
    }
}

fn observed(apps: Vec<ObservedApp>) -> Observed {
    Observed {
        apps: std::sync::Arc::new(apps.into_iter().map(std::sync::Arc::new).collect()),
        drain: Default::default(),
        now: now(),
    }
}

fn run(d: &DesiredInstance, o: &Observed) -> InstancePlan {
    let related: Vec<&ObservedApp> = o.apps.iter().map(|a| &**a).collect();
    plan_instance(d, &related, o)
}

fn actions(p: &InstancePlan) -> Vec<String> {
    p.actions.iter().map(ToString::to_string).collect()
}

fn killed(p: &InstancePlan) -> BTreeSet<String> {
    p.actions
        .iter()
        .flat_map(|a| match a {
            Action::KillTasks { task_ids, .. } => task_ids.clone(),
            _ => vec![],
        })
        .collect()
}

// --- §8 item 22: happy tasks ---

#[test]
fn happy_tasks_follow_health_results_and_min_uptime() {
    let no_checks = app("/a", 1, vec![]);
    let checks = ObservedApp {
        has_health_checks: true,
        ..app("/a", 1, vec![])
    };
    let p = HappyParams::default();
    assert!(
        is_happy(&no_checks, &task("t", Some(1), &[]), p, now()),
        "no checks, no results → happy"
    );
    assert!(
        !is_happy(&checks, &task("t", Some(1), &[]), p, now()),
        "checks defined, no results → unhappy"
    );
    assert!(
        is_happy(&checks, &task("t", Some(1), &[false, true]), p, now()),
        "one alive result suffices"
    );
    assert!(
        !is_happy(&checks, &task("t", Some(1), &[false, false]), p, now()),
        "all failing → unhappy"
    );
    assert!(
        !is_happy(&no_checks, &task("t", None, &[]), p, now()),
        "not started → unhappy"
    );
    let p = HappyParams {
        min_task_uptime: Some(121.0),
    };
    let happy: Vec<i64> = (0..5)
        .filter(|m| is_happy(&no_checks, &task("t", Some(*m), &[]), p, now()))
        .collect();
    assert_eq!(happy, vec![3, 4]);
}

// --- §8 items 23–27: bounce functions ---

fn decide_counts(
    method: BounceMethod,
    n: u32,
    new_running: bool,
    happy_new: usize,
    happy: &[usize],
    unhappy: &[usize],
    margin: f64,
) -> (bool, usize) {
    let mk = |counts: &[usize], tag: &str| -> TasksByApp {
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("/old{i}"),
                    (0..*c).map(|k| format!("{tag}{i}-{k}")).collect(),
                )
            })
            .collect()
    };
    let (h, u) = (mk(happy, "h"), mk(unhappy, "u"));
    let d = decide(
        method,
        BounceInput {
            instances: n,
            new_app_running: new_running,
            happy_new,
            old_happy: &h,
            old_unhappy: &u,
            margin_factor: margin,
        },
    );
    (d.create_app, d.tasks_to_drain.len())
}

#[test]
fn brutal_creates_and_drains_everything_old() {
    assert_eq!(
        decide_counts(BounceMethod::Brutal, 5, false, 0, &[], &[], 1.0),
        (true, 0)
    );
    assert_eq!(
        decide_counts(BounceMethod::Brutal, 5, true, 5, &[3], &[2], 1.0),
        (true, 5)
    );
    assert_eq!(
        decide_counts(BounceMethod::Brutal, 5, false, 0, &[5], &[], 1.0),
        (true, 5)
    );
}

#[test]
fn upthendown_drains_only_when_all_new_tasks_are_happy() {
    assert_eq!(
        decide_counts(BounceMethod::Upthendown, 5, true, 3, &[5], &[], 1.0),
        (true, 0)
    );
    assert_eq!(
        decide_counts(BounceMethod::Upthendown, 5, true, 5, &[5], &[1], 1.0),
        (true, 6)
    );
    assert_eq!(
        decide_counts(BounceMethod::Upthendown, 5, false, 0, &[5], &[], 1.0),
        (true, 0)
    );
}

#[test]
fn crossover_keeps_enough_happy_tasks() {
    let c = |happy_new, h: &[usize], u: &[usize]| {
        decide_counts(BounceMethod::Crossover, 5, true, happy_new, h, u, 1.0).1
    };
    assert_eq!(c(0, &[5], &[5]), 5, "drain exactly the 5 unhappy");
    assert_eq!(c(0, &[], &[2, 3]), 0);
    assert_eq!(c(0, &[], &[5, 5]), 5);
    assert_eq!(c(3, &[5], &[]), 3);
    assert_eq!(c(3, &[5], &[1]), 4);
    assert_eq!(c(3, &[2], &[5]), 5);
    assert_eq!(c(0, &[0], &[]), 0, "all old apps empty → nothing");
}

#[test]
fn crossover_margin_factor() {
    assert_eq!(
        decide_counts(BounceMethod::Crossover, 100, false, 0, &[100], &[], 0.95),
        (true, 5)
    );
    assert_eq!(
        decide_counts(
            BounceMethod::Crossover,
            500,
            true,
            100,
            &[300],
            &[100],
            0.95
        )
        .1,
        25
    );
    assert_eq!(
        decide_counts(BounceMethod::Crossover, 3, true, 0, &[3], &[], 0.66).1,
        1
    );
}

#[test]
fn downthenup_creates_only_once_no_old_app_is_left() {
    assert_eq!(
        decide_counts(BounceMethod::Downthenup, 5, false, 0, &[], &[], 1.0),
        (true, 0)
    );
    assert_eq!(
        decide_counts(BounceMethod::Downthenup, 5, false, 0, &[5], &[], 1.0),
        (false, 5)
    );
    assert_eq!(
        decide_counts(BounceMethod::Downthenup, 5, true, 5, &[], &[], 1.0),
        (false, 0)
    );
}

// --- whole-instance plans ---

#[test]
fn a_new_instance_is_created() {
    let p = run(&desired(BounceMethod::Crossover, 3), &observed(vec![]));
    assert_eq!(actions(&p), vec![format!("create {NEW}")]);
    assert!(p.bouncing);
    assert_eq!(
        p.progress_line().expect("bouncing").to_string(),
        "crossover bounce in progress on svc.main. New marathon app svc.main.gitnew.confignew \
         not created yet. 3 new tasks to bring up. 0 old tasks receiving traffic and happy. \
         0 old tasks unhappy. 0 old tasks draining. 0 old apps."
    );
    assert_eq!(p.actions.capacity(), 1, "no spare room kept per plan");
}

#[test]
fn steady_state_does_nothing() {
    let p = run(
        &desired(BounceMethod::Crossover, 3),
        &observed(vec![app(NEW, 3, happy_tasks("n", 3))]),
    );
    assert!(p.actions.is_empty() && !p.bouncing, "{p}");
}

#[test]
fn crossover_mid_bounce_kills_as_many_old_as_new_are_happy_and_deletes_the_emptied_old_app() {
    let mut new_tasks = happy_tasks("n", 2);
    new_tasks.extend(unhappy_tasks("s", 1));
    let o = observed(vec![
        app(NEW, 3, new_tasks),
        app(OLD, 3, happy_tasks("o", 3)),
    ]);
    let p = run(&desired(BounceMethod::Crossover, 3), &o);
    assert_eq!(
        killed(&p),
        ["o1", "o2"].map(String::from).into_iter().collect()
    );
    assert!(!actions(&p).iter().any(|a| a.starts_with("delete")));

    let o = observed(vec![
        app(NEW, 3, happy_tasks("n", 3)),
        app(OLD, 1, happy_tasks("o", 1)),
    ]);
    let p = run(&desired(BounceMethod::Crossover, 3), &o);
    assert_eq!(
        actions(&p),
        vec![format!("delete old app {OLD}")],
        "the last old task goes with its app"
    );
}

#[test]
fn scaling_up_the_new_app() {
    // §8 item 28 (first half).
    let p = run(
        &desired(BounceMethod::Crossover, 5),
        &observed(vec![app(NEW, 1, happy_tasks("n", 1))]),
    );
    assert_eq!(actions(&p), vec![format!("scale {NEW} to 5")]);
}

#[test]
fn scaling_down_sheds_surplus_tasks_of_the_new_app() {
    // §8 item 28 (second half): 5 happy tasks, desired 1 → 4 of them drained and killed.
    let p = run(
        &desired(BounceMethod::Crossover, 1),
        &observed(vec![app(NEW, 5, happy_tasks("n", 5))]),
    );
    assert_eq!(killed(&p).len(), 4);
    assert!(
        actions(&p).iter().all(|a| !a.starts_with("delete")),
        "the new app is never deleted"
    );
}

#[test]
fn scaling_down_prefers_draining_tasks_and_undrains_the_rest() {
    // §8 item 29: 5 tasks (0 healthy, 1–4 draining), desired 3 → 2 draining tasks killed, no
    // happy task picked, stop_draining on the other draining ones.
    let mut d = desired(BounceMethod::Crossover, 3);
    d.drain = DrainKind::Hacheck;
    let mut o = observed(vec![app(NEW, 5, happy_tasks("t", 5))]);
    for i in 1..5 {
        o.drain.insert(
            format!("t{i}"),
            DrainState {
                draining: true,
                safe_to_kill: true,
            },
        );
    }
    o.drain.insert("t0".into(), DrainState::default());
    let p = run(&d, &o);
    assert_eq!(
        killed(&p),
        ["t1", "t2"].map(String::from).into_iter().collect()
    );
    assert!(
        p.actions.contains(&Action::StopDraining {
            app_id: NEW.into(),
            task_ids: vec!["t3".into(), "t4".into()]
        }),
        "{p}"
    );
}

#[test]
fn stop_scales_the_same_app_to_zero_through_the_drain_path() {
    // desired_state stop: same id, instances 0.
    let p = run(
        &desired(BounceMethod::Crossover, 0),
        &observed(vec![app(NEW, 3, happy_tasks("n", 3))]),
    );
    assert_eq!(killed(&p).len(), 3);
    assert!(
        !actions(&p)
            .iter()
            .any(|a| a.starts_with("create") || a.starts_with("delete"))
    );
}

#[test]
fn hacheck_drains_first_and_kills_only_when_safe() {
    let mut d = desired(BounceMethod::Brutal, 1);
    d.drain = DrainKind::Hacheck;
    let o = observed(vec![
        app(NEW, 1, happy_tasks("n", 1)),
        app(OLD, 1, happy_tasks("o", 1)),
    ]);
    let p = run(&d, &o);
    assert_eq!(
        actions(&p),
        vec![format!("drain 1 task(s) of {OLD}")],
        "unknown drain state is never safe"
    );
    let mut o2 = o.clone();
    o2.drain.insert(
        "o0".into(),
        DrainState {
            draining: true,
            safe_to_kill: false,
        },
    );
    assert!(
        run(&d, &o2).actions.is_empty(),
        "draining, not yet safe: wait"
    );
    o2.drain.insert(
        "o0".into(),
        DrainState {
            draining: true,
            safe_to_kill: true,
        },
    );
    assert_eq!(
        actions(&run(&d, &o2)),
        vec![format!("delete old app {OLD}")]
    );
}

#[test]
fn a_never_healthy_new_app_stalls_crossover_without_killing_the_old_app() {
    let o = observed(vec![
        app(NEW, 3, unhappy_tasks("n", 3)),
        app(OLD, 3, happy_tasks("o", 3)),
    ]);
    let p = run(&desired(BounceMethod::Crossover, 3), &o);
    assert!(p.actions.is_empty() && p.bouncing, "{p}");
}

#[test]
fn apps_with_a_deployment_in_flight_are_not_scaled_or_killed_until_it_finishes() {
    let mut new_app = app(NEW, 1, happy_tasks("n", 1));
    new_app.deployments = vec!["dep-1".into()];
    let mut old = app(OLD, 3, happy_tasks("o", 3));
    old.deployments = vec!["dep-2".into()];
    let p = run(
        &desired(BounceMethod::Crossover, 3),
        &observed(vec![new_app, old]),
    );
    assert!(p.actions.is_empty(), "{p}");
    assert_eq!(
        p.waiting_on,
        [NEW, OLD].map(String::from).into_iter().collect()
    );
}

#[test]
fn downthenup_progresses_across_passes() {
    let d = desired(BounceMethod::Downthenup, 2);
    let p = run(&d, &observed(vec![app(OLD, 2, happy_tasks("o", 2))]));
    assert_eq!(
        actions(&p),
        vec![format!("delete old app {OLD}")],
        "all old tasks killed → app deleted, no create yet"
    );
    let p = run(&d, &observed(vec![]));
    assert_eq!(actions(&p), vec![format!("create {NEW}")]);
}

// --- cleanup, §8 items 31–33 ---

fn configured(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(s, i)| (s.to_string(), i.to_string()))
        .collect()
}

const POLICY: CleanupPolicy = CleanupPolicy {
    kill_threshold: 0.5,
    force: false,
};

#[test]
fn cleanup_deletes_only_unconfigured_instances_within_the_threshold() {
    let apps = vec![
        app("/present.away.gone.wtf", 1, vec![]),
        app("/on-app.off.stop.jrm", 1, vec![]),
        app("/not-here.oh.no.weirdo", 1, vec![]),
    ];
    let valid = configured(&[("present", "away"), ("on-app", "off")]);
    let p = plan_cleanup(&apps, &valid, &BTreeSet::new(), true, POLICY);
    assert_eq!(
        p.actions,
        vec![Action::DeleteApp {
            app_id: "/not-here.oh.no.weirdo".into(),
            reason: DeleteReason::Removed
        }]
    );

    let p = plan_cleanup(&apps, &BTreeSet::new(), &BTreeSet::new(), true, POLICY);
    assert!(p.actions.is_empty());
    assert!(matches!(
        p.refused,
        Some(CleanupRefusal::Threshold {
            would_delete: 3,
            parsed: 3,
            ..
        })
    ));
    assert!(
        p.refused
            .expect("refused")
            .to_string()
            .contains("this is probably a BAD mistake!")
    );

    let forced = plan_cleanup(
        &apps,
        &BTreeSet::new(),
        &BTreeSet::new(),
        true,
        CleanupPolicy {
            force: true,
            ..POLICY
        },
    );
    assert_eq!(forced.actions.len(), 3);
}

#[test]
fn cleanup_skips_non_conforming_ids_and_formats_underscores() {
    let apps = vec![
        app("/non_conforming_app", 1, vec![]),
        app(
            "/example--service.main.git93340779.configddb38a65",
            1,
            vec![],
        ),
    ];
    let p = plan_cleanup(
        &apps,
        &configured(&[("example_service", "main")]),
        &BTreeSet::new(),
        true,
        POLICY,
    );
    assert!(p.actions.is_empty() && p.refused.is_none());
    assert_eq!(p.skipped, vec!["/non_conforming_app".to_string()]);
    assert_eq!(
        parse_app_id("/example--service.main.git93340779.configddb38a65"),
        Some(ParsedAppId {
            service: "example_service".into(),
            instance: "main".into()
        })
    );
}

#[test]
fn cleanup_never_deletes_when_desired_state_is_incomplete_or_a_service_is_unreadable() {
    let apps = vec![
        app("/a.main", 1, vec![]),
        app("/b.main", 1, vec![]),
        app("/c.main", 1, vec![]),
    ];
    let valid = configured(&[("a", "main"), ("b", "main")]);
    let p = plan_cleanup(&apps, &valid, &BTreeSet::new(), false, POLICY);
    assert_eq!(
        (p.actions.len(), p.refused),
        (0, Some(CleanupRefusal::IncompleteDesiredState))
    );
    let unknown: BTreeSet<String> = ["c".to_string()].into();
    let p = plan_cleanup(&apps, &valid, &unknown, true, POLICY);
    assert!(p.actions.is_empty() && p.refused.is_none());
}

#[test]
fn whole_plan_matches_apps_by_prefix_with_the_trailing_dot() {
    let mut d = desired(BounceMethod::Brutal, 1);
    d.instance = "main".into();
    let desired_state = Desired {
        instances: vec![d.into()],
        configured: configured(&[("svc", "main"), ("svc", "main2")]),
        unknown_services: BTreeSet::new(),
        complete: true,
    };
    let o = observed(vec![
        app(NEW, 1, happy_tasks("n", 1)),
        app("/svc.main2.gitx.configy", 1, happy_tasks("m", 1)),
    ]);
    let p = plan(&desired_state, &o, POLICY);
    assert!(
        p.is_empty(),
        "svc.main2 is not an old version of svc.main:\n{p}"
    );
    assert_eq!(p.to_string(), "nothing to do\n");
}

/// PaaSTA's parse (`split('.')`, `--` → `_`, 2 or 4 parts), as the cleanup once wrote it.
fn paasta_parse(id: &str) -> Option<ParsedAppId> {
    let parts: Vec<String> = id
        .trim_start_matches('/')
        .split('.')
        .map(|p| p.replace("--", "_"))
        .collect();
    match parts.as_slice() {
        [s, i] | [s, i, _, _] => Some(ParsedAppId {
            service: s.clone(),
            instance: i.clone(),
        }),
        _ => None,
    }
}

proptest::proptest! {
    /// The byte-level split parses every id as PaaSTA's split does (dots, dashes, slashes and
    /// multi-byte characters mixed).
    #[test]
    fn app_ids_parse_as_paasta_splits_them(id in "[/a.é_-]{0,12}") {
        proptest::prop_assert_eq!(parse_app_id(&id), paasta_parse(&id));
    }
}

#[test]
fn apps_prefix_is_a_slice_of_the_app_id_or_built_when_it_is_not() {
    let mut d = desired(BounceMethod::Brutal, 1);
    d.service = "my_svc".into();
    d.instance = "main".into();
    d.app_id = "/my--svc.main.git12345678.configabcdef01".into();
    let prefix = d.apps_prefix();
    assert!(matches!(prefix, std::borrow::Cow::Borrowed(_)));
    assert_eq!(prefix, "/my--svc.main.");
    d.app_id = "/my_svc.main.git12345678.configabcdef01".into();
    let prefix = d.apps_prefix();
    assert!(matches!(prefix, std::borrow::Cow::Owned(_)), "{prefix}");
    assert_eq!(prefix, "/my--svc.main.");
    d.app_id = "/my--svc.ma".into();
    assert_eq!(d.apps_prefix(), "/my--svc.main.", "shorter than the prefix");
    d.instance = "é_".into();
    d.app_id = "/my--svc.é--.gitx".into();
    assert_eq!(d.apps_prefix(), "/my--svc.é--.");
}
