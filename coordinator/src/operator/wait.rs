//! Has a deploy converged? Per instance of the deploy group, from what `ListInstances` says:
//! done once its desired app runs the new sha, is its only app and has every wanted task happy
//! (healthy); converging while the coordinator gets there; stuck when it cannot (its config is
//! invalid, or the group was marked to another sha since — an automatic rollback). Pure.

use galley_proto::v1 as pb;

use super::screen::{State, short, state};
use crate::grpc::view::INVALID_CONFIG;

/// Where one instance stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Runs the new sha, only app, every task happy.
    Done,
    /// On its way.
    Converging {
        /// Happy tasks of the new version.
        happy: u32,
        /// Tasks wanted.
        expected: u32,
        /// What it is doing (the state line and the first piece of evidence).
        detail: String,
    },
    /// It will not get there by itself.
    Stuck {
        /// Why.
        why: String,
    },
}

/// One instance's wait, with what it saw before.
#[derive(Debug, Clone, Default)]
pub struct InstanceWait {
    seen_target: bool,
}

impl InstanceWait {
    /// Where `i` stands on the way to `sha` (a full 40-hex sha).
    pub fn update(&mut self, i: &pb::InstanceStatus, sha: &str) -> Progress {
        let on_target = !i.git_sha.is_empty() && sha.starts_with(&i.git_sha);
        if on_target {
            self.seen_target = true;
        } else if self.seen_target && !i.git_sha.is_empty() {
            return Progress::Stuck {
                why: format!(
                    "the deploy group was marked to {} since (an automatic rollback?)",
                    short(&i.git_sha)
                ),
            };
        }
        let not_planned = i.bounce_state == pb::BounceState::NotPlanned as i32;
        if not_planned && i.last_error.starts_with(INVALID_CONFIG) {
            return Progress::Stuck {
                why: i.last_error.clone(),
            };
        }
        if !on_target {
            let detail = if i.git_sha.is_empty() {
                "waiting for the coordinator to see the new deploy tag".to_owned()
            } else {
                format!(
                    "waiting for the coordinator to see the new deploy tag (desired: {})",
                    short(&i.git_sha)
                )
            };
            return Progress::Converging {
                happy: 0,
                expected: i.tasks_expected,
                detail,
            };
        }
        if is_done(i) {
            return Progress::Done;
        }
        Progress::Converging {
            happy: i.tasks_happy,
            expected: i.tasks_expected,
            detail: detail(i),
        }
    }
}

/// The desired app is the only app and every wanted task is happy.
fn is_done(i: &pb::InstanceStatus) -> bool {
    let only = matches!(&i.apps[..], [a] if a.desired);
    only && i.tasks_happy >= i.tasks_expected
}

/// The state line, then how the new version's tasks stand, for progress and failure
/// messages.
pub fn detail(i: &pb::InstanceStatus) -> String {
    let st = state(i);
    let mut text = match &st {
        State::Bouncing { method, .. } => format!(
            "bouncing ({method}): {}/{} new task(s) happy",
            i.tasks_happy, i.tasks_expected
        ),
        other => other.line(),
    };
    let tasks = new_tasks(i);
    if !tasks.is_empty() {
        text.push_str("; new tasks: ");
        text.push_str(&tasks);
    }
    text
}

