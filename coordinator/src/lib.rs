//! The Galley coordinator: turns git refs and yelpsoa-configs into desired state and (in later
//! capabilities) drives Marathon to it.
//!
//! Entry points: `galley-coordinator generate-deployments` → [`generate::generate_all`].

pub mod atomic;
pub mod error_chain;
pub mod fsutil;
pub mod generate;
pub mod git;
pub mod soa_dir;
