//! Leader election against a real ZooKeeper (scripts/zookeeper.sh; `GALLEY_ZOOKEEPER`). Each
//! coordinator reaches ZooKeeper through its own TCP proxy so a test can pause (blackhole) or
//! cut its connection: what a partition or a crashed host looks like.
//!
//! Skips loudly without `GALLEY_ZOOKEEPER`; fails when `GALLEY_REQUIRE_ZOOKEEPER=1`.

use std::time::Duration;

use galley_coordinator::election::{
    LeaderElection, Leadership, ZkElection, ZkSettings, spawn_gate,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::proxy::{Link, Proxy};

const SESSION: Duration = Duration::from_secs(2);

/// The ZooKeeper to use, or `None` (skip).
pub fn zookeeper() -> Option<String> {
    match std::env::var("GALLEY_ZOOKEEPER") {
        Ok(z) if !z.is_empty() => Some(z),
        _ => {
            assert!(
                std::env::var("GALLEY_REQUIRE_ZOOKEEPER").as_deref() != Ok("1"),
                "GALLEY_REQUIRE_ZOOKEEPER=1 but GALLEY_ZOOKEEPER is not set: run `eval \"$(scripts/zookeeper.sh start DIR)\"` first"
            );
            eprintln!(
                "==== SKIPPED: ZooKeeper not available (set GALLEY_ZOOKEEPER, see scripts/zookeeper.sh) ===="
            );
            None
        }
    }
}

/// One coordinator's election: its proxy, its election task and its gate.
pub struct Node {
    /// Its name.
    pub id: String,
    /// Its proxy to ZooKeeper.
    pub proxy: Proxy,
    /// Its election (None once left or crashed).
    pub election: Option<ZkElection>,
    /// Its leadership gate.
    pub gate: watch::Receiver<Leadership>,
    shutdown: watch::Sender<bool>,
}

impl Node {
    /// Joins the election at `path` through a new proxy.
    pub async fn join(zk: &str, path: &str, id: &str, grace: Duration) -> Self {
        let proxy = Proxy::start(zk.parse().expect("GALLEY_ZOOKEEPER is host:port")).await;
        let (shutdown, rx) = watch::channel(false);
        let election = ZkElection::spawn(
            ZkSettings {
                hosts: proxy.addr.to_string(),
                path: path.to_owned(),
                session_timeout: SESSION,
                id: id.to_owned(),
            },
            rx,
        );
        let gate = spawn_gate(election.states(), id.to_owned(), grace);
        Self {
            id: id.to_owned(),
            proxy,
            election: Some(election),
            gate,
            shutdown,
        }
    }

    /// The acting term.
    pub fn acting(&self) -> Option<u64> {
        self.gate.borrow().acting
    }

    /// Leaves cleanly (deletes its node).
    pub async fn leave(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(e) = self.election.take() {
            e.leave(Duration::from_secs(5)).await;
        }
    }

    /// Dies: the connection is cut first, then the process is gone (its gate, standing in for
    /// the rest of the process, sees the election end).
    pub async fn crash(&mut self) {
        self.proxy.set(Link::Cut);
        if let Some(e) = self.election.take() {
            e.abort();
        }
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|l| l.acting.is_none()).await;
    }
}

/// Unique election path per test run.
pub fn unique_path(test: &str) -> String {
    format!("/galley-test/{test}-{}", uuid::Uuid::new_v4().simple())
}

