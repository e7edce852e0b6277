//! The shared fuzz harness (`galley_e2e::fuzz`).

pub use galley_e2e::fuzz::*;
