//! The Galley coordinator: turns git refs and yelpsoa-configs into desired state and drives
//! Marathon to it.
//!
//! Entry points: `galley-coordinator generate-deployments` → [`generate::generate_all`];
//! `galley-coordinator serve` wires the reconciler, monitor, agent service, reaper, git watch
//! and gRPC API. The demo (emulated cluster) lives in its own crate, `galley-demo`, so this
//! library and the coordinator binary carry no emulator.

pub mod agents;
pub mod apply;
pub mod atomic;
pub mod config;
pub mod deploy_log;
pub mod desired;
pub mod drain;
pub mod election;
pub mod error_chain;
pub mod fsutil;
pub mod generate;
pub mod git;
pub mod gitwatch;
pub mod grpc;
pub mod haproxy;
pub mod http_server;
pub mod marathon;
pub mod mesos;
pub mod metrics;
pub mod monitor;
/// The Marathon planner (the `galley-planner` crate: no I/O).
pub use galley_planner::marathon as plan;
pub mod reconciler;
pub mod runtime;
pub mod sensu;
pub mod server;
pub mod signal;
pub mod soa_dir;
pub mod system_dir;
pub mod tls;
