//! Galley's decisions, in a crate of their own so the compiler keeps the rule that planners
//! do no I/O: this crate depends on `galley-common` and plain data crates only — no tokio, no
//! HTTP, no filesystem, no clock (time comes in as arguments).
//!
//! - [`marathon`]: `plan(desired, observed) -> Plan`, what a reconcile pass does to Marathon
//!   (bounces, scaling, cleanup with the kill threshold).
//! - [`orphans`]: which agents' containers the reaper orders reaped, and why others are held.

pub mod marathon;
pub mod orphans;
