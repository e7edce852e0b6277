//! The gate's timing on tokio's paused clock.

use std::time::Duration;

use tokio::sync::watch;

use super::*;

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn destructive_only_after_grace_and_cleared_at_once_on_loss() {
    let (tx, rx) = watch::channel(ElectionState::unknown());
    let gate = spawn_gate(rx, "me".into(), Duration::from_secs(30));
    settle().await;
    assert_eq!(gate.borrow().acting, None);

    tx.send_replace(ElectionState::Leader { term: 7 });
    settle().await;
    assert_eq!(gate.borrow().acting, Some(7), "acting at once");
    assert_eq!(gate.borrow().destructive, None, "not destructive in grace");

    tokio::time::sleep(Duration::from_secs(29)).await;
    settle().await;
    assert_eq!(gate.borrow().destructive, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(
        gate.borrow().destructive,
        Some(7),
        "destructive after grace"
    );

    tx.send_replace(ElectionState::Follower {
        leader: Some("other".into()),
    });
    settle().await;
    let l = gate.borrow().clone();
    assert_eq!((l.acting, l.destructive), (None, None));
    assert_eq!(l.leader_name(), "other");
}

#[tokio::test(start_paused = true)]
async fn a_new_term_restarts_the_grace_period() {
    let (tx, rx) = watch::channel(ElectionState::Leader { term: 1 });
    let gate = spawn_gate(rx, "me".into(), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(11)).await;
    settle().await;
    assert_eq!(gate.borrow().destructive, Some(1));
    // Lost and regained with a new node: a new term, a new grace period.
    tx.send_replace(ElectionState::unknown());
    settle().await;
    tx.send_replace(ElectionState::Leader { term: 3 });
    settle().await;
    assert_eq!(gate.borrow().acting, Some(3));
    assert_eq!(gate.borrow().destructive, None);
    tokio::time::sleep(Duration::from_secs(11)).await;
    settle().await;
    assert_eq!(gate.borrow().destructive, Some(3));
}

#[tokio::test(start_paused = true)]
async fn projections_follow_the_gate_and_a_dropped_election_stops_acting() {
    let (tx, rx) = watch::channel(ElectionState::Leader { term: 2 });
    let gate = spawn_gate(rx, "me".into(), Duration::ZERO);
    settle().await;
    let acting = acting_term(&gate);
    let destructive = destructive_term(&gate);
    settle().await;
    assert_eq!(*acting.borrow(), Some(2));
    assert_eq!(*destructive.borrow(), Some(2));
    drop(tx);
    settle().await;
    assert_eq!(*acting.borrow(), None);
    assert_eq!(*destructive.borrow(), None);
}

#[test]
fn sole_leader_is_term_one() {
    let s = SoleLeader::new();
    assert_eq!(*s.states().borrow(), ElectionState::Leader { term: 1 });
    let l = Leadership::sole("me", 1);
    assert_eq!(l.leader_name(), "me");
}

/// A sole leader kept alive acts and is destructive at once (grace 0) for as long as it lives,
/// long after the gate started; dropping it ends acting (the bug of issue 14 was that `serve`
/// dropped it at once).
#[tokio::test(start_paused = true)]
async fn sole_election_keeps_acting_while_held() {
    let election = Election::Sole(SoleLeader::new());
    let gate = spawn_gate(election.states(), "me:1".into(), Duration::ZERO);
    settle().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    settle().await;
    assert_eq!(gate.borrow().acting, Some(1));
    assert_eq!(gate.borrow().destructive, Some(1));
    election.leave(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(gate.borrow().acting, None);
}
