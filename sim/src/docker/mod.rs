//! Docker Engine API emulator (API 1.41, Docker 20.10.24 behaviour) over a unix socket.
//!
//! # Use
//! - [`DockerSim::serve`]`(socket_path, clock)` binds a unix socket and serves a new engine;
//!   the returned [`DockerSimHandle`] gives [`DockerSimHandle::engine`] (for `sim_*` calls) and
//!   [`DockerSimHandle::shutdown`]. [`DockerSim::serve_engine`] serves an existing engine.
//! - [`DockerHosts`] maps hostnames to engines and implements [`crate::HostRuntime`]: when the
//!   Marathon emulator launches a task on host H, H's engine gets a running container named
//!   `mesos-<containerId>` (or `mesos-<slaveId>.<containerId>`, see [`MesosNaming`]) with the
//!   launch's image, env plus `MESOS_TASK_ID`, `MARATHON_APP_ID`, `MESOS_SANDBOX`,
//!   `MESOS_CONTAINER_NAME`, and the `MESOS_TASK_ID` label; when the task ends the container
//!   is stopped (kill 15, kill 9, die 137, stop) and kept, as Mesos keeps exited containers
//!   for `--docker_remove_delay`.
//! - [`DockerEngine`] `sim_*` methods: `sim_inject` (any container in any state: orphans,
//!   non-Mesos containers, containers without a task id, exited leftovers), `sim_replace` (same
//!   name and config, new id and creation time), `sim_force_remove`, `sim_exit`,
//!   `sim_stop_now`, `sim_set_stop_behavior`, and the fault switches `sim_fail_requests`
//!   ([`FaultRule`]: status + message, optionally per path and N times),
//!   `sim_set_response_delay` and `sim_clear_faults`.
//!   [`ContainerSpec::mesos_orphan`] builds a `mesos-<uuid>` container with or without a task
//!   id.
//! - `galley-sim docker --socket PATH [--demo-containers N]` serves one engine on a real-time
//!   clock.
//!
//! # Contract suite
//! `sim/tests/integration/docker.rs` runs one suite through bollard 0.21 against this emulator
//! and against a real dockerd 20.10 (`scripts/dockerd.sh start DIR` prints the env it needs:
//! `GALLEY_DOCKER_SOCK`, `GALLEY_TEST_IMAGE`). The emulator implements the minimal
//! `POST /containers/create` and `POST /containers/{id}/start` so that the suite creates its
//! containers through the same bollard calls on both backends.
//!
//! # Endpoints (each also under a `/v1.xx` prefix)
//! `GET|HEAD /_ping`, `GET /version`, `GET /containers/json` (`all`, `limit`, `size`,
//! `filters`), `POST /containers/create?name=`, `GET /containers/{id}/json`,
//! `POST /containers/{id}/start`, `POST /containers/{id}/stop?t=`,
//! `POST /containers/{id}/kill?signal=`, `DELETE /containers/{id}?force=&v=&link=`,
//! `GET /events?since=&until=&filters=`. Anything else: 404 `page not found`. Not Docker's:
//! `POST|DELETE /_sim/faults` and `PUT /_sim/delay` script the fault switches over the socket
//! (`http.rs`, `sim_control`).
//!
//! # Faithful (checked against dockerd 20.10.24 by the contract suite)
//! - Headers `Api-Version: 1.41`, `Docker-Experimental`, `Ostype: linux`, `Server`; versions
//!   above 1.41 → 400 `client version X is too new. Maximum supported API version is 1.41`;
//!   below 1.12 → 400 plain text; a non-numeric prefix is not a version (404).
//! - `{id}`: full id, then name (with or without `/`), then unique id prefix (ambiguous → 500
//!   `multiple IDs found with provided prefix: X`).
//! - Error bodies `{"message": …}` with dockerd's texts and codes: 404 `No such container: X`
//!   (also for `rm -f`), kill 409 `Cannot kill container: X: Container <id> is not running`,
//!   kill 404 `Cannot kill container: X: No such container: X`, 400 `Invalid signal: X`, 500
//!   `… The linux daemon does not support signal N`, rm 409 `You cannot remove a running
//!   container <id>. …`, create 409 name conflict and 400 invalid name; stop and start answer
//!   304 with an empty body when there is nothing to do.
//! - List: newest first; `all` (Go `BoolValue` parsing), `limit` (implies all), `size`
//!   (`SizeRootFs`); filters in both the `{"k":["v"]}` and legacy `{"k":{"v":true}}` forms;
//!   `id` (prefix), `name` (regex against `/name` or `name`; invalid regex matches nothing),
//!   `label` (`k`/`k=v`, all must match), `status` (implies all; bad value → 400
//!   `Invalid filter 'status=x'`), `exited`, `before`/`since`, `ancestor`, `network`,
//!   `health`, `is-task`; unknown key → 400 `Invalid filter 'k'`; JSON type errors → 500 with
//!   Go's `json: cannot unmarshal …` text; non-numeric `limit`/`t`/`exited` → 500 `strconv…`.
//! - Summary: `State` lowercase, `Created` unix seconds, `Names` with `/`, `Status` text via
//!   Go's `HumanDuration` (`Up 5 seconds`, `Exited (137) 3 seconds ago`, `Created`).
//!   Inspect: `Created`/`StartedAt`/`FinishedAt` RFC3339Nano (zero time
//!   `0001-01-01T00:00:00Z`), `State{Status,Running,Paused,Restarting,OOMKilled,Dead,Pid,
//!   ExitCode,Error,StartedAt,FinishedAt}`, `Path`/`Args`, `Name` with `/`,
//!   `Config{Hostname,Env ("K=V"),Cmd,Image,Labels,…}`, `HostConfig.NetworkMode`.
//! - Stop: kill(15) → [wait `t`, kill(9)] → die(exitCode) → stop; a container whose PID 1
//!   ignores SIGTERM ([`StopBehavior::IgnoreSigterm`], the default, like busybox `sleep`) exits
//!   137. Kill: kill → die (SIGKILL). Remove: destroy; force on a running one: kill, die,
//!   destroy. Event JSON with `status`/`id`/`from`, `Type`, `Action`,
//!   `Actor{ID,Attributes}` (labels + `image` + `name` + `signal`/`exitCode`, sorted),
//!   `scope`, `time`, `timeNano`; `since` replays the last 256 events; `until` ends the stream;
//!   `since` after `until` → 400; filters `type`, `event`, `container` (id/name prefix),
//!   `image`, `label`; unknown keys are ignored, as in 20.10.
//!
//! # Simplified
//! - No processes, images, volumes, ports, networks or logs. Any image name is accepted at
//!   create (dockerd answers 404 `No such image` for a missing one); `ImageID`, network and
//!   endpoint ids are stable fakes; `Ports` and `Mounts` are empty; `SizeRootFs` is a constant.
//! - Only container events are emitted (dockerd also emits `network connect/disconnect` and
//!   image events; filter `type=container` to compare).
//! - The `t` wait of stop is real time on a real clock and instant on a virtual clock (the
//!   clock is shared with the Marathon emulator and is not advanced). Negative `t` waits, as
//!   in dockerd, until the container dies by other means. `link=1` on remove always answers
//!   dockerd's default-link conflict (there are no links).
//! - Signals other than SIGKILL (and SIGTERM for [`StopBehavior::ExitOnSigterm`]) only emit a
//!   `kill` event, as for a PID 1 without handlers.
//! - Inspect carries the fields above plus empty or constant placeholders for the rest
//!   (`ResolvConfPath`, `Driver: vfs`, …); `ExecIDs` null; no `Health`.
//! - Go JSON syntax-error texts for `filters` are approximated (exact for truncated input and a
//!   bad first character). `since`/`until` take unix seconds (with fraction) or RFC3339, not
//!   relative durations.
//! - `Server` is `Docker/20.10.24 (linux)`; Debian's build says `Docker/20.10.24+dfsg1 (linux)`.

pub mod cli;
mod engine;
mod error;
mod events;
mod filters;
mod http;
mod list;
mod model;
mod runtime;
mod server;
mod signal;
mod sim_hooks;
mod spec;
mod stream;

pub use engine::DockerEngine;
pub use error::{EngineError, KillFailure, Outcome};
pub use events::Event;
pub use filters::{FilterArgs, FilterError};
pub use http::{API_VERSION, ENGINE_VERSION, MIN_API_VERSION};
pub use list::ListQuery;
pub use model::{Container, ContainerStatus, StopBehavior};
pub use runtime::{DockerHosts, MESOS_SANDBOX, MesosDockerConfig, MesosNaming};
pub use server::{DockerSim, DockerSimHandle, ServeError};
pub use sim_hooks::FaultRule;
pub use spec::{ContainerSpec, CreateBodyError, InitialState};