/// Waits until exactly one of `nodes` acts (other than `except`), watching that never two act
/// at once; returns (index, term, time waited).
pub async fn one_leader(nodes: &[Node], timeout: Duration) -> (usize, u64, Duration) {
    let start = Instant::now();
    loop {
        let acting: Vec<(usize, u64)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.acting().map(|t| (i, t)))
            .collect();
        assert!(
            acting.len() <= 1,
            "two coordinators act at once: {acting:?}"
        );
        if let [(i, t)] = acting[..] {
            return (i, t, start.elapsed());
        }
        assert!(
            start.elapsed() < timeout,
            "no leader after {timeout:?}: {:?}",
            nodes
                .iter()
                .map(|n| n.gate.borrow().clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_of_three_successors_take_over_on_leave_and_on_crash() {
    let Some(zk) = zookeeper() else { return };
    let path = unique_path("takeover");
    let mut nodes = Vec::new();
    for id in ["m1:50051", "m2:50051", "m3:50051"] {
        nodes.push(Node::join(&zk, &path, id, Duration::ZERO).await);
    }
    let (first, t1, waited) = one_leader(&nodes, Duration::from_secs(10)).await;
    eprintln!(
        "first leader {} term {t1} after {waited:?}",
        nodes[first].id
    );
    // Followers name the leader.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (i, n) in nodes.iter().enumerate() {
        if i != first {
            assert_eq!(n.gate.borrow().leader_name(), nodes[first].id);
        }
    }

    // A clean shutdown deletes the node: a successor leads within a fraction of the session.
    nodes[first].leave().await;
    let left_at = Instant::now();
    let (second, t2, _) = one_leader(&nodes, Duration::from_secs(10)).await;
    let takeover = left_at.elapsed();
    eprintln!(
        "after leave: {} term {t2} in {takeover:?}",
        nodes[second].id
    );
    assert_ne!(second, first);
    assert!(t2 > t1, "terms grow: {t2} > {t1}");
    assert!(takeover < SESSION, "clean takeover took {takeover:?}");

    // A crash leaves the node until the session expires: takeover within the session timeout
    // (plus ZooKeeper's expiry tick).
    nodes[second].crash().await;
    let crashed_at = Instant::now();
    let (third, t3, _) = one_leader(&nodes, SESSION * 4).await;
    let takeover = crashed_at.elapsed();
    eprintln!("after crash: {} term {t3} in {takeover:?}", nodes[third].id);
    assert!(third != first && third != second);
    assert!(t3 > t2);
    assert!(
        takeover >= SESSION / 2 && takeover < SESSION * 2,
        "crash takeover took {takeover:?} (session {SESSION:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_acting_before_its_session_can_expire() {
    let Some(zk) = zookeeper() else { return };
    let path = unique_path("partition");
    let mut nodes = vec![
        Node::join(&zk, &path, "a:1", Duration::ZERO).await,
        Node::join(&zk, &path, "b:1", Duration::ZERO).await,
    ];
    let (leader, t1, _) = one_leader(&nodes, Duration::from_secs(10)).await;
    let other = 1 - leader;

    nodes[leader].proxy.set(Link::Paused);
    let paused_at = Instant::now();
    let mut gate = nodes[leader].gate.clone();
    tokio::time::timeout(SESSION, gate.wait_for(|l| l.acting.is_none()))
        .await
        .expect("the partitioned leader must stop acting before its session can expire")
        .expect("gate alive");
    let stopped = paused_at.elapsed();
    // The other may lead only once the session expired on the server: never overlapping.
    let mut other_gate = nodes[other].gate.clone();
    tokio::time::timeout(SESSION * 4, other_gate.wait_for(|l| l.acting.is_some()))
        .await
        .expect("the other coordinator takes over after the session expires")
        .expect("gate alive");
    let took_over = paused_at.elapsed();
    let t2 = nodes[other].acting().expect("acting");
    eprintln!("paused leader stopped after {stopped:?}; successor (term {t2}) after {took_over:?}");
    assert!(
        stopped < took_over,
        "no overlap: {stopped:?} < {took_over:?}"
    );
    assert!(t2 > t1);

    // The partition heals: the old leader finds its session expired and rejoins as follower.
    nodes[leader].proxy.set(Link::Open);
    let mut gate = nodes[leader].gate.clone();
    tokio::time::timeout(
        SESSION * 4,
        gate.wait_for(|l| l.leader.as_deref() == Some(nodes[other].id.as_str())),
    )
    .await
    .expect("the old leader follows the new one")
    .expect("gate alive");
    assert_eq!(nodes[leader].acting(), None);
    assert_eq!(nodes[other].acting(), Some(t2));
    for n in &mut nodes {
        n.leave().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_waits_the_grace_period_before_destructive_actions() {
    let Some(zk) = zookeeper() else { return };
    let path = unique_path("grace");
    let grace = Duration::from_millis(1500);
    let mut node = Node::join(&zk, &path, "g:1", grace).await;
    let mut gate = node.gate.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        gate.wait_for(|l| l.acting.is_some()),
    )
    .await
    .expect("leads")
    .expect("gate");
    let acting_at = Instant::now();
    assert_eq!(node.gate.borrow().destructive, None, "watch-only at first");
    tokio::time::timeout(
        Duration::from_secs(10),
        gate.wait_for(|l| l.destructive.is_some()),
    )
    .await
    .expect("destructive after grace")
    .expect("gate");
    assert!(acting_at.elapsed() >= grace - Duration::from_millis(50));
    node.leave().await;
}

/// Issue 15: `UnfreezeCluster` right before `FreezeCluster`, both answered OK, must leave the
/// cluster frozen with the newest reason — on the leader at once and, through ZooKeeper, on a
/// follower. A stress of interleaved freezes, unfreezes, pauses and resumes on the leader
/// (two switch syncs on one znode, as two coordinators run them): after every write the
/// leader's switches are that write's, and they stay so while the echoes of the earlier
/// writes come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_switch_writes_hold_on_the_leader_and_reach_the_follower() {
    use galley_coordinator::election::{spawn_switch_sync, switches_path};
    use galley_coordinator::reconciler::Control;

    let Some(zk) = zookeeper() else { return };
    let base = unique_path("switch-stress");
    let path = switches_path(&format!("{base}/leader"));
    let settings = |id: &str| ZkSettings {
        hosts: zk.clone(),
        path: path.clone(),
        session_timeout: Duration::from_secs(4),
        id: id.to_owned(),
    };
    let (leader, follower) = (Control::default(), Control::default());
    let (_acting_tx, acting) = watch::channel(Some(1u64));
    let (_following_tx, following) = watch::channel(None::<u64>);
    let (_stop_tx, stop) = watch::channel(false);
    let tasks = [
        spawn_switch_sync(
            settings("leader"),
            path.clone(),
            leader.clone(),
            acting,
            stop.clone(),
        ),
        spawn_switch_sync(
            settings("follower"),
            path.clone(),
            follower.clone(),
            following,
            stop,
        ),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;

    let key = ("web".to_owned(), "main".to_owned());
    let mut reverted = 0;
    for i in 0..150u32 {
        leader.unfreeze();
        if i % 3 == 0 {
            tokio::task::yield_now().await;
        }
        leader.freeze(&format!("incident {i}"));
        if i % 2 == 0 {
            leader.pause(key.clone(), &format!("debugging {i}"));
        } else {
            leader.resume(&key);
        }
        // The echoes of this round's writes come back within a few milliseconds.
        tokio::time::sleep(Duration::from_millis(u64::from(i % 7))).await;
        if leader.frozen().as_deref() != Some(format!("incident {i}").as_str())
            || leader.is_paused(&key) != (i % 2 == 0)
        {
            reverted += 1;
        }
    }
    assert_eq!(
        reverted, 0,
        "the leader's answered writes were undone {reverted} times"
    );
    let want = leader.snapshot();
    assert_eq!(want.frozen.as_deref(), Some("incident 149"));
    let start = Instant::now();
    while follower.snapshot() != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the follower never caught up: {:?} vs {want:?}",
            follower.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leader.snapshot(), want, "the leader kept its last write");
    for t in tasks {
        t.abort();
    }
}
