//! A schedule: timed steps, each an operation (instant: what users and CI do) or a fault
//! (with a duration after which it is undone), generated from a seed. Replaying a seed gives
//! the same schedule ([`Schedule::generate`] uses only [`Rng`]); [`Schedule::only`] keeps a
//! subset of the steps (what delta debugging replays, and what `GALLEY_CHAOS_STEPS` selects).

use std::fmt;

use super::rng::Rng;

/// The services and instances of the campaign's soa dir, with their deploy groups.
pub const INSTANCES: [(&str, &str, &str); 4] = [
    ("api", "main", "norcal-prod.main"),
    ("api", "worker", "norcal-prod.worker"),
    ("web", "main", "norcal-prod.everything"),
    ("web", "canary", "norcal-prod.canary"),
];

/// Instances an operation may remove (one at a time: removing two of four apps would cross
/// the cleanup kill threshold of 0.5 and, rightly, never converge).
pub const REMOVABLE: [(&str, &str); 2] = [("api", "worker"), ("web", "canary")];

/// Number of coordinators (`c1`, `c2`, `c3`).
pub const COORDINATORS: usize = 3;

/// A coordinator step's `node` that means "whoever leads when the step is played".
pub const LEADER: usize = usize::MAX;

fn node_name(node: usize) -> String {
    if node == LEADER {
        "the leader".to_owned()
    } else {
        format!("coordinator c{}", node + 1)
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    // ---- operations ----
    /// A new commit of `service`, marked for `group` (a deploy tag).
    Deploy {
        service: &'static str,
        group: &'static str,
    },
    /// A stop tag on the sha deployed to the instance's group.
    Stop {
        service: &'static str,
        instance: &'static str,
    },
    /// A start tag on the sha deployed to the instance's group.
    Start {
        service: &'static str,
        instance: &'static str,
    },
    /// `instances: N` in the soa config (scales, same app).
    Scale {
        service: &'static str,
        instance: &'static str,
        instances: u32,
    },
    /// `cpus` changed in the soa config (a new config hash: a bounce).
    ChangeCpus {
        service: &'static str,
        instance: &'static str,
        millicpus: u32,
    },
    /// The instance's key removed from `marathon-norcal-prod.yaml` (its apps are cleaned up).
    RemoveInstance {
        service: &'static str,
        instance: &'static str,
    },
    /// The removed instance written back.
    RestoreInstance {
        service: &'static str,
        instance: &'static str,
    },
    /// A `mesos-` container of a retired task appears on slave `slave`'s engine (the reaper,
    /// in enforce mode, must reap it), beside a foreign non-`mesos-` container it must not.
    Orphan { slave: usize },
    // ---- faults (undone after `Step::duration_ms`) ----
    /// Marathon answers `status` to `GET /v2/apps…` (`reads`) or to every `/v2` request.
    MarathonStatus { status: u16, reads_only: bool },
    /// Marathon answers every `/v2` request `millis` late.
    MarathonSlow { millis: u64 },
    /// Marathon closes connections without an answer (`GET /v2/apps…` or every request).
    MarathonDrop { reads_only: bool },
    /// Marathon loses its leadership (503 on `/v2`, event streams closed), then regains it.
    MarathonLeaderLoss,
    /// Every open `/v2/events` stream ends (instant).
    EventStreamBreak,
    /// The next `count` events are lost silently on every stream (instant).
    EventDrop { count: u64 },
    /// The Mesos master has no leader (503 on its state endpoints).
    MesosNoLeader,
    /// The Mesos master leaves slave `slave` and its tasks out of its answers (partial).
    MesosPartial { slave: usize },
    /// The Mesos master keeps answering what it answered when this began (stale).
    MesosStale,
    /// Slave `slave`'s Docker engine answers `status` to every request.
    DockerErrors { slave: usize, status: u16 },
    /// Slave `slave`'s Docker engine answers every request `millis` late.
    DockerSlow { slave: usize, millis: u64 },
    /// Slave `slave`'s agent is stopped (SIGSTOP), then continued: a silent, stale agent.
    AgentStop { slave: usize },
    /// `kill -9` of slave `slave`'s agent; restarted after the duration.
    AgentKill { slave: usize },
    /// `service`'s bare repository is moved away (unreachable), then back.
    GitUnreachable { service: &'static str },
    /// Coordinator `node` ([`LEADER`]: the one leading then) is stopped (SIGSTOP) longer than
    /// its ZooKeeper session, then continued: its session has expired meanwhile.
    ZkSessionLoss { node: usize },
    /// `kill -9` of coordinator `node` ([`LEADER`]: the one leading then); restarted after the
    /// duration.
    CoordinatorKill { node: usize },
    /// Marathon's clock jumps forward `seconds` (instant; `POST /_sim/tick` on a real-time
    /// emulator shifts its clock).
    ClockJump { seconds: u64 },
    /// Sabotage, never generated: the only app of `service.instance` is deleted through
    /// Marathon with coordinator `c1`'s credentials, and nothing logs it. The campaign must
    /// report it (the end-to-end proof that its checks fail; see `tests/chaos/main.rs`).
    RogueDelete {
        service: &'static str,
        instance: &'static str,
    },
}

impl StepKind {
    /// A short name of the kind, for the figures (`faults injected by kind`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Deploy { .. } => "deploy",
            StepKind::Stop { .. } => "stop",
            StepKind::Start { .. } => "start",
            StepKind::Scale { .. } => "scale",
            StepKind::ChangeCpus { .. } => "config_change",
            StepKind::RemoveInstance { .. } => "remove_instance",
            StepKind::RestoreInstance { .. } => "restore_instance",
            StepKind::Orphan { .. } => "orphan_container",
            StepKind::MarathonStatus { .. } => "marathon_5xx",
            StepKind::MarathonSlow { .. } => "marathon_slow",
            StepKind::MarathonDrop { .. } => "marathon_drop",
            StepKind::MarathonLeaderLoss => "marathon_leader_change",
            StepKind::EventStreamBreak => "event_stream_break",
            StepKind::EventDrop { .. } => "event_drop",
            StepKind::MesosNoLeader => "mesos_no_leader",
            StepKind::MesosPartial { .. } => "mesos_partial",
            StepKind::MesosStale => "mesos_stale",
            StepKind::DockerErrors { .. } => "docker_errors",
            StepKind::DockerSlow { .. } => "docker_slow",
            StepKind::AgentStop { .. } => "agent_disconnect",
            StepKind::AgentKill { .. } => "agent_kill9",
            StepKind::GitUnreachable { .. } => "git_unreachable",
            StepKind::ZkSessionLoss { .. } => "zk_session_loss",
            StepKind::CoordinatorKill { .. } => "coordinator_kill9",
            StepKind::ClockJump { .. } => "clock_jump",
            StepKind::RogueDelete { .. } => "rogue_delete",
        }
    }

    /// Whether it is a fault (as opposed to an operation).
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            StepKind::Deploy { .. }
                | StepKind::Stop { .. }
                | StepKind::Start { .. }
                | StepKind::Scale { .. }
                | StepKind::ChangeCpus { .. }
                | StepKind::RemoveInstance { .. }
                | StepKind::RestoreInstance { .. }
                | StepKind::Orphan { .. }
        )
    }
}

