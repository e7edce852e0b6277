//! Bad input, fuzzed with proptest (no nightly here, so no cargo-fuzz): the agent's config
//! parser and the Docker Engine's answers as the agent decodes them (through bollard, against a
//! fake engine on a unix socket, and `parse_nanos`). No input may panic or hang; errors are
//! clear and name the file or the Docker call.
//!
//! Case counts are modest by default and follow `PROPTEST_CASES`; each target prints how many
//! inputs it ran and how long it took (`cargo test -p galley-agent --test integration fuzz --
//! --nocapture`). Failing seeds are kept in `tests/proptest-regressions/fuzz/`; minimal inputs
//! worth keeping as files live in `fuzz/regressions/<target>/` at the workspace root, replayed
//! by `fuzz/regressions.rs`.

mod config;
mod docker;
mod mutate;
mod regressions;
mod support;
