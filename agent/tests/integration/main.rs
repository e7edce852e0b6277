//! The agent's integration tests, compiled as one binary.

mod config;
mod metrics;
mod reaper;
