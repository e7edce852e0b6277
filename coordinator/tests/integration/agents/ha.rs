//! Two coordinators (as on two masters), one agent with a session to each: when the other
//! coordinator is elected with a newer term, the agent learns the term from its ack and
//! refuses the deposed leader's orders (`STALE_TERM`); the new leader's orders are carried out.

use galley_coordinator::agents::{AgentRegistry, ReaperCounters, ReaperMode};
use tokio::sync::watch;

use super::harness::{CoordinatorServer, Harness, STALE_AFTER, build_reaper, host_name, wait_for};

#[tokio::test]
async fn an_agent_refuses_a_deposed_leaders_orders() {
    let mut h = Harness::start(1, ReaperMode::Enforce).await;
    let host = host_name(0);
    let orphan = h.orphan(&host, 2);
    // A live task too: with none on the host, Mesos' view would hold every order.
    let _live = h.live_task(
        &host,
        &format!("svc.main.{}", uuid::Uuid::new_v4().simple()),
    );
    // Coordinator B: a follower for now.
    let registry_b = AgentRegistry::new(STALE_AFTER);
    let (leader_b, leader_b_rx) = watch::channel(None);
    let server_b = CoordinatorServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        registry_b.clone(),
        leader_b_rx.clone(),
    )
    .await;
    let (reaper_b, _audit_b) = build_reaper(&h.sim, &registry_b, leader_b_rx, ReaperMode::Enforce);
    let urls = vec![h.coordinator_url(None), format!("http://{}", server_b.addr)];
    h.start_agent_to(&host, urls);
    h.wait_inventories(&[(&host, 2)]).await;
    wait_for("B has the inventory too", || {
        registry_b
            .host(&host)
            .is_some_and(|s| s.fresh && s.containers.len() == 2)
    })
    .await;

    // B is elected with term 8 (A still believes in its term 7: partitioned from ZooKeeper).
    leader_b.send_replace(Some(8));
    // Give B's fresh ack time to reach the agent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    h.reaper.pass().await;
    let plan = h.reaper.pass().await;
    assert_eq!(
        plan.orders.len(),
        1,
        "the deposed leader still orders:\n{plan}"
    );
    let a = h.reaper.counters();
    wait_for("the agent answers the deposed leader", || {
        ReaperCounters::get(&a.results_refused) == 1
    })
    .await;
    assert!(h.exists(&host, &orphan), "a stale-term order must not reap");
    assert_eq!(ReaperCounters::get(&a.results_done), 0);

    // The new leader's order is carried out.
    reaper_b.pass().await;
    let plan = reaper_b.pass().await;
    assert_eq!(plan.orders.len(), 1, "{plan}");
    wait_for("orphan reaped by the new leader", || {
        !h.exists(&host, &orphan)
    })
    .await;
    let b = reaper_b.counters();
    wait_for("B sees it done", || {
        ReaperCounters::get(&b.results_done) == 1
    })
    .await;
    server_b.stop().await;
    h.shutdown().await;
}
