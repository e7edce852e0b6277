//! Marathon v2 emulator (with a simulated Mesos cluster and the Mesos master state endpoints).
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> Result<(), galley_sim::marathon::StartError> {
//! use std::time::Duration;
//! use galley_sim::marathon::{MarathonSim, MarathonSimConfig, Outcome};
//! let sim = MarathonSim::start(MarathonSimConfig::virtual_time().credentials("u", "p")).await?;
//! // Point a Marathon client at sim.marathon_url(), a Mesos client at sim.mesos_url().
//! sim.sim_set_outcome("/broken", Outcome::NeverHealthy);
//! sim.tick(Duration::from_secs(30)); // virtual time: lifecycle runs every Timing::step
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! [`MarathonSim`] derefs to [`SimCluster`], the cloneable handle holding `tick`, `step_now`,
//! the `sim_*` scripting methods, `history()` (launches, runs, health changes, kill requests,
//! terminal states, deployments) and `samples()` (per-app staged/running/healthy/unhealthy/happy
//! counts after every change), so tests can assert "never fewer than N happy tasks".
//!
//! Two listeners: Marathon (`marathon_url`, like :8080) and the Mesos master (`mesos_url`, like
//! :5050). `galley-sim marathon --listen ADDR --mesos-listen ADDR --agents N [--realtime]`
//! serves the same thing from the binary.
//!
//! # Faithful (Marathon 1.4.13's source, spec §1–§3)
//! Pinned by the contract tests (`tests/integration/marathon/contract*.rs`: every answer key by
//! key and type by type against 1.4.13's published examples and Scala writers).
//! - Endpoints: `/v2/apps` (GET with `embed`/`id`/`cmd`/`label`, POST 201 + Location, PUT
//!   array), `/v2/apps/{id}` (GET always embedding counts/tasks/deployments/lastTaskFailure, PUT
//!   201-when-created with `partialUpdate`, rollback with `{"version"}`, DELETE defaulting to
//!   `force=true`), `/{id}/tasks` (GET, DELETE `host`/`scale`/`wipe`), `/{id}/tasks/{taskId}`,
//!   `/{id}/restart`, `/{id}/versions[/{ts}]`, `/{group}/*`, `/v2/tasks` (`status`/`status[]`),
//!   `/v2/tasks/delete`, `/v2/deployments` (bare array; DELETE rollback 200 or `force` 202),
//!   `/v2/queue` (`embed=lastUnusedOffers`; + `DELETE /v2/queue/{id}/delay`), `/v2/info`,
//!   `/v2/leader`, `/v2/events`, `/ping`.
//! - Greedy ids with canonicalisation, case-insensitive booleans, `X-Marathon-Leader`,
//!   `Marathon-Deployment-Id`, Jetty basic auth (401 + `WWW-Authenticate: Basic realm="Mesosphere"`,
//!   checked before everything else), exact error bodies (§1.6): 400 Invalid JSON with
//!   Play-style `error.expected.*`/`error.path.missing`, 422 "Object is not valid", 404s, 409
//!   locked with `deployments:[{"id"}]`, 409 already exists, 503 no leader.
//! - App JSON as `AppDefWrites` writes it (1.4 defaults and key order, versions and
//!   `versionInfo` for scale vs config change, readiness checks with their defaults); the 201
//!   of a POST shows the submitted app (service ports not yet assigned, no `versionInfo`).
//!   Service ports as `assignDynamicServicePorts` gives them (an update reuses the old ones,
//!   else the lowest free port of 10000–19999); port definitions carry them, a BRIDGE app's
//!   included (its port mappings' service ports). Embeds `readiness` and `taskStats`. Task
//!   ids `<safePath>.<uuid-v1>`, instance ids `<safePath>.marathon-<uuid>`.
//! - Task JSON per endpoint (`servicePorts` only on `/v2/tasks`; no health on
//!   `/v2/tasks/delete`); `DELETE /v2/apps/{id}/tasks[/{taskId}]` without `scale` answers 1.4's
//!   internal instance JSON (`instanceJsonWrites`, Mesos protobufs base64-encoded).
//! - Kills: a killed task stays (TASK_RUNNING, listed, found by the kill endpoints) until Mesos
//!   confirms it; it counts for the scale check (`ScalingProposition`: the replacement is
//!   launched after TASK_KILLED) and for constraints; kill-and-scale lowers `instances` only
//!   by the tasks not already being killed (possibly a deployment without steps).
//! - Launch queue: one item per app with launches waiting (`count`, `delay` with 1.4's
//!   truncation and `overdue`, `since`, `processedOffersSummary`, `lastUnusedOffers`, the
//!   RAML-trimmed app). Every step, each waiting app gets one offer per agent; declined offers
//!   carry `ResourceMatcher`'s reasons (roles, constraints, cpus/mem/disk/gpus, ports), counted
//!   under the first reason of the funnel, until the queue entry is purged.
//! - Deployment plans and step arithmetic of §2 (Start/Scale/Restart/Stop, minimumHealthCapacity,
//!   maximumOverCapacity, the +1 rule, capacity freed only on kill confirmation, kill order
//!   unhealthy → staging → killSelection), one lock per app, `force` cancelling with
//!   `deployment_failed`, `group_change_success`/`group_change_failed` for every change.
//!   Deployments that cannot converge run forever. `currentActions` carry readiness results.
//! - Lifecycle: STAGING → RUNNING after `Timing::staging`; kills confirmed after `Timing::kill`
//!   (tasks stay TASK_RUNNING until then, as without the task_killing feature) and expunged;
//!   health-check rounds every `intervalSeconds` per app, failures ignored in the grace period
//!   before a first success, kill after `maxConsecutiveFailures`; launch backoff
//!   (backoffSeconds × backoffFactor^n up to maxLaunchDelaySeconds, reset by a new deployment,
//!   pending wait cleared when a task reaches RUNNING); `--task_launch_timeout` kills.
//! - Mesos: agents with attributes, resources (unreserved, and reserved per role: offered to
//!   Marathon only for its `--mesos_role`, taken only by apps accepting that role), port ranges;
//!   placement honouring roles, cpus/mem/disk, host ports and LIKE/UNLIKE/UNIQUE/CLUSTER/
//!   GROUP_BY/MAX_PER over the instances of the current config; master `/master/state`
//!   (`/master/state.json`, `/state`), `/master/slaves`, `/master/frameworks`, `/master/tasks`,
//!   `jsonp`, 307 `Location: //leader:port/master/state` when not leading, 503 without leader;
//!   the last status carries `container_status.container_id.value` (= `TaskLaunch::container_id`).
//! - `/v2/info` with every `marathon_config`/`zookeeper_config` key at its flag's default.
//! - Host runtime: `HostRuntime::task_launched` on TASK_RUNNING with Marathon's task env
//!   (`MESOS_TASK_ID`, `MARATHON_APP_*`, `HOST`, `PORT*`, plus Mesos' `MESOS_CONTAINER_NAME`
//!   (`mesos-<containerId>`, Mesos ≥ 1.4) and `MESOS_SANDBOX`) and the docker label
//!   `MESOS_TASK_ID` (Marathon ≥ 1.4.0) plus any `label=K=V` docker parameters;
//!   `task_ended` when a running task ends. Calls are made outside the cluster lock.
//!
//! # Simplified
//! - The scale check runs on every lifecycle step (real Marathon: on terminal status, and every
//!   5 min) and also lowers a queue count no longer needed; launches are placed at once when an
//!   offer fits (no offer cycle, no reconciliation). API calls run a step limited to the apps
//!   they change (plus the other apps of those apps' deployments); placement is global, so an
//!   app or scale change costs that app's work. A task takes all its resources from one role.
//! - Only the first health check of an app is simulated; its result comes from the scripted
//!   [`Outcome`], not from probing ports. Readiness checks are always ready (one result per
//!   task of the current step once it runs and is healthy; `lastResponse` is a 200).
//! - A launched task reports TASK_STAGING at once (Marathon 1.4: condition Created without a
//!   Mesos status until TASK_RUNNING). Kill-and-scale never picks a task already being killed
//!   as a further victim. `TASK_LOST` (agent removed) expunges and replaces immediately
//!   (1.4.13's unreachableStrategy 0/0). No pods, groups API, secrets, residency or `wipe`
//!   semantics beyond its 400 rule. Unknown top-level App fields are dropped (as Marathon
//!   does); nested container/health-check extras are kept.
//! - Deployment event plans carry only the affected apps as `original`/`target` groups.
//! - `DELETE /v2/leader` answers but leadership does not move. No `Accept: text/plain` tasks.
//! - No SSE heartbeat; the Mesos agent endpoints (`/slave(1)/state`) are not served.
//!
//! # Control API (`/_sim` on the Marathon listener; bypasses auth, faults and leadership)
//! | Method & path | Body | Effect |
//! |---|---|---|
//! | POST `/_sim/tick` | `{"seconds": 12.5}` | `tick` |
//! | POST / DELETE `/_sim/outcomes` | `{"appIdPrefix": "/a", "outcome": {"kind": "never_healthy"}}` (kinds: `healthy`, `never_healthy`, `crash_after` + `after` secs, `stuck_staging`, `fail_on_launch`) | `sim_set_outcome` / `sim_clear_outcomes` |
//! | POST / DELETE `/_sim/faults` | `{"path_prefix": "/v2/apps", "method": "GET", "kind": {"status": {"status": 500, "message": "boom"}} \| {"delay": {"millis": 200}} \| "drop", "count": 1}` | `sim_fault` / `sim_clear_faults` |
//! | PUT `/_sim/leader` | `{"leader": false}` | `sim_set_leader` |
//! | PUT `/_sim/mesos-leader` | `{"mode": "leading"}` \| `{"mode": "follower", "host": "m2", "port": 5050}` \| `{"mode": "no_leader"}` | `sim_set_mesos_leadership` |
//! | GET / POST `/_sim/agents` | `{"hostname", "attributes"?, "cpus"?, "mem"?, "reserved"?: {"role": {"cpus", "mem"}}}` | list / `sim_add_agent` |
//! | DELETE `/_sim/agents/{hostname}` | | `sim_remove_agent` |
//! | PUT `/_sim/agents/{hostname}/capacity` | `{"cpus", "mem"}` | `sim_set_agent_capacity` |
//! | POST `/_sim/foreign-tasks`, DELETE `/_sim/foreign-tasks/{id}` | `{"hostname", "taskId", "frameworkId"?}` | `sim_add_foreign_task[_in]` / `sim_remove_foreign_task` |
//! | GET / DELETE `/_sim/history`, GET `/_sim/samples` | | `history` / `clear_history` / `samples` |
//! | PUT / DELETE `/_sim/mesos-view` | `{"hide": ["host", ...], "freeze": true}` | `sim_mesos_view`: the master leaves those slaves and their tasks out (partial) and/or keeps answering what it answers now (stale) / restores it |
//! | PUT / GET / DELETE `/_sim/requests` | `{"record": true}` | starts or stops the request log ([`requests`]: every `/v2` and Mesos request with its basic-auth user, wall-clock time and status; off by default) / reads it / clears it |

mod api;
mod api_apps;
pub mod cli;
mod config;
mod control;
mod deploy;
mod deploy_actions;
mod embeds;
mod error;
mod events;
mod handle;
mod health;
mod ids;
mod info;
mod instance;
mod json;
mod json_cache;
mod labels;
mod launch;
mod lifecycle;
mod mesos;
mod model;
mod offers;
mod ops;
mod ops_kill;
mod placement;
mod ports;
mod queue;
mod raml_app;
pub mod requests;
mod samples;
mod script;
mod server;
mod state;
mod synapse;
mod validate;
mod validate_parts;

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{AgentSpec, MarathonSimConfig, RoleResources, Timing, default_agents};
pub use handle::{MesosView, SimCluster};
pub use script::{
    AppCounts, Fault, FaultKind, HistoryEvent, HistoryKind, MesosLeadership, Outcome, Sample,
};
pub use synapse::SynapseRow;

/// Failure to start the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot bind {what} listener on {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        err: std::io::Error,
    },
}

