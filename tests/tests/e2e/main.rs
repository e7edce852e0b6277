//! The product suite: each module is a user story told through the built binaries (see the
//! kit, `galley_e2e`). Run with `cargo build --workspace --bins && cargo test -p galley-e2e`;
//! `scripts/test.sh` does both, with grpcurl, a real dockerd and a real ZooKeeper.

mod serve_alone;
