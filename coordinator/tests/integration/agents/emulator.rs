//! Coordinator ↔ several real agents over gRPC, each on its own Docker emulator socket, with
//! the Marathon/Mesos emulator as the source of live tasks. Passes are driven explicitly.

use galley_coordinator::agents::{
    HoldReason, OrderOutcome, OrderTarget, OrphanReason, ReaperCounters, ReaperMode,
};
use galley_sim::docker::ContainerSpec;
use galley_sim::marathon::{Fault, MesosLeadership};

use super::harness::{Harness, host_name, hours_ago, wait_for};
use crate::proxy::{Link, Proxy};

/// Per host: a live task's container, an old orphan, a young orphan, an old non-mesos
/// container carrying a dead task id, an old mesos container without task id.
struct HostSet {
    live: String,
    old_orphan: String,
    young_orphan: String,
    foreign: String,
    no_task_id: String,
}

fn populate(h: &Harness, host: &str) -> HostSet {
    let engine = &h.engines[host];
    let foreign = engine
        .sim_inject(
            ContainerSpec::new(
                &format!("postgres-{}", uuid::Uuid::new_v4().simple()),
                "img",
            )
            .env("MESOS_TASK_ID", "gone.db.1")
            .created_at(hours_ago(5)),
        )
        .expect("inject");
    let no_task_id = engine
        .sim_inject(ContainerSpec::mesos_orphan(None, "img").created_at(hours_ago(5)))
        .expect("inject");
    HostSet {
        live: h.live_task(host, &format!("svc.main.{}", uuid::Uuid::new_v4().simple())),
        old_orphan: h.orphan(host, 2),
        young_orphan: h.orphan(host, 0),
        foreign,
        no_task_id,
    }
}

fn sent(h: &Harness) -> u64 {
    ReaperCounters::get(&h.reaper.counters().orders_sent)
}

#[tokio::test]
async fn enforce_reaps_exactly_the_old_orphans_on_every_host() {
    let mut h = Harness::start(4, ReaperMode::Enforce).await;
    let hosts: Vec<String> = (0..4).map(host_name).collect();
    let sets: Vec<HostSet> = hosts.iter().map(|host| populate(&h, host)).collect();
    for host in &hosts {
        h.start_agent(host, None);
    }
    let expect: Vec<(&str, usize)> = hosts.iter().map(|s| (s.as_str(), 5)).collect();
    h.wait_inventories(&expect).await;

    let first = h.reaper.pass().await;
    assert!(
        first.orders.is_empty(),
        "first observation never orders:\n{first}"
    );
    assert!(
        first
            .findings
            .iter()
            .any(|f| f.hold == Some(HoldReason::TooFewSightings))
    );
    let second = h.reaper.pass().await;
    assert_eq!(second.orders.len(), 4, "{second}");
    for f in &second.findings {
        match f.reason {
            OrphanReason::NoTaskId => assert_eq!(f.hold, Some(HoldReason::NeverReaped)),
            OrphanReason::NoSuchTask => {}
        }
    }
    for (host, set) in hosts.iter().zip(&sets) {
        wait_for("old orphan reaped", || !h.exists(host, &set.old_orphan)).await;
    }
    wait_for("results counted", || {
        ReaperCounters::get(&h.reaper.counters().results_done) == 4
    })
    .await;
    for (host, set) in hosts.iter().zip(&sets) {
        for keep in [&set.live, &set.young_orphan, &set.foreign, &set.no_task_id] {
            assert!(h.exists(host, keep), "{host}: {keep} must survive");
        }
    }
    // The agents report the removals; further passes order nothing new.
    h.wait_inventories(&expect.iter().map(|(s, _)| (*s, 4)).collect::<Vec<_>>())
        .await;
    let third = h.reaper.pass().await;
    assert!(third.orders.is_empty(), "{third}");
    assert_eq!(sent(&h), 4);
    h.shutdown().await;
}

