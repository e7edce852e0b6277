//! The agent's own checks of a reap order, as pure functions (no Docker, no clock): the
//! coordinator decided, but the agent re-checks everything it can see itself before it stops
//! a container (see `reaper.rs` for the order they run in).
//!
//! 1. [`check_order`]: the order is well formed and its leader term is not older than the
//!    newest term seen; it names a `mesos-` container.
//! 2. [`check_container`]: the container Docker shows under that name now is the one ordered
//!    (same id and creation time), is named `mesos-`, and is older than the agent's minimum age.

use std::time::Duration;

use galley_proto::v1::{ReapOrder, RefusalReason};

use crate::docker::ContainerRecord;

/// Why an order is refused: the reason on the wire and a human detail.
pub type Refusal = (RefusalReason, String);

/// Checks on the order alone, against the newest leader term the agent has seen.
pub fn check_order(order: &ReapOrder, max_term_seen: u64) -> Result<(), Refusal> {
    if order.order_id.is_empty()
        || order.container_id.is_empty()
        || order.container_name.is_empty()
        || order.created_unix_nanos <= 0
    {
        return Err((
            RefusalReason::Invalid,
            "missing id, name or creation time".into(),
        ));
    }
    if order.leader_term < max_term_seen {
        return Err((
            RefusalReason::StaleTerm,
            format!("term {} < newest seen {max_term_seen}", order.leader_term),
        ));
    }
    if !order.container_name.starts_with("mesos-") {
        return Err((
            RefusalReason::NotMesos,
            "order names a non-mesos container".into(),
        ));
    }
    Ok(())
}

/// Checks on the container Docker shows now under the order's name.
pub fn check_container(
    order: &ReapOrder,
    current: &ContainerRecord,
    now_unix_nanos: i64,
    min_age: Duration,
) -> Result<(), Refusal> {
    if current.id != order.container_id || current.created_unix_nanos != order.created_unix_nanos {
        let short = &current.id[..current.id.len().min(12)];
        return Err((
            RefusalReason::Replaced,
            format!("name now belongs to container {short}"),
        ));
    }
    if !current.name.starts_with("mesos-") {
        return Err((
            RefusalReason::NotMesos,
            "container name is not mesos-*".into(),
        ));
    }
    let age_nanos = now_unix_nanos.saturating_sub(current.created_unix_nanos);
    let min_age_nanos = i64::try_from(min_age.as_nanos()).unwrap_or(i64::MAX);
    if age_nanos < min_age_nanos {
        return Err((
            RefusalReason::TooYoung,
            format!(
                "age {}s < minimum {}s",
                age_nanos / 1_000_000_000,
                min_age.as_secs()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerState;

    const HOUR: i64 = 3_600_000_000_000;
    const NOW: i64 = 1_800_000_000_000_000_000;

    fn order() -> ReapOrder {
        ReapOrder {
            order_id: "o1".into(),
            leader_term: 5,
            container_id: "a".repeat(64),
            container_name: "mesos-abc".into(),
            created_unix_nanos: NOW - 2 * HOUR,
            grace_seconds: 10,
            reason: "NO_SUCH_TASK".into(),
        }
    }

    fn container() -> ContainerRecord {
        ContainerRecord {
            id: "a".repeat(64),
            name: "mesos-abc".into(),
            created_unix_nanos: NOW - 2 * HOUR,
            started_unix_nanos: NOW - 2 * HOUR,
            state: ContainerState::Running,
            task_id_env: Some("gone.main.1".into()),
            task_id_label: None,
            marathon_app_id: None,
            image: "img".into(),
        }
    }

    fn reason(r: Result<(), Refusal>) -> Option<RefusalReason> {
        r.err().map(|(reason, _)| reason)
    }

    #[test]
    fn orders_are_checked_on_their_own() {
        type Edit = fn(&mut ReapOrder);
        let cases: [(&str, Edit, u64, Option<RefusalReason>); 8] = [
            ("well formed", |_| {}, 5, None),
            ("a newer term", |o| o.leader_term = 9, 5, None),
            (
                "no order id",
                |o| o.order_id.clear(),
                0,
                Some(RefusalReason::Invalid),
            ),
            (
                "no container id",
                |o| o.container_id.clear(),
                0,
                Some(RefusalReason::Invalid),
            ),
            (
                "no name",
                |o| o.container_name.clear(),
                0,
                Some(RefusalReason::Invalid),
            ),
            (
                "no creation time",
                |o| o.created_unix_nanos = 0,
                0,
                Some(RefusalReason::Invalid),
            ),
            (
                "a deposed leader",
                |o| o.leader_term = 4,
                5,
                Some(RefusalReason::StaleTerm),
            ),
            (
                "not mesos-",
                |o| o.container_name = "sidecar".into(),
                0,
                Some(RefusalReason::NotMesos),
            ),
        ];
        for (what, edit, seen, want) in cases {
            let mut o = order();
            edit(&mut o);
            assert_eq!(reason(check_order(&o, seen)), want, "{what}");
        }
    }

    #[test]
    fn the_container_must_be_the_ordered_one_and_old_enough() {
        type Edit = fn(&mut ContainerRecord);
        let hour = Duration::from_secs(3600);
        let cases: [(&str, Edit, Option<RefusalReason>); 6] = [
            ("the ordered container, two hours old", |_| {}, None),
            (
                "another id under the name",
                |c| c.id = "b".repeat(64),
                Some(RefusalReason::Replaced),
            ),
            (
                "re-created under the same id",
                |c| c.created_unix_nanos += 1,
                Some(RefusalReason::Replaced),
            ),
            (
                "renamed away from mesos-",
                |c| c.name = "kept".into(),
                Some(RefusalReason::NotMesos),
            ),
            (
                "younger than the minimum age",
                |c| c.created_unix_nanos = NOW - HOUR / 2,
                Some(RefusalReason::Replaced),
            ),
            (
                "clock skew: created in the future",
                |c| c.created_unix_nanos = NOW + HOUR,
                Some(RefusalReason::Replaced),
            ),
        ];
        for (what, edit, want) in cases {
            let mut c = container();
            edit(&mut c);
            assert_eq!(
                reason(check_container(&order(), &c, NOW, hour)),
                want,
                "{what}"
            );
        }
        // Young but otherwise the ordered container: TOO_YOUNG.
        let mut o = order();
        let mut c = container();
        o.created_unix_nanos = NOW - HOUR / 2;
        c.created_unix_nanos = NOW - HOUR / 2;
        let (r, detail) = check_container(&o, &c, NOW, hour).unwrap_err();
        assert_eq!(r, RefusalReason::TooYoung);
        assert_eq!(detail, "age 1800s < minimum 3600s");
    }
}
