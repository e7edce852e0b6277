//! The Galley coordinator: turns git refs and yelpsoa-configs into desired state and (in later
//! capabilities) drives Marathon to it.
//!
//! Entry points: `galley-coordinator generate-deployments` → [`generate::generate_all`];
//! `galley-coordinator demo` → [`demo::run`].

pub mod atomic;
pub mod demo;
pub mod error_chain;
pub mod fsutil;
pub mod generate;
pub mod git;
pub mod marathon;
pub mod mesos;
pub mod plan;
pub mod soa_dir;
pub mod tls;
