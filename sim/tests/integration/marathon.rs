//! Marathon/Mesos emulator contract tests, over real sockets with reqwest, on the virtual clock.
//!
//! `api` covers each endpoint's success and error shapes, `deploy` the deployment and task
//! lifecycle (spec §2 arithmetic included), `mesos` the master endpoints, `props` a proptest of
//! cluster invariants under random operations.

mod api;
mod deploy;
mod harness;
mod mesos;
mod props;
