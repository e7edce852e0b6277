//! The whole-system chaos campaign (issue 20): the real processes — three `galley-coordinator
//! serve` with a ZooKeeper election, `galley-sim marathon` with a Docker engine per slave, a
//! `galley-agent` per slave, a bare git repository per service — driven by a seeded random
//! [`Schedule`] of operations and faults. After the schedule every fault is undone and the
//! campaign waits for convergence (bound and definition: [`campaign`]), then checks the
//! [`invariants`] (each defined precisely there) on what the processes left behind: the
//! Marathon emulator's request log (`/_sim/requests`: every Marathon and Mesos request with
//! the coordinator that made it, known by its basic-auth user) and task history
//! (`/_sim/history`), the Docker engines' containers (followed every 250 ms), the
//! coordinators' deploy logs and their JSON logs (leadership and terms).
//!
//! **Operations**: deploys (a commit and a deploy tag), stop and start tags, config changes
//! (`instances`, `cpus`: a bounce), instance removals and restorations (written to every
//! coordinator's soa dir), orphan containers (a `mesos-` container of a retired task, which the
//! reaper in enforce mode must reap, beside a foreign one it must leave).
//!
//! **Faults**, each mapped to something real: Marathon 5xx (reads or everything), slow
//! answers, dropped connections (`/_sim/faults` rules); Marathon leadership lost and regained
//! (`/_sim/leader`: 503s, every event stream closed); event streams broken
//! (`/_sim/events/break`) and events lost (`/_sim/events/drop`); the Mesos master without a
//! leader (`/_sim/mesos-leader`), answering without a slave and its tasks (partial) or frozen
//! (stale) (`/_sim/mesos-view`); a slave's Docker engine erroring or slow (its socket's
//! `/_sim/faults`, `/_sim/delay`); an agent stopped (SIGSTOP: silent, stale) or `kill -9`ed and
//! restarted; a service's git repository moved away and back; a coordinator (or whoever leads
//! then) stopped past its ZooKeeper session (SIGSTOP then SIGCONT: a real session expiry) or
//! `kill -9`ed and restarted; Marathon's clock jumping forward (`/_sim/tick` on a real-time
//! emulator).
//!
//! **Not implemented**, and why: clock jumps of the coordinators and agents (they read the
//! system clock; moving it needs root and would move every process on the machine, the other
//! tests' too) and backwards jumps of the emulator (its clock only advances); a ZooKeeper server
//! outage (the server is shared with the rest of the suite); network partitions between chosen
//! processes (they need network namespaces or firewall rules on a shared machine); a Marathon
//! fail-over to a *different* Marathon with its own state (the emulator is one Marathon: a
//! leadership loss is 503s and closed streams, then the same state); Docker's event stream
//! breaking on its own (the engine's fault switches answer requests, and the agents re-list
//! every 30 s anyway).
//!
//! Modules: [`rng`] (splitmix64; the same seed gives the same schedule), [`schedule`],
//! [`model`] (the desired state the operations lead to, and convergence to it), [`campaign`]
//! (processes, a run), `play` (each step's effect and undoing), [`evidence`], [`invariants`],
//! [`minimize`] (delta debugging of a failing schedule, bounded replays), [`figures`],
//! [`runner`] (what both entry points share: environment, reports, replay lines).

pub mod campaign;
pub mod evidence;
pub mod figures;
pub mod invariants;
pub mod minimize;
pub mod model;
mod play;
pub mod rng;
pub mod runner;
pub mod schedule;

pub use campaign::{Campaign, RunOutcome, Settings};
pub use schedule::{Schedule, Step, StepKind};
