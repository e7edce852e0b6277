//! The product suite: each module is a user story told through the built binaries (see the
//! kit, `galley_e2e`). Run with `cargo build --workspace --bins && cargo test -p galley-e2e`;
//! `scripts/test.sh` does both, with grpcurl, a real dockerd and a real ZooKeeper.

mod agents;
mod auto_rollback;
mod cli;
mod configs;
mod deploy_wait;
mod event_stream;
mod git;
mod ha;
mod hostile;
mod operator_status;
mod serve_alone;
mod serve_tls;
mod walkthrough;
