//! The memo never changes a plan: property tests against planning from scratch, and the
//! reuse it is for.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use galley_common::observed::{AppSnapshot, ObservedApp, ObservedTask};
use proptest::prelude::*;
use serde_json::json;

use super::super::{
    BounceMethod, CleanupPolicy, Desired, DesiredInstance, DrainKind, DrainState, HappyParams,
    Observed, Plan, plan, plan_with_memo,
};
use super::PlanMemo;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2016-06-01T12:00:00Z")
        .expect("ts")
        .with_timezone(&Utc)
}

fn desired(
    inst: &str,
    version: u8,
    instances: u32,
    method: u8,
    uptime: bool,
    hacheck: bool,
) -> DesiredInstance {
    let app_id = format!("/svc.{inst}.git{version}.config{version}");
    DesiredInstance {
        service: "svc".into(),
        instance: inst.into(),
        app: json!({ "id": app_id }).into(),
        app_id,
        instances,
        bounce_method: [
            BounceMethod::Crossover,
            BounceMethod::Brutal,
            BounceMethod::Upthendown,
            BounceMethod::Downthenup,
            BounceMethod::Down,
        ][usize::from(method % 5)],
        bounce_margin_factor: 1.0,
        happy: HappyParams {
            min_task_uptime: uptime.then_some(300.0),
        },
        drain: if hacheck {
            DrainKind::Hacheck
        } else {
            DrainKind::Noop
        },
        hacheck: None,
    }
}

/// A generated app: (version, instances, tasks as (started minutes before t0, healthy)).
type AppGen = (u8, u32, Vec<(Option<i64>, bool)>);

fn app(inst: &str, (version, instances, tasks): &AppGen, checks: bool) -> ObservedApp {
    let id = format!("/svc.{inst}.git{version}.config{version}");
    ObservedApp {
        tasks: tasks
            .iter()
            .enumerate()
            .map(|(n, (ago, healthy))| ObservedTask {
                id: format!("svc.{inst}.git{version}.config{version}.{n}"),
                host: "slave1".into(),
                started_at: ago.map(|m| t0() - Duration::minutes(m)),
                health_results: if checks { vec![*healthy] } else { vec![] },
                ..Default::default()
            })
            .collect(),
        id,
        instances: *instances,
        has_health_checks: checks,
        ..Default::default()
    }
}

fn app_gen() -> impl Strategy<Value = AppGen> {
    (
        0u8..2,
        0u32..4,
        prop::collection::vec((prop::option::of(0i64..20), any::<bool>()), 0..4),
    )
}

/// One instance's inputs for one pass: desired (version, count, method, uptime, hacheck), its
/// apps, whether each app is rebuilt (a new `Arc`) or kept from the last pass.
type InstanceGen = ((u8, u32, u8, bool, bool), Vec<AppGen>, bool);

fn instance_gen() -> impl Strategy<Value = InstanceGen> {
    (
        (0u8..2, 1u32..4, 0u8..5, any::<bool>(), any::<bool>()),
        prop::collection::vec(app_gen(), 0..3),
        any::<bool>(),
    )
}

fn plans_equal(a: &Plan, b: &Plan) -> bool {
    a.instances == b.instances && format!("{:?}", a.cleanup) == format!("{:?}", b.cleanup)
}

proptest! {
    /// Over a run of passes where apps change or stay (as shared `Arc`s), time moves on and
    /// drain states come and go, planning with the memo equals planning from scratch.
    #[test]
    fn the_memo_never_changes_a_plan(
        passes in prop::collection::vec(
            (prop::collection::vec(instance_gen(), 3), 0i64..15, any::<bool>(), any::<bool>()),
            1..6,
        ),
    ) {
        let names = ["a", "b", "c"];
        let mut memo = PlanMemo::new();
        let mut held: BTreeMap<String, Arc<ObservedApp>> = BTreeMap::new();
        let mut minutes = 0;
        for (instances, step, draining, checks) in passes {
            minutes += step;
            let mut ds: Vec<Arc<DesiredInstance>> = Vec::new();
            let mut apps: BTreeMap<String, Arc<ObservedApp>> = BTreeMap::new();
            for (name, ((v, n, m, up, hc), gens, rebuild)) in names.iter().zip(&instances) {
                ds.push(desired(name, *v, *n, *m, *up, *hc).into());
                for g in gens {
                    let fresh = Arc::new(app(name, g, checks));
                    let a = match held.get(&fresh.id) {
                        Some(old) if !rebuild => old.clone(),
                        _ => fresh,
                    };
                    apps.insert(a.id.clone(), a);
                }
            }
            held = apps.clone();
            let snapshot: AppSnapshot = Arc::new(apps.into_values().collect());
            let drain = snapshot
                .iter()
                .flat_map(|a| &a.tasks)
                .map(|t| (t.id.clone(), DrainState { draining, safe_to_kill: !draining }))
                .collect();
            let observed = Observed { apps: snapshot, drain, now: t0() + Duration::minutes(minutes) };
            let desired = Desired {
                configured: ds.iter().map(|d| (d.service.clone(), d.instance.clone())).collect(),
                instances: ds,
                complete: true,
                ..Desired::default()
            };
            let policy = CleanupPolicy { kill_threshold: 1.0, force: false };
            let fresh = plan(&desired, &observed, policy);
            let memoized = plan_with_memo(&desired, &observed, policy, &mut memo);
            prop_assert!(plans_equal(&fresh, &memoized), "fresh:\n{fresh:?}\nmemo:\n{memoized:?}");
        }
    }
}

