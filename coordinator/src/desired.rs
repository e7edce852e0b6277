//! The desired-state room: everything that turns git refs and yelpsoa-configs into what
//! should run. `soa_dir` is the only reader of the soa dir and `system_dir` of `/etc/paasta`;
//! `report` (re-exported here) reads the whole tree for one cluster into a `DesiredReport`;
//! `generate` writes `deployments.json` from git (`git`: ls-remote through `GitSource`);
//! `gitwatch` keeps it current (poller, webhook) and writes tags; `atomic` and `fsutil` are
//! the file primitives (atomic replace, bounded config reads).

pub mod atomic;
mod changes;
mod facts;
pub mod fsutil;
pub mod generate;
pub mod git;
pub mod gitwatch;
mod report;
pub mod soa_dir;
pub mod system_dir;

pub use changes::{DesiredChange, ServiceWatch};
pub use facts::{FactsOf, InstanceFacts, RollbackKeys};
pub use report::*;
