//! The product suite's kit. Every test in `tests/e2e/` starts Galley's **built binaries**
//! (`galley-coordinator`, `galley-agent`, `galley-sim`) as processes, with config files of the
//! shapes README.md shows, and observes only what a user can: Marathon through its HTTP API,
//! Docker containers, files on disk, gRPC through grpcurl, `/metrics`, the deploy log.
//!
//! The binaries are taken from the cargo target directory the test runs from
//! (`target/debug/`); `scripts/test.sh` builds them (`cargo build --workspace --bins`) before
//! the tests. This library never links a Galley crate, so nothing here can construct a
//! coordinator in-process.
//!
//! The shared piece is [`Proc`] (start a binary, stop it, read its log) with [`eventually`]
//! (wait for a condition with a deadline, and say what was last seen when it never holds);
//! the rest are thin observers ([`docker`]: containers on an engine's socket, the emulators'
//! or the private real dockerd's).

pub mod chaos;
pub mod cluster;
pub mod docker;
pub mod fuzz;
pub mod grpcurl;
pub mod observe;
pub mod pki;
pub mod proc;
pub mod zookeeper;

pub use cluster::{Cluster, SimProc};
pub use grpcurl::Grpcurl;
pub use proc::{Proc, bin, eventually, free_port};
