//! The demo's integration tests (one binary): the headless demo process, the operator API
//! through grpcurl against it, and the embedded example tree.

mod demo;
mod grpcurl;
mod tree;
