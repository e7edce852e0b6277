//! The orphan container planner: which of the agents' containers to reap, with named reasons
//! and fail-closed holds ([`planner::plan_reap`]), over the coordinator's own container model
//! ([`model`]) and the reaper's policy and budgets ([`policy`]). No I/O.

pub mod model;
pub mod planner;
pub mod policy;