#[test]
fn an_unchanged_settled_instance_is_reused_and_a_changed_app_is_planned_again() {
    let ds: Vec<DesiredInstance> = ["a", "b"]
        .iter()
        .map(|n| desired(n, 1, 2, 0, true, false))
        .collect();
    let healthy = |n: &str| {
        Arc::new(app(
            n,
            &(1, 2, vec![(Some(60), true), (Some(60), true)]),
            true,
        ))
    };
    let (a, b) = (healthy("a"), healthy("b"));
    let desired = Desired {
        configured: ds
            .iter()
            .map(|d| (d.service.clone(), d.instance.clone()))
            .collect(),
        instances: ds.into_iter().map(Arc::new).collect(),
        complete: true,
        ..Desired::default()
    };
    let observed = |apps: Vec<Arc<ObservedApp>>, minutes: i64| Observed {
        apps: Arc::new(apps),
        drain: BTreeMap::new(),
        now: t0() + Duration::minutes(minutes),
    };
    let policy = CleanupPolicy {
        kill_threshold: 1.0,
        force: false,
    };
    let mut memo = PlanMemo::new();
    plan_with_memo(
        &desired,
        &observed(vec![a.clone(), b.clone()], 0),
        policy,
        &mut memo,
    );
    assert_eq!((memo.last_reused, memo.last_planned), (0, 2));
    plan_with_memo(
        &desired,
        &observed(vec![a.clone(), b.clone()], 5),
        policy,
        &mut memo,
    );
    assert_eq!(
        (memo.last_reused, memo.last_planned),
        (2, 0),
        "nothing changed"
    );
    let b2 = healthy("b");
    plan_with_memo(
        &desired,
        &observed(vec![a.clone(), b2], 6),
        policy,
        &mut memo,
    );
    assert_eq!(
        (memo.last_reused, memo.last_planned),
        (1, 1),
        "b's app was fetched again"
    );
    // A task killed: b is short of a task, planned, and (still settled) kept again.
    let b3 = Arc::new(app("b", &(1, 2, vec![(Some(60), true)]), true));
    let p = plan_with_memo(&desired, &observed(vec![a, b3], 7), policy, &mut memo);
    assert_eq!((memo.last_reused, memo.last_planned), (1, 1));
    assert_eq!(memo.len(), 2);
    assert!(p.instances.iter().all(|i| i.actions.is_empty()));
}

/// Surplus tasks make a single-app instance unsettled: which task goes depends on the clock
/// (an unhappy task is shed first, and tasks become happy with uptime).
#[test]
fn an_instance_with_surplus_tasks_is_planned_every_pass() {
    let d = desired("a", 1, 1, 0, true, false);
    // Task 0 up 10 minutes (happy), task 1 up 2 minutes (not yet: min uptime 5 minutes).
    let a = Arc::new(app(
        "a",
        &(1, 3, vec![(Some(10), true), (Some(2), true)]),
        false,
    ));
    let desired = Desired {
        configured: [("svc".to_owned(), "a".to_owned())].into(),
        instances: vec![d.into()],
        complete: true,
        ..Desired::default()
    };
    let observed = |minutes: i64| Observed {
        apps: Arc::new(vec![a.clone()]),
        drain: BTreeMap::new(),
        now: t0() + Duration::minutes(minutes),
    };
    let policy = CleanupPolicy {
        kill_threshold: 1.0,
        force: false,
    };
    let mut memo = PlanMemo::new();
    let first = plan_with_memo(&desired, &observed(0), policy, &mut memo);
    let later = plan_with_memo(&desired, &observed(10), policy, &mut memo);
    assert!(plans_equal(&later, &plan(&desired, &observed(10), policy)));
    assert_ne!(
        first.instances, later.instances,
        "task 1 was shed first, then task 0"
    );
    assert_eq!(memo.last_reused, 0);
}

/// Found by `the_memo_never_changes_a_plan`: a hacheck instance's single app is not settled
/// while a drain state is known for its tasks (a draining task is put back).
#[test]
fn a_hacheck_instance_with_a_drain_state_is_planned_every_pass() {
    let d = desired("c", 1, 3, 0, false, true);
    let a = Arc::new(app("c", &(1, 1, vec![(Some(10), true)]), false));
    let desired = Desired {
        configured: [("svc".to_owned(), "c".to_owned())].into(),
        instances: vec![d.into()],
        complete: true,
        ..Desired::default()
    };
    let observed = |draining: Option<bool>| Observed {
        apps: Arc::new(vec![a.clone()]),
        drain: draining
            .map(|draining| {
                let state = DrainState {
                    draining,
                    safe_to_kill: !draining,
                };
                (a.tasks[0].id.clone(), state)
            })
            .into_iter()
            .collect(),
        now: t0(),
    };
    let policy = CleanupPolicy {
        kill_threshold: 1.0,
        force: false,
    };
    let mut memo = PlanMemo::new();
    for draining in [None, Some(true), Some(false), Some(true), None] {
        let o = observed(draining);
        let memoized = plan_with_memo(&desired, &o, policy, &mut memo);
        assert!(
            plans_equal(&memoized, &plan(&desired, &o, policy)),
            "{draining:?}"
        );
    }
    assert_eq!(
        memo.last_reused, 0,
        "the memo was dropped when drain states appeared"
    );
}