#[tokio::test]
async fn report_mode_and_non_leader_never_order() {
    let mut h = Harness::start(1, ReaperMode::Report).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    h.reaper.pass().await;
    let plan = h.reaper.pass().await;
    assert_eq!(plan.orders.len(), 1, "report mode still computes:\n{plan}");
    assert_eq!(sent(&h), 0);
    assert!(ReaperCounters::get(&h.reaper.counters().orders_would_send) >= 1);
    assert!(h.exists(&host, &set.old_orphan));
    h.shutdown().await;

    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    h.leader.send_replace(None);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    h.reaper.pass().await;
    h.reaper.pass().await;
    assert_eq!(sent(&h), 0, "not leader: no orders");
    assert!(h.exists(&host, &set.old_orphan));
    h.shutdown().await;
}

#[tokio::test]
async fn suspects_seen_in_report_mode_carry_over_a_switch_to_enforce() {
    // Two report passes see the old orphan twice (enough sightings); the first pass after
    // SetReaperMode's switch (`ReaperSlot::set_mode` → this handle) orders it at once. A
    // reaper that forgot its suspects on a switch would need two more passes.
    let mut h = Harness::start(1, ReaperMode::Report).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    let first = h.reaper.pass().await;
    assert!(
        first.orders.is_empty(),
        "one sighting is not enough:\n{first}"
    );
    let plan = h.reaper.pass().await;
    assert_eq!(plan.orders.len(), 1, "{plan}");
    assert_eq!(sent(&h), 0, "report mode sends nothing");
    assert_eq!(h.reaper.set_mode(ReaperMode::Enforce), ReaperMode::Report);
    let plan = h.reaper.pass().await;
    assert_eq!(plan.orders.len(), 1, "sightings carried over:\n{plan}");
    wait_for("the old orphan is reaped", || {
        !h.exists(&host, &set.old_orphan)
    })
    .await;
    assert_eq!(sent(&h), 1);
    assert!(h.exists(&host, &set.young_orphan), "the young one stays");
    h.shutdown().await;
}

#[tokio::test]
async fn the_reaper_loop_makes_its_first_pass_on_the_first_inventory() {
    // An hour between passes: the only way the loop plans this host's containers within the
    // test's deadline is the first pass waiting for the first inventory (a first pass at once
    // would see no host, and the next one is an hour away).
    let mut h = Harness::start(1, ReaperMode::Report).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    let (reaper, task) = super::harness::spawn_reaper_loop(
        &h.sim,
        &h.registry,
        h.leader.subscribe(),
        std::time::Duration::from_secs(3600),
    );
    let status = reaper.status();
    h.start_agent(&host, None);
    wait_for("a pass that saw the host's orphan", || {
        status.borrow().last_plan.as_ref().is_some_and(|p| {
            p.suspects
                .keys()
                .any(|k| format!("{k:?}").contains(&set.old_orphan))
        })
    })
    .await;
    assert_eq!(
        status.borrow().passes,
        1,
        "one pass, started by the inventory"
    );
    task.abort();
    h.shutdown().await;
}

