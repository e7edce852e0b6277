//! The Galley coordinator: turns git refs and yelpsoa-configs into desired state and drives
//! Marathon to it.
//!
//! Entry points: `galley-coordinator generate-deployments` → [`generate::generate_all`];
//! `galley-coordinator serve` wires the reconciler, monitor, agent service, reaper, git watch
//! and gRPC API. The demo (emulated cluster) lives in its own crate, `galley-demo`, so this
//! library and the coordinator binary carry no emulator.

#![warn(unreachable_pub)]

// Rooms that follow the data: desired → observed → plan → apply (the reconciler's pass),
// then monitor and report; agents (the reaper's side); api; election; runtime wires them.
pub mod agents;
pub mod api;
pub mod apply;
pub mod config;
pub mod desired;
pub mod election;
pub mod error_chain;
pub mod monitor;
pub mod observed;
pub mod operator;
/// The Marathon planner (the `galley-planner` crate: no I/O).
pub use galley_planner::marathon as plan;
pub mod reconciler;
pub mod report;
pub mod rollback;
pub mod runtime;
pub mod signal;

// The modules' paths before the rooms, kept for callers.
pub use api::{grpc, http_server, server, tls};
pub use desired::{atomic, fsutil, generate, git, gitwatch, soa_dir, system_dir};
pub use observed::{haproxy, marathon, mesos};
pub use report::{deploy_log, metrics, sensu};
