//! The shared mutations (`galley_e2e::fuzz::mutate`).

pub use galley_e2e::fuzz::mutate::*;
