//! Planner tests: data-driven cases (one `check` helper calls the planner) and the property
//! that no plan ever orders a container whose task id is live.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use std::time::Instant;

use super::*;
use crate::orphans::model::ContainerState;

const HOUR: i64 = 3_600_000_000_000;
const NOW: i64 = 1_000 * HOUR;

fn c(id: &str, name: &str, task: Option<&str>, age_hours: i64) -> ContainerObs {
    ContainerObs {
        id: id.to_owned(),
        name: name.to_owned(),
        created_unix_nanos: NOW - age_hours * HOUR,
        started_unix_nanos: 0,
        state: ContainerState::Running,
        task_id_env: task.map(str::to_owned),
        task_id_label: None,
        marathon_app_id: None,
        image: "img".to_owned(),
    }
}

struct Case {
    hosts: Vec<HostSnapshot>,
    live: Vec<&'static str>,
    mesos_per_host: Vec<(&'static str, usize)>,
    view: bool,
    view_after_inventory: bool,
    previous_all: bool,
    global_budget: u32,
}

fn host(name: &str, containers: Vec<ContainerObs>) -> HostSnapshot {
    HostSnapshot {
        host: name.to_owned(),
        fresh: true,
        last_change: Instant::now(),
        containers,
    }
}

fn case(hosts: Vec<HostSnapshot>) -> Case {
    Case {
        mesos_per_host: hosts.iter().map(|h| (leak(&h.host), 1)).collect(),
        hosts,
        live: vec!["live"],
        view: true,
        view_after_inventory: true,
        previous_all: true,
        global_budget: 100,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Runs the planner on `case` and compares its `Display` with `expect`.
fn check(case: Case, expect: &str) {
    let base = Instant::now();
    let fetched_at = if case.view_after_inventory {
        base + Duration::from_secs(1)
    } else {
        base - Duration::from_secs(1)
    };
    let hosts: Vec<HostSnapshot> = case
        .hosts
        .into_iter()
        .map(|h| HostSnapshot {
            last_change: base,
            ..h
        })
        .collect();
    let view = ClusterView {
        fetched_at,
        live_task_ids: case.live.iter().map(|s| (*s).to_owned()).collect(),
        mesos_tasks_per_host: case
            .mesos_per_host
            .iter()
            .map(|(h, n)| ((*h).to_owned(), *n))
            .collect(),
    };
    let previous: Suspects = if case.previous_all {
        hosts
            .iter()
            .flat_map(|h| {
                h.containers.iter().map(|c| {
                    (
                        (h.host.clone(), c.id.clone(), c.created_unix_nanos),
                        seen_once_a_minute_ago(),
                    )
                })
            })
            .collect()
    } else {
        Suspects::new()
    };
    let limits = limits(0.5);
    let plan = plan_reap(&PlanInputs {
        now_unix_nanos: NOW,
        hosts: &hosts,
        view: case.view.then_some(&view),
        previous_suspects: &previous,
        in_flight: &BTreeSet::new(),
        limits: &limits,
        global_budget: case.global_budget,
        host_budget: &BTreeMap::new(),
        default_host_budget: 2,
    });
    assert_eq!(plan.to_string().trim(), expect.trim(), "\n{plan}");
}

/// One sighting, a minute before `NOW`.
fn seen_once_a_minute_ago() -> Sightings {
    Sightings {
        count: 1,
        last_unix_nanos: NOW - 60_000_000_000,
    }
}

/// The default limits: an hour's minimum age, two sightings 30 s apart.
fn limits(fraction: f64) -> PlanLimits {
    PlanLimits {
        min_age: Duration::from_secs(3600),
        max_fraction_per_host: fraction,
        grace_seconds: 10,
        sightings: 2,
        sighting_gap: Duration::from_secs(30),
    }
}

fn busy_host(name: &str, orphans: &[(&str, i64)]) -> HostSnapshot {
    let mut cs = vec![
        c("l1", "mesos-l1", Some("live"), 5),
        c("l2", "mesos-l2", Some("live"), 5),
        c("l3", "mesos-l3", Some("live"), 5),
    ];
    for (id, age) in orphans {
        cs.push(c(id, &format!("mesos-{id}"), Some("gone"), *age));
    }
    host(name, cs)
}

#[test]
fn old_orphan_seen_twice_is_reaped_and_live_task_is_not() {
    check(
        case(vec![busy_host("h1", &[("o1", 2)])]),
        "h1 mesos-o1 NO_SUCH_TASK REAP",
    );
}

#[test]
fn young_orphan_is_held() {
    check(
        case(vec![busy_host("h1", &[("o1", 0)])]),
        "h1 mesos-o1 NO_SUCH_TASK TOO_YOUNG",
    );
}

#[test]
fn first_observation_is_held() {
    let mut k = case(vec![busy_host("h1", &[("o1", 2)])]);
    k.previous_all = false;
    check(k, "h1 mesos-o1 NO_SUCH_TASK TOO_FEW_SIGHTINGS");
}

#[test]
fn containers_without_task_id_are_flagged_never_reaped_and_other_names_ignored() {
    let h = host(
        "h1",
        vec![
            c("l1", "mesos-l1", Some("live"), 5),
            c("n1", "mesos-n1", None, 5),
            c("x1", "postgres", Some("gone"), 5),
        ],
    );
    check(case(vec![h]), "h1 mesos-n1 NO_TASK_ID NEVER_REAPED");
}

#[test]
fn stale_agent_is_held() {
    let mut h = busy_host("h1", &[("o1", 2)]);
    h.fresh = false;
    check(case(vec![h]), "h1 mesos-o1 NO_SUCH_TASK AGENT_STALE");
}

#[test]
fn view_older_than_inventory_is_held() {
    let mut k = case(vec![busy_host("h1", &[("o1", 2)])]);
    k.view_after_inventory = false;
    check(k, "h1 mesos-o1 NO_SUCH_TASK VIEW_OLDER_THAN_INVENTORY");
}

#[test]
fn no_view_flags_nothing_with_a_task_id() {
    let mut k = case(vec![busy_host("h1", &[("o1", 2)])]);
    k.view = false;
    check(k, "");
}

#[test]
fn mesos_reporting_no_tasks_for_the_host_holds_it() {
    let mut k = case(vec![busy_host("h1", &[("o1", 2)])]);
    k.mesos_per_host = vec![("h1", 0)];
    check(k, "h1 mesos-o1 NO_SUCH_TASK MESOS_NO_TASKS_ON_HOST");
}

#[test]
fn more_than_the_fraction_holds_the_whole_host() {
    let h = busy_host("h1", &[("o1", 2), ("o2", 2), ("o3", 2), ("o4", 2)]);
    check(
        case(vec![h]),
        "h1 mesos-o1 NO_SUCH_TASK TOO_MANY_ON_HOST\nh1 mesos-o2 NO_SUCH_TASK TOO_MANY_ON_HOST\n\
         h1 mesos-o3 NO_SUCH_TASK TOO_MANY_ON_HOST\nh1 mesos-o4 NO_SUCH_TASK TOO_MANY_ON_HOST",
    );
}

#[test]
fn budgets_cap_per_host_and_globally() {
    let h1 = busy_host("h1", &[("o1", 2), ("o2", 2), ("o3", 2)]);
    let h2 = busy_host("h2", &[("p1", 2)]);
    let mut k = case(vec![h1, h2]);
    k.global_budget = 2;
    check(
        k,
        "h1 mesos-o1 NO_SUCH_TASK REAP\nh1 mesos-o2 NO_SUCH_TASK REAP\n\
         h1 mesos-o3 NO_SUCH_TASK HOST_BUDGET\nh2 mesos-p1 NO_SUCH_TASK GLOBAL_BUDGET",
    );
}

#[test]
fn a_live_label_protects_a_container_whose_env_is_dead() {
    let mut o = c("o1", "mesos-o1", Some("gone"), 2);
    o.task_id_label = Some("live".to_owned());
    check(
        case(vec![
            busy_host("h1", &[]),
            host("h2", vec![c("l", "mesos-l", Some("live"), 5), o]),
        ]),
        "",
    );
}

fn arb_container() -> impl Strategy<Value = ContainerObs> {
    (
        0u8..40,
        prop_oneof![Just("mesos-"), Just("other-")],
        proptest::option::of(0u8..12),
        proptest::option::of(0u8..12),
        0i64..4,
        any::<bool>(),
    )
        .prop_map(|(id, prefix, env, label, age, alive)| ContainerObs {
            id: format!("c{id}"),
            name: format!("{prefix}{id}"),
            created_unix_nanos: NOW - age * HOUR,
            started_unix_nanos: 0,
            state: if alive {
                ContainerState::Running
            } else {
                ContainerState::Exited
            },
            task_id_env: env.map(|t| format!("t{t}")),
            task_id_label: label.map(|t| format!("t{t}")),
            marathon_app_id: None,
            image: String::new(),
        })
}

proptest! {
    #[test]
    fn no_plan_orders_a_container_whose_task_id_is_live(
        hosts in proptest::collection::vec(
            (proptest::collection::vec(arb_container(), 0..12), any::<bool>(), 0usize..3), 1..5),
        live in proptest::collection::btree_set(0u8..12, 0..12),
        previous_all in any::<bool>(),
        fraction in 0.0f64..1.0,
    ) {
        let base = Instant::now();
        // Docker ids are unique on a host: keep the first container of each generated id.
        let unique = |cs: &Vec<ContainerObs>| -> Vec<ContainerObs> {
            let mut seen = BTreeSet::new();
            cs.iter().filter(|c| seen.insert(c.id.clone())).cloned().collect()
        };
        let snaps: Vec<HostSnapshot> = hosts.iter().enumerate().map(|(i, (cs, fresh, _))| HostSnapshot {
            host: format!("h{i}"), fresh: *fresh, last_change: base, containers: unique(cs),
        }).collect();
        let live_ids: BTreeSet<String> = live.iter().map(|t| format!("t{t}")).collect();
        let view = ClusterView {
            fetched_at: base + Duration::from_secs(1),
            live_task_ids: live_ids.clone(),
            mesos_tasks_per_host: hosts.iter().enumerate().map(|(i, (_, _, n))| (format!("h{i}"), *n)).collect(),
        };
        let previous: Suspects = if previous_all {
            snaps.iter().flat_map(|h| h.containers.iter().map(|c| ((h.host.clone(), c.id.clone(), c.created_unix_nanos), seen_once_a_minute_ago()))).collect()
        } else { Suspects::new() };
        let limits = limits(fraction);
        let plan = plan_reap(&PlanInputs {
            now_unix_nanos: NOW, hosts: &snaps, view: Some(&view), previous_suspects: &previous,
            in_flight: &BTreeSet::new(), limits: &limits, global_budget: 1000,
            host_budget: &BTreeMap::new(), default_host_budget: 1000,
        });
        for (h, target) in &plan.orders {
            let snap = snaps.iter().find(|s| &s.host == h).expect("host");
            let c = snap.containers.iter().find(|c| c.id == target.container_id).expect("container");
            prop_assert!(c.name.starts_with("mesos-"));
            prop_assert!(c.task_ids().next().is_some());
            prop_assert!(c.task_ids().all(|t| !live_ids.contains(t)), "ordered live task {c:?}");
            prop_assert!(snap.fresh);
        }
    }
}

/// Sightings count only `sighting_gap` apart, and `sightings` of them are needed: a pass
/// soon after another (a mode switch, a new agent) never brings an order forward.
#[test]
fn sightings_count_only_a_gap_apart() {
    let hosts = vec![busy_host("h1", &[("o1", 2)])];
    let key = ("h1".to_owned(), "o1".to_owned(), NOW - 2 * HOUR);
    let view = ClusterView {
        fetched_at: Instant::now() + Duration::from_secs(1),
        live_task_ids: ["live".to_owned()].into(),
        mesos_tasks_per_host: [("h1".to_owned(), 3)].into(),
    };
    let pass = |previous: &Suspects, now: i64, sightings: u32| {
        let limits = PlanLimits {
            sightings,
            ..limits(0.5)
        };
        plan_reap(&PlanInputs {
            now_unix_nanos: now,
            hosts: &hosts,
            view: Some(&view),
            previous_suspects: previous,
            in_flight: &BTreeSet::new(),
            limits: &limits,
            global_budget: 10,
            host_budget: &BTreeMap::new(),
            default_host_budget: 10,
        })
    };
    let sec = 1_000_000_000i64;
    let first = pass(&Suspects::new(), NOW, 2);
    assert!(first.orders.is_empty());
    assert_eq!(first.suspects[&key].count, 1);
    // Ten seconds later: the same sighting, still held.
    let soon = pass(&first.suspects, NOW + 10 * sec, 2);
    assert!(soon.orders.is_empty(), "{soon}");
    assert_eq!(soon.suspects[&key], first.suspects[&key]);
    // A minute later: the second sighting, ordered.
    let later = pass(&soon.suspects, NOW + 60 * sec, 2);
    assert_eq!(later.orders.len(), 1, "{later}");
    // With three sightings needed, the second one still holds.
    let three = pass(&soon.suspects, NOW + 60 * sec, 3);
    assert!(three.orders.is_empty());
    assert_eq!(three.findings[0].hold, Some(HoldReason::TooFewSightings));
    let third = pass(&three.suspects, NOW + 120 * sec, 3);
    assert_eq!(third.orders.len(), 1, "{third}");
}
