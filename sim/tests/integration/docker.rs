//! Docker emulator tests.
//!
//! The contract suite (`docker::contract`) is written once over a [`backend::Backend`] and runs
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
mod raw;
mod sim_only;

/// Generates one `#[tokio::test]` per scenario and backend.
macro_rules! contract_tests {
    ($($scenario:ident),* $(,)?) => {
        mod emulator {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::backend::run(super::backend::Kind::Emulator, |b| {
                        Box::pin(super::contract::$scenario(b))
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
                        Box::pin(super::contract::$scenario(b))
                    })
                    .await;
                }
            )*
        }
    };
}

contract_tests!(
    ping_version_and_headers,
    version_prefixes,
    list_and_filters,
    list_filter_errors,
    inspect_fields,
    create_and_start_codes,
    stop_semantics_and_events,
    kill_semantics_and_events,
    remove_semantics_and_events,
    events_parameter_errors,
);