/// `2 staging, 1 failing health checks`: the desired app's tasks that are not happy, by why.
pub fn new_tasks(i: &pb::InstanceStatus) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut count = |what: &'static str| match counts.iter_mut().find(|(w, _)| *w == what) {
        Some((_, n)) => *n += 1,
        None => counts.push((what, 1)),
    };
    for t in i
        .tasks
        .iter()
        .filter(|t| t.app_id == i.desired_app_id && !t.happy)
    {
        match pb::TaskHealth::try_from(t.health).unwrap_or_default() {
            _ if t.started_at.is_empty() => count("staging"),
            pb::TaskHealth::Unhealthy => count("failing health checks"),
            pb::TaskHealth::Unknown => count("without a health result yet"),
            _ => count("not up long enough"),
        }
    }
    counts
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The "What Galley sees" items of the instance's replication text (PaaSTA's own advice
/// before them is not evidence).
pub fn evidence(i: &pb::InstanceStatus) -> Vec<String> {
    let Some(r) = &i.replication else {
        return Vec::new();
    };
    r.output
        .lines()
        .skip_while(|l| l.trim() != "What Galley sees:")
        .filter_map(|l| l.trim().strip_prefix("* "))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use galley_proto::v1 as pb;

    use super::{InstanceWait, Progress};

    const NEW: &str = "2222222222222222222222222222222222222222";
    const OLD: &str = "1111111111111111111111111111111111111111";

    fn app(id: &str, desired: bool, happy: u32) -> pb::AppStatus {
        pb::AppStatus {
            app_id: id.into(),
            desired,
            tasks_happy: happy,
            ..Default::default()
        }
    }

    fn instance(sha: &str, apps: Vec<pb::AppStatus>, happy: u32) -> pb::InstanceStatus {
        pb::InstanceStatus {
            service: "web".into(),
            instance: "main".into(),
            git_sha: sha.into(),
            bounce_method: "crossover".into(),
            bounce_state: if apps.len() > 1 {
                pb::BounceState::Bouncing as i32
            } else {
                pb::BounceState::Steady as i32
            },
            tasks_expected: 3,
            tasks_happy: happy,
            apps,
            replication: Some(pb::ReplicationEntry {
                output: "Service web.main has 3 out of 3\n  * Increase the instance count\n\nWhat Galley sees:\n\n  * 3 task(s) failing health checks, e.g. t on h\n".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_deploy_converges_through_the_new_tag_the_bounce_and_every_task_happy() {
        let mut w = InstanceWait::default();
        let before = instance(OLD, vec![app("/web.main.git11111111.c", true, 3)], 3);
        assert!(
            matches!(w.update(&before, NEW), Progress::Converging { happy: 0, ref detail, .. } if detail.contains("(desired: 11111111)"))
        );
        let mut bouncing = instance(
            NEW,
            vec![
                app("/web.main.git11111111.c", false, 3),
                app("/web.main.git22222222.c", true, 1),
            ],
            1,
        );
        bouncing.desired_app_id = "/web.main.git22222222.c".into();
        let task = |started: &str, health: pb::TaskHealth, happy: bool| pb::TaskStatus {
            app_id: "/web.main.git22222222.c".into(),
            started_at: started.into(),
            health: health as i32,
            happy,
            ..Default::default()
        };
        bouncing.tasks = vec![
            task("2026-01-06T12:00:00Z", pb::TaskHealth::Healthy, true),
            task("", pb::TaskHealth::Unknown, false),
            task("2026-01-06T12:00:00Z", pb::TaskHealth::Unhealthy, false),
        ];
        match w.update(&bouncing, NEW) {
            Progress::Converging {
                happy,
                expected,
                detail,
            } => {
                assert_eq!((happy, expected), (1, 3));
                assert_eq!(
                    detail,
                    "bouncing (crossover): 1/3 new task(s) happy; new tasks: 1 staging, 1 failing health checks"
                );
            }
            other => panic!("{other:?}"),
        }
        let alone_not_happy = instance(NEW, vec![app("/web.main.git22222222.c", true, 2)], 2);
        assert!(matches!(
            w.update(&alone_not_happy, NEW),
            Progress::Converging { happy: 2, .. }
        ));
        let done = instance(NEW, vec![app("/web.main.git22222222.c", true, 3)], 3);
        assert_eq!(w.update(&done, NEW), Progress::Done);
    }

    #[test]
    fn a_group_marked_to_another_sha_after_the_new_one_is_stuck() {
        let mut w = InstanceWait::default();
        let on_new = instance(NEW, vec![app("/web.main.git22222222.c", true, 0)], 0);
        assert!(matches!(
            w.update(&on_new, NEW),
            Progress::Converging { .. }
        ));
        let back = instance(OLD, vec![app("/web.main.git11111111.c", true, 3)], 3);
        match w.update(&back, NEW) {
            Progress::Stuck { why } => assert!(why.contains("marked to 11111111"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Never having seen the new sha, the old one is only "not yet".
        let mut fresh = InstanceWait::default();
        assert!(matches!(
            fresh.update(&back, NEW),
            Progress::Converging { .. }
        ));
    }

    #[test]
    fn an_invalid_config_is_stuck_and_nothing_deployed_yet_is_not() {
        let mut i = instance("", vec![], 0);
        i.bounce_state = pb::BounceState::NotPlanned as i32;
        i.last_error = "not deployed: no image".into();
        assert!(matches!(
            InstanceWait::default().update(&i, NEW),
            Progress::Converging { .. }
        ));
        i.last_error = format!(
            "{}: web/marathon-norcal-prod.yaml: main.instances",
            crate::grpc::view::INVALID_CONFIG
        );
        assert!(matches!(
            InstanceWait::default().update(&i, NEW),
            Progress::Stuck { .. }
        ));
    }
}
