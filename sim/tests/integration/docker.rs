//! Docker emulator tests.
//!
//! The contract suite (`docker::contract`, `docker::lifecycle`) is written once over a [`backend::Backend`] and runs
//! against both the emulator (`docker::emulator::*`) and a real dockerd
//! (`docker::dockerd::*`). Both backends create containers the same way, through bollard's
//! `create_container` + `start_container` (the emulator implements those endpoints), so every
//! observable result is asserted identically on both.
//!
//! Real dockerd: set `GALLEY_DOCKER_SOCK` (and `GALLEY_TEST_IMAGE`), e.g.
//! `eval "$(scripts/dockerd.sh start /tmp/galley-dockerd)"`. Without it the dockerd tests print
//! `SKIPPED: real dockerd not available` and pass, unless `GALLEY_REQUIRE_DOCKERD=1` (CI), in
//! which case they fail.
//!
//! `docker::sim_only` holds emulator-only tests (HostRuntime, sim hooks, faults, streaming).

mod backend;
mod contract;
mod lifecycle;
mod raw;
mod sim_only;

/// Generates one `#[tokio::test]` per scenario and backend.
macro_rules! contract_tests {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        mod emulator {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::backend::run(super::backend::Kind::Emulator, |b| {
                        Box::pin(super::$module::$scenario(b))
                    })
                    .await;
                }
            )*
        }
        mod dockerd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::backend::run(super::backend::Kind::Dockerd, |b| {
                        Box::pin(super::$module::$scenario(b))
                    })
                    .await;
                }
            )*
        }
    };
}

contract_tests!(
    contract::ping_version_and_headers,
    contract::version_prefixes,
    contract::list_and_filters,
    contract::list_filter_errors,
    lifecycle::inspect_fields,
    lifecycle::create_and_start_codes,
    lifecycle::stop_semantics_and_events,
    lifecycle::kill_semantics_and_events,
    lifecycle::remove_semantics_and_events,
    contract::events_parameter_errors,
);
