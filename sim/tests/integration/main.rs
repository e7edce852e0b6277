//! The sim crate's integration tests, compiled as one binary.

mod docker;
mod marathon;
