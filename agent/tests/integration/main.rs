//! The agent's integration tests, compiled as one binary.

mod config;
mod fuzz;
mod metrics;
mod reaper;