#[tokio::test]
async fn network_cut_makes_the_agent_stale_and_stops_reaps() {
    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    let proxy = Proxy::start(h.server.as_ref().expect("server").addr).await;
    h.start_agent(&host, Some(proxy.addr));
    h.wait_inventories(&[(&host, 5)]).await;
    h.reaper.pass().await;
    proxy.set(Link::Paused);
    wait_for("agent stale", || {
        h.registry.host(&host).is_some_and(|s| !s.fresh)
    })
    .await;
    for _ in 0..2 {
        let plan = h.reaper.pass().await;
        assert!(plan.orders.is_empty(), "{plan}");
        assert!(
            plan.findings
                .iter()
                .any(|f| f.hold == Some(HoldReason::AgentStale)),
            "{plan}"
        );
    }
    assert_eq!(sent(&h), 0);
    proxy.set(Link::Open);
    wait_for("agent fresh again", || {
        h.registry.host(&host).is_some_and(|s| s.fresh)
    })
    .await;
    h.reaper.pass().await;
    let plan = h.reaper.pass().await;
    assert_eq!(plan.orders.len(), 1, "{plan}");
    wait_for("orphan reaped after the cut", || {
        !h.exists(&host, &set.old_orphan)
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn mesos_or_marathon_outage_blocks_every_order() {
    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    h.reaper.pass().await;
    h.sim.sim_set_mesos_leadership(MesosLeadership::NoLeader);
    let plan = h.reaper.pass().await;
    assert!(plan.orders.is_empty(), "{plan}");
    assert!(h.reaper.status().borrow().blocked.is_some());
    h.sim.sim_set_mesos_leadership(MesosLeadership::Leading);
    h.sim.sim_fault(Fault::status(500).on_path("/v2/apps"));
    for _ in 0..2 {
        let plan = h.reaper.pass().await;
        assert!(plan.orders.is_empty(), "{plan}");
    }
    assert_eq!(sent(&h), 0);
    assert!(ReaperCounters::get(&h.reaper.counters().passes_blocked) >= 3);
    h.sim.sim_clear_faults();
    // An outage breaks the run of observations: two fresh passes are needed again.
    assert!(h.reaper.pass().await.orders.is_empty());
    assert_eq!(h.reaper.pass().await.orders.len(), 1);
    wait_for("orphan reaped after the outage", || {
        !h.exists(&host, &set.old_orphan)
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn agent_restart_and_coordinator_restart_resume_inventory() {
    let mut h = Harness::start(2, ReaperMode::Enforce).await;
    let hosts = [host_name(0), host_name(1)];
    let sets: Vec<HostSet> = hosts.iter().map(|host| populate(&h, host)).collect();
    for host in &hosts {
        h.start_agent(host, None);
    }
    h.wait_inventories(&[(&hosts[0], 5), (&hosts[1], 5)]).await;
    let before = h.registry.agents()[0].identity.instance_id.clone();

    // Agent restart: the old session closes (stale), the new one re-sends everything.
    h.agents.remove(&hosts[0]);
    wait_for("agent 0 disconnected", || {
        h.registry.host(&hosts[0]).is_some_and(|s| !s.fresh)
    })
    .await;
    h.start_agent(&hosts[0], None);
    h.wait_inventories(&[(&hosts[0], 5)]).await;
    assert_ne!(h.registry.agents()[0].identity.instance_id, before);

    // Coordinator restart: same address, empty registry; agents reconnect by themselves.
    let server = h.server.take().expect("server");
    let addr = server.addr;
    server.stop().await;
    h.restart_coordinator(addr).await;
    h.wait_inventories(&[(&hosts[0], 5), (&hosts[1], 5)]).await;
    h.reaper.pass().await;
    assert_eq!(h.reaper.pass().await.orders.len(), 2);
    for (host, set) in hosts.iter().zip(&sets) {
        wait_for("reaped after restarts", || !h.exists(host, &set.old_orphan)).await;
        assert!(h.exists(host, &set.live));
    }
    h.shutdown().await;
}

#[tokio::test]
async fn replaced_container_is_refused_and_duplicate_orders_act_once() {
    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    let snap = h.registry.host(&host).expect("host");
    let old = snap
        .containers
        .iter()
        .find(|c| c.id == set.old_orphan)
        .expect("orphan");
    let target = OrderTarget {
        container_id: old.id.clone(),
        name: old.name.clone(),
        created_unix_nanos: old.created_unix_nanos,
    };

    // Replaced by a new container of the same name: the order for the old one is refused.
    let new_id = h.engines[&host]
        .sim_replace(&set.old_orphan)
        .expect("replace");
    wait_for("registry sees the replacement", || {
        h.registry
            .host(&host)
            .is_some_and(|s| s.containers.iter().any(|c| c.id == new_id))
    })
    .await;
    let out = h
        .reaper
        .send_order_unchecked(&host, target, None)
        .await
        .expect("answer");
    assert!(
        matches!(&out, OrderOutcome::Refused { reason, .. } if reason == "REPLACED"),
        "{out}"
    );
    assert!(h.exists(&host, &new_id));

    // The same order id twice: done both times, executed once.
    let victim = h.orphan(&host, 3);
    wait_for("victim inventoried", || {
        h.registry
            .host(&host)
            .is_some_and(|s| s.containers.iter().any(|c| c.id == victim))
    })
    .await;
    let c = h
        .registry
        .host(&host)
        .expect("host")
        .containers
        .into_iter()
        .find(|c| c.id == victim)
        .expect("victim");
    let target = OrderTarget {
        container_id: c.id,
        name: c.name,
        created_unix_nanos: c.created_unix_nanos,
    };
    let first = h
        .reaper
        .send_order_unchecked(&host, target.clone(), Some("dup-1".into()))
        .await
        .expect("first");
    let second = h
        .reaper
        .send_order_unchecked(&host, target.clone(), Some("dup-1".into()))
        .await
        .expect("second");
    assert!(
        matches!(&first, OrderOutcome::Done { detail } if detail == "stopped and removed"),
        "{first}"
    );
    assert!(
        matches!(&second, OrderOutcome::Done { detail } if detail.starts_with("duplicate")),
        "{second}"
    );
    assert!(!h.exists(&host, &victim));

    // An order from an older leader term is refused.
    h.leader.send_replace(Some(3));
    let stale = h
        .reaper
        .send_order_unchecked(&host, target, None)
        .await
        .expect("answer");
    assert!(
        matches!(&stale, OrderOutcome::Refused { reason, .. } if reason == "STALE_TERM"),
        "{stale}"
    );
    h.shutdown().await;
}

/// The reaper reads Marathon's tasks from the shared view: while the view is not complete
/// (never listed, or its stream broke and it cannot list again) no order goes out; once it is,
/// the orphans are reaped as with a list of the reaper's own.
#[tokio::test]
async fn an_incomplete_marathon_view_blocks_every_order() {
    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    let host = host_name(0);
    let set = populate(&h, &host);
    h.start_agent(&host, None);
    h.wait_inventories(&[(&host, 5)]).await;
    let view = h.use_marathon_view();
    for _ in 0..3 {
        let plan = h.reaper.pass().await;
        assert!(plan.orders.is_empty(), "never listed: no orders\n{plan}");
    }
    let blocked = h.reaper.status().borrow().blocked.clone();
    assert!(
        blocked.as_deref().is_some_and(|b| b.contains("view")),
        "{blocked:?}"
    );
    let _stop = h.run_view(&view);
    wait_for("the view lists", || view.status().complete).await;
    assert!(h.reaper.pass().await.orders.is_empty(), "first sighting");
    assert_eq!(h.reaper.pass().await.orders.len(), 1);
    wait_for("orphan reaped from the view", || {
        !h.exists(&host, &set.old_orphan)
    })
    .await;

    // The stream breaks and Marathon's list fails: the view stays incomplete, nothing goes out.
    let second = h.orphan(&host, 3);
    h.sim.sim_fault(Fault::status(500).on_path("/v2/apps"));
    h.sim.sim_break_event_streams();
    wait_for("the view knows it is incomplete", || {
        !view.status().complete && view.status().breaks >= 1
    })
    .await;
    let before = sent(&h);
    for _ in 0..3 {
        let plan = h.reaper.pass().await;
        assert!(plan.orders.is_empty(), "incomplete view: no orders\n{plan}");
    }
    assert_eq!(sent(&h), before);
    assert!(h.exists(&host, &second));
    h.sim.sim_clear_faults();
    wait_for("the view lists again", || view.status().complete).await;
    assert!(
        h.reaper.pass().await.orders.is_empty(),
        "sightings start over"
    );
    assert_eq!(h.reaper.pass().await.orders.len(), 1);
    wait_for("second orphan reaped", || !h.exists(&host, &second)).await;
    h.shutdown().await;
}