/// A running emulator: Marathon + Mesos master listeners over one [`SimCluster`].
pub struct MarathonSim {
    cluster: SimCluster,
    marathon_addr: SocketAddr,
    mesos_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl MarathonSim {
    /// Binds both listeners, starts serving (and, in real-time mode, the lifecycle driver).
    pub async fn start(config: MarathonSimConfig) -> Result<Self, StartError> {
        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|err| StartError::Bind { what, addr, err })
        };
        let marathon = bind("marathon", config.marathon_addr).await?;
        let mesos = bind("mesos", config.mesos_addr).await?;
        let local = |l: &TcpListener, fallback| l.local_addr().unwrap_or(fallback);
        let marathon_addr = local(&marathon, config.marathon_addr);
        let mesos_addr = local(&mesos, config.mesos_addr);
        let cluster = SimCluster::new(&config);
        cluster.set_addresses(marathon_addr.to_string(), mesos_addr.to_string());
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(server::serve(
                marathon,
                api::router(cluster.clone()),
                server::Gate::Marathon(cluster.clone()),
                rx.clone(),
            )),
            tokio::spawn(server::serve(
                mesos,
                mesos::router(cluster.clone()),
                server::Gate::Mesos(cluster.clone()),
                rx.clone(),
            )),
        ];
        if let Some(period) = config.realtime_period {
            let driver = cluster.clone();
            let mut stop = rx;
            tasks.push(tokio::spawn(async move {
                loop {
                    let cost = {
                        let started = std::time::Instant::now();
                        driver.step_now();
                        started.elapsed()
                    };
                    tokio::select! {
                        () = tokio::time::sleep(step_gap(period, cost)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }));
        }
        tracing::info!(%marathon_addr, %mesos_addr, "marathon emulator listening");
        Ok(Self {
            cluster,
            marathon_addr,
            mesos_addr,
            shutdown,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT` of Marathon.
    pub fn marathon_url(&self) -> String {
        format!("http://{}", self.marathon_addr)
    }

    /// `http://127.0.0.1:PORT` of the Mesos master.
    pub fn mesos_url(&self) -> String {
        format!("http://{}", self.mesos_addr)
    }

    /// The cluster handle (also reachable through `Deref`).
    pub fn cluster(&self) -> &SimCluster {
        &self.cluster
    }

    /// Stops the listeners, drops open connections (event streams included) and waits.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

impl Deref for MarathonSim {
    type Target = SimCluster;

    fn deref(&self) -> &SimCluster {
        &self.cluster
    }
}

/// The wait before the next real-time lifecycle step: the configured period, stretched so
/// that full steps (which look at every app, O(apps)) take at most a tenth of a core. At
/// 50,000 apps a step costs ~100 ms; stepping every 200 ms regardless kept the emulator at
/// 75–90% of a core and slowed every API call. API calls still step their own apps at once.
fn step_gap(period: Duration, cost: Duration) -> Duration {
    period.max(cost * 9)
}

#[cfg(test)]
mod step_gap_tests {
    use std::time::Duration;

    #[test]
    fn steps_keep_their_period_until_they_cost_a_tenth_of_it() {
        let ms = Duration::from_millis;
        assert_eq!(super::step_gap(ms(200), ms(5)), ms(200));
        assert_eq!(super::step_gap(ms(200), ms(22)), ms(200));
        assert_eq!(super::step_gap(ms(200), ms(100)), ms(900));
    }
}
