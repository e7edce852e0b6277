//! The operator's side of the API: what `galley-coordinator status` and `mark-for-deployment
//! --wait` are built from. They are gRPC clients of `galley.v1.CoordinatorService` like any
//! other (grpcurl included): [`connect`] dials a coordinator (plaintext, or mutual TLS with the
//! same CA / certificate / key files grpcurl takes), [`json`] prints an answer in protobuf's
//! JSON mapping (what grpcurl prints), [`screen`] renders the `status` screen and decides
//! whether an instance is critical, and [`wait`] decides whether a deploy has converged, is
//! still converging, or cannot converge. Everything but [`connect`] is pure.

pub mod connect;
pub mod json;
pub mod screen;
pub mod wait;

pub use connect::{ClientTls, ConnectError, connect};