/// One timed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its index in the seed's full schedule (kept by [`Schedule::only`]).
    pub index: usize,
    /// Milliseconds after the schedule starts.
    pub at_ms: u64,
    /// How long a fault lasts (0 for operations and instant faults).
    pub duration_ms: u64,
    /// What it does.
    pub kind: StepKind,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{:<3} +{:>6.1}s ",
            self.index,
            self.at_ms as f64 / 1000.0
        )?;
        match &self.kind {
            StepKind::Deploy { service, group } => {
                write!(f, "deploy a new commit of {service} to {group}")?
            }
            StepKind::Stop { service, instance } => write!(f, "stop {service}.{instance}")?,
            StepKind::Start { service, instance } => write!(f, "start {service}.{instance}")?,
            StepKind::Scale {
                service,
                instance,
                instances,
            } => write!(f, "config: {service}.{instance} instances: {instances}")?,
            StepKind::ChangeCpus {
                service,
                instance,
                millicpus,
            } => write!(
                f,
                "config: {service}.{instance} cpus: {}",
                *millicpus as f64 / 1000.0
            )?,
            StepKind::RemoveInstance { service, instance } => {
                write!(f, "config: remove {service}.{instance}")?
            }
            StepKind::RestoreInstance { service, instance } => {
                write!(f, "config: restore {service}.{instance}")?
            }
            StepKind::Orphan { slave } => write!(f, "orphan container on slave {slave}")?,
            StepKind::MarathonStatus { status, reads_only } => write!(
                f,
                "marathon answers {status} to {}",
                if *reads_only {
                    "GET /v2/apps"
                } else {
                    "every /v2 request"
                }
            )?,
            StepKind::MarathonSlow { millis } => write!(f, "marathon answers {millis} ms late")?,
            StepKind::MarathonDrop { reads_only } => write!(
                f,
                "marathon drops connections of {}",
                if *reads_only {
                    "GET /v2/apps"
                } else {
                    "every /v2 request"
                }
            )?,
            StepKind::MarathonLeaderLoss => write!(f, "marathon loses its leadership")?,
            StepKind::EventStreamBreak => write!(f, "marathon event streams break")?,
            StepKind::EventDrop { count } => write!(f, "marathon loses the next {count} events")?,
            StepKind::MesosNoLeader => write!(f, "mesos master without a leader")?,
            StepKind::MesosPartial { slave } => {
                write!(f, "mesos master leaves slave {slave} and its tasks out")?
            }
            StepKind::MesosStale => write!(f, "mesos master answers stale state")?,
            StepKind::DockerErrors { slave, status } => {
                write!(f, "docker on slave {slave} answers {status}")?
            }
            StepKind::DockerSlow { slave, millis } => {
                write!(f, "docker on slave {slave} answers {millis} ms late")?
            }
            StepKind::AgentStop { slave } => write!(f, "agent of slave {slave} stopped (SIGSTOP)")?,
            StepKind::AgentKill { slave } => write!(f, "kill -9 of the agent of slave {slave}")?,
            StepKind::GitUnreachable { service } => {
                write!(f, "git repository of {service} unreachable")?
            }
            StepKind::ZkSessionLoss { node } => {
                write!(f, "{} stopped past its ZooKeeper session", node_name(*node))?
            }
            StepKind::CoordinatorKill { node } => write!(f, "kill -9 of {}", node_name(*node))?,
            StepKind::ClockJump { seconds } => {
                write!(f, "marathon clock jumps {seconds} s forward")?
            }
            StepKind::RogueDelete { service, instance } => write!(
                f,
                "sabotage: {service}.{instance}'s app deleted as c1, unlogged"
            )?,
        }
        if self.duration_ms > 0 {
            write!(f, " for {:.1}s", self.duration_ms as f64 / 1000.0)?;
        }
        Ok(())
    }
}

