//! Bad input, fuzzed with proptest (no nightly here, so no cargo-fuzz): the coordinator's config
//! parser, the Marathon and Mesos response decoding through the real clients, the SSE parser of
//! Marathon's event stream, the git webhook through its real HTTP server, and every gRPC
//! request of a started coordinator. No input may panic, hang or write anything; errors are
//! clear and name what they are about.
//!
//! Case counts are modest by default and follow `PROPTEST_CASES`; each target prints how many
//! inputs it ran and how long it took (`cargo test -p galley-coordinator --test integration
//! fuzz -- --nocapture`). Failing seeds are kept in `tests/proptest-regressions/fuzz/`; minimal
//! inputs worth keeping as files live in `fuzz/regressions/<target>/` at the workspace root,
//! replayed by `fuzz/regressions.rs`.

mod agent_session;
mod config;
mod env;
mod grpc;
mod http;
mod marathon;
mod mesos;
mod mutate;
mod regressions;
mod sse;
mod support;
mod webhook;
