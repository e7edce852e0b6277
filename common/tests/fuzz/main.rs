//! Fuzzing of the pure readers with proptest (no nightly, so no cargo-fuzz): arbitrary bytes,
//! token soups and mutations of the files Galley ships, through the YAML loader, soa-configs
//! (down to a rendered Marathon app) and deployments.json. Every input must give `Ok` or an
//! error whose text is non-empty and names the file; none may panic, overflow the stack or
//! grow without bound.
//!
//! Case counts are modest by default and follow `PROPTEST_CASES`; each target prints how many
//! inputs it ran and how long it took (`cargo test -p galley-common --test fuzz --
//! --nocapture`). Failing seeds are kept in `tests/proptest-regressions/fuzz/`; minimal
//! inputs worth keeping as files live in `fuzz/regressions/<target>/` at the workspace root,
//! replayed by `regressions.rs`.

mod deployments;
mod mutate;
mod regressions;
mod soa;
mod support;
mod yaml;