/// A seed's steps, sorted by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The seed it was generated from.
    pub seed: u64,
    /// The steps.
    pub steps: Vec<Step>,
}

/// The shape of generated schedules.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Number of steps.
    pub steps: usize,
    /// The span they are spread over, in milliseconds.
    pub span_ms: u64,
    /// Number of slaves (each with an agent).
    pub slaves: usize,
    /// The ZooKeeper session timeout of the coordinators (a session loss stops one longer).
    pub session_ms: u64,
}

impl Schedule {
    /// The schedule of `seed`: `shape.steps` steps at random times within the span, about
    /// two faults for each operation.
    pub fn generate(seed: u64, shape: Shape) -> Self {
        let mut rng = Rng::new(seed);
        let mut removed: Option<(&'static str, &'static str)> = None;
        let mut at: Vec<u64> = (0..shape.steps).map(|_| rng.below(shape.span_ms)).collect();
        at.sort_unstable();
        let mut steps = Vec::new();
        for (index, at_ms) in at.into_iter().enumerate() {
            let (kind, duration_ms) = if rng.percent(35) {
                (operation(&mut rng, &mut removed, shape), 0)
            } else {
                fault(&mut rng, shape)
            };
            steps.push(Step {
                index,
                at_ms,
                duration_ms,
                kind,
            });
        }
        Self { seed, steps }
    }

    /// The same schedule with only the steps whose index is in `keep`.
    pub fn only(&self, keep: &[usize]) -> Self {
        Self {
            seed: self.seed,
            steps: self
                .steps
                .iter()
                .filter(|s| keep.contains(&s.index))
                .cloned()
                .collect(),
        }
    }

    /// The indexes of its steps.
    pub fn indexes(&self) -> Vec<usize> {
        self.steps.iter().map(|s| s.index).collect()
    }

    /// When its last fault ends (ms after the start).
    pub fn end_ms(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| s.at_ms + s.duration_ms)
            .max()
            .unwrap_or(0)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "schedule of seed {} ({} steps):",
            self.seed,
            self.steps.len()
        )?;
        for s in &self.steps {
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}

