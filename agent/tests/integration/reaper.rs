//! The order executor's local checks against the Docker emulator (through bollard), and the
//! inventory's event tracking with its re-list fallback.

use std::sync::Arc;
use std::time::Duration;

use galley_agent::docker::{BollardDocker, DockerApi};
use galley_agent::inventory::InventoryTask;
use galley_agent::reaper::{Reaper, ReaperLimits};
use galley_proto::v1::{ReapOrder, ReapStatus, RefusalReason};
use galley_sim::SimClock;
use galley_sim::docker::{ContainerSpec, DockerSim, DockerSimHandle, FaultRule};

async fn emulator() -> (DockerSimHandle, Arc<BollardDocker>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("docker.sock");
    let sim = DockerSim::serve(&sock, SimClock::real())
        .await
        .expect("serve");
    let docker = BollardDocker::connect(sock.to_str().expect("utf8"), 5).expect("connect");
    (sim, Arc::new(docker), dir)
}

fn old() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::hours(2)
}

async fn order_for(docker: &BollardDocker, id: &str, order_id: &str, term: u64) -> ReapOrder {
    let rec = docker.inspect(id).await.expect("inspect").expect("exists");
    ReapOrder {
        order_id: order_id.to_owned(),
        leader_term: term,
        container_id: rec.id,
        container_name: rec.name,
        created_unix_nanos: rec.created_unix_nanos,
        grace_seconds: 1,
        reason: "NO_SUCH_TASK".to_owned(),
    }
}

fn limits(max_per_minute: u32) -> ReaperLimits {
    ReaperLimits {
        min_age: Duration::from_secs(3600),
        max_per_minute,
    }
}

#[tokio::test]
async fn every_local_check_refuses_and_a_valid_order_reaps_once() {
    let (sim, docker, _dir) = emulator().await;
    let engine = sim.engine().clone();
    let mut reaper = Reaper::new(docker.clone(), limits(2));
    let orphan = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.1"), "img").created_at(old()))
        .expect("inject");
    let young = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.2"), "img"))
        .expect("inject");
    let db = engine
        .sim_inject(ContainerSpec::new("postgres", "img").created_at(old()))
        .expect("inject");

    let r = reaper
        .execute(&order_for(&docker, &young, "o-young", 5).await)
        .await;
    assert_eq!(
        (r.status(), r.refusal()),
        (ReapStatus::Refused, RefusalReason::TooYoung)
    );
    let r = reaper
        .execute(&order_for(&docker, &db, "o-db", 5).await)
        .await;
    assert_eq!(
        (r.status(), r.refusal()),
        (ReapStatus::Refused, RefusalReason::NotMesos)
    );
    let r = reaper
        .execute(&order_for(&docker, &orphan, "o-stale", 4).await)
        .await;
    assert_eq!(
        (r.status(), r.refusal()),
        (ReapStatus::Refused, RefusalReason::StaleTerm)
    );

    let order = order_for(&docker, &orphan, "o-1", 5).await;
    let replaced = engine.sim_replace(&orphan).expect("replace");
    let r = reaper.execute(&order).await;
    assert_eq!(
        (r.status(), r.refusal()),
        (ReapStatus::Refused, RefusalReason::Replaced)
    );
    assert!(engine.container(&replaced).is_ok());

    let victim = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.v"), "img").created_at(old()))
        .expect("inject");
    let order = order_for(&docker, &victim, "o-2", 5).await;
    let first = reaper.execute(&order).await;
    assert_eq!(first.status(), ReapStatus::Done, "{}", first.detail);
    assert!(engine.container(&victim).is_err());
    let again = reaper.execute(&order).await;
    assert_eq!(again.status(), ReapStatus::Done);
    assert!(again.detail.starts_with("duplicate"), "{}", again.detail);
    let mut fresh_id = order.clone();
    fresh_id.order_id = "o-3".to_owned();
    let gone = reaper.execute(&fresh_id).await;
    assert_eq!(
        (gone.status(), gone.detail.as_str()),
        (ReapStatus::Done, "already gone")
    );

    // Budget of 2 per minute: one spent above, one left, then refused.
    let a = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.a"), "img").created_at(old()))
        .expect("inject");
    let b = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.b"), "img").created_at(old()))
        .expect("inject");
    assert_eq!(
        reaper
            .execute(&order_for(&docker, &a, "o-a", 5).await)
            .await
            .status(),
        ReapStatus::Done
    );
    let r = reaper
        .execute(&order_for(&docker, &b, "o-b", 5).await)
        .await;
    assert_eq!(
        (r.status(), r.refusal()),
        (ReapStatus::Refused, RefusalReason::RateLimited)
    );

    // Docker's own failure is reported, not hidden.
    engine.sim_fail_requests(FaultRule::path("/stop", 500, "boom").times(1));
    let mut r2 = Reaper::new(docker.clone(), limits(10));
    let r = r2.execute(&order_for(&docker, &b, "o-b2", 5).await).await;
    assert_eq!(r.status(), ReapStatus::Failed);
    assert!(r.detail.contains("boom"), "{}", r.detail);
    sim.shutdown().await;
}

#[tokio::test]
async fn inventory_follows_events_and_relists_after_a_stream_error() {
    let (sim, docker, _dir) = emulator().await;
    let engine = sim.engine().clone();
    let first = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.1"), "img"))
        .expect("inject");
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (mut rx, mut ready, _task) =
        InventoryTask::spawn(docker.clone(), Duration::from_secs(3600), stop_rx);
    ready.wait_for(|r| *r).await.expect("ready");
    assert!(rx.borrow_and_update().contains_key(&first));
    let second = engine
        .sim_inject(ContainerSpec::mesos_orphan(None, "img"))
        .expect("inject");
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| s.contains_key(&second)),
    )
    .await
    .expect("event seen")
    .expect("open");
    let rec = rx.borrow()[&first].clone();
    assert_eq!(rec.task_id_env.as_deref(), Some("t.1"));
    assert_eq!(rec.task_id_label.as_deref(), Some("t.1"));
    assert!(rec.name.starts_with("mesos-") && rec.created_unix_nanos > 0);
    engine.sim_force_remove(&first);
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| !s.contains_key(&first)),
    )
    .await
    .expect("destroy seen")
    .expect("open");
    // Restarting the emulator breaks the event stream; the re-list after it catches up.
    let sock = sim.socket_path().to_owned();
    sim.shutdown().await;
    let third = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.3"), "img"))
        .expect("inject");
    let sim = DockerSim::serve_engine(&sock, engine.clone())
        .await
        .expect("serve again");
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.contains_key(&third)),
    )
    .await
    .expect("relisted")
    .expect("open");
    sim.shutdown().await;
}
