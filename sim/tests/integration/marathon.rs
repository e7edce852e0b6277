//! Marathon/Mesos emulator contract tests, over real sockets with reqwest, on the virtual clock.
//!
//! `api` covers each endpoint's success and error shapes, `contract`/`contract_cluster` compare
//! them with Marathon 1.4.13's published examples and Scala writers (`shape`, `scala_keys`,
//! data in `marathon/marathon-1.4.13/`), `deploy` the deployment and task lifecycle (spec §2
//! arithmetic included), `mesos` the master endpoints, `props` a proptest of cluster
//! invariants under random operations.

mod api;
mod contract;
mod contract_cluster;
mod deploy;
mod harness;
mod kills;
mod mesos;
mod ports;
mod props;
mod queue;
mod scala_keys;
mod shape;