fn operation(
    rng: &mut Rng,
    removed: &mut Option<(&'static str, &'static str)>,
    shape: Shape,
) -> StepKind {
    let &(service, instance, group) = rng.pick(&INSTANCES);
    match rng.below(9) {
        0..=2 => StepKind::Deploy { service, group },
        3 => StepKind::Stop { service, instance },
        4 => StepKind::Start { service, instance },
        5 => StepKind::Scale {
            service,
            instance,
            instances: rng.range(1, 3) as u32,
        },
        6 => StepKind::ChangeCpus {
            service,
            instance,
            millicpus: 100 * rng.range(1, 5) as u32,
        },
        7 => match removed.take() {
            Some((service, instance)) => StepKind::RestoreInstance { service, instance },
            None => {
                let &(service, instance) = rng.pick(&REMOVABLE);
                *removed = Some((service, instance));
                StepKind::RemoveInstance { service, instance }
            }
        },
        _ => StepKind::Orphan {
            slave: rng.below(shape.slaves as u64) as usize,
        },
    }
}

fn fault(rng: &mut Rng, shape: Shape) -> (StepKind, u64) {
    let short = rng.range(1_000, 6_000);
    let slave = rng.below(shape.slaves as u64) as usize;
    // Half of the coordinator faults hit whoever leads then: the interesting case.
    let node = if rng.percent(50) {
        LEADER
    } else {
        rng.below(COORDINATORS as u64) as usize
    };
    match rng.below(18) {
        0 | 1 => (
            StepKind::MarathonStatus {
                status: *rng.pick(&[500, 502, 503]),
                reads_only: rng.percent(50),
            },
            short,
        ),
        2 => (
            StepKind::MarathonSlow {
                millis: rng.range(300, 3_000),
            },
            short,
        ),
        3 => (
            StepKind::MarathonDrop {
                reads_only: rng.percent(50),
            },
            short,
        ),
        4 => (StepKind::MarathonLeaderLoss, short),
        5 => (StepKind::EventStreamBreak, 0),
        6 => (
            StepKind::EventDrop {
                count: rng.range(1, 20),
            },
            0,
        ),
        7 => (StepKind::MesosNoLeader, short),
        8 => (
            StepKind::DockerErrors {
                slave,
                status: *rng.pick(&[500, 503]),
            },
            short,
        ),
        9 => (StepKind::AgentStop { slave }, rng.range(2_000, 8_000)),
        10 => (StepKind::AgentKill { slave }, short),
        11 => {
            const SERVICES: [&str; 2] = ["api", "web"];
            let service: &'static str = SERVICES[rng.below(2) as usize];
            (
                StepKind::GitUnreachable { service },
                rng.range(2_000, 8_000),
            )
        }
        12 => (
            StepKind::ZkSessionLoss { node },
            shape.session_ms + rng.range(1_000, 3_000),
        ),
        13 => (StepKind::CoordinatorKill { node }, short),
        14 => (StepKind::MesosPartial { slave }, rng.range(2_000, 10_000)),
        15 => (StepKind::MesosStale, rng.range(2_000, 10_000)),
        16 => (
            StepKind::DockerSlow {
                slave,
                millis: rng.range(200, 2_000),
            },
            short,
        ),
        _ => (
            StepKind::ClockJump {
                seconds: rng.range(2, 20),
            },
            0,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        steps: 40,
        span_ms: 60_000,
        slaves: 3,
        session_ms: 2_000,
    };

    #[test]
    fn a_seed_gives_the_same_schedule_and_only_keeps_steps() {
        let a = Schedule::generate(42, SHAPE);
        assert_eq!(a, Schedule::generate(42, SHAPE));
        assert_ne!(a, Schedule::generate(43, SHAPE));
        assert_eq!(a.steps.len(), 40);
        assert!(a.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        let some = a.only(&[1, 5, 7]);
        assert_eq!(some.indexes(), vec![1, 5, 7]);
        assert_eq!(some.steps[1], a.steps[5]);
        let text = a.to_string();
        assert!(
            text.starts_with("schedule of seed 42 (40 steps):"),
            "{text}"
        );
    }

    #[test]
    fn at_most_one_instance_is_removed_at_a_time() {
        for seed in 0..200 {
            let mut removed = 0i32;
            for s in Schedule::generate(seed, SHAPE).steps {
                match s.kind {
                    StepKind::RemoveInstance { .. } => removed += 1,
                    StepKind::RestoreInstance { .. } => removed -= 1,
                    _ => {}
                }
                assert!((0..=1).contains(&removed), "seed {seed}");
            }
        }
    }

    #[test]
    fn session_losses_outlast_the_session() {
        for seed in 0..200 {
            for s in Schedule::generate(seed, SHAPE).steps {
                if let StepKind::ZkSessionLoss { .. } = s.kind {
                    assert!(s.duration_ms > SHAPE.session_ms);
                }
            }
        }
    }
}
