//! The scriptable test-control API under `/_sim` on the Marathon listener (never behind auth,
//! faults or leadership). Every route mirrors a `sim_*` method of [`SimCluster`].

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::config::AgentSpec;
use super::error::{ApiError, json_response};
use super::handle::SimCluster;
use super::script::{Fault, MesosLeadership, Outcome};

/// `/_sim/*` routes.
pub fn router() -> Router<SimCluster> {
    Router::new()
        .route("/_sim/tick", post(tick))
        .route("/_sim/outcomes", post(set_outcome).delete(clear_outcomes))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/leader", put(set_leader))
        .route("/_sim/mesos-leader", put(set_mesos_leader))
        .route("/_sim/agents", get(agents).post(add_agent))
        .route("/_sim/agents/{hostname}", delete(remove_agent))
        .route("/_sim/agents/{hostname}/capacity", put(set_capacity))
        .route("/_sim/foreign-tasks", post(add_foreign_task))
        .route("/_sim/foreign-tasks/{task_id}", delete(remove_foreign_task))
        .route("/_sim/history", get(history).delete(clear_history))
        .route(
            "/_sim/requests",
            get(requests).put(record_requests).delete(clear_requests),
        )
        .route(
            "/_sim/mesos-view",
            put(set_mesos_view).delete(clear_mesos_view),
        )
        .route("/_sim/samples", get(samples))
        .route("/_sim/events/break", post(break_streams))
        .route("/_sim/events/streams", get(open_streams))
        .route("/_sim/events/drop", post(drop_events))
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::message(StatusCode::BAD_REQUEST, e.to_string()))
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

fn found(found: bool) -> Response {
    if found {
        ok(json!({}))
    } else {
        ApiError::message(StatusCode::NOT_FOUND, "not found").into_response()
    }
}

#[derive(Deserialize)]
struct TickBody {
    seconds: f64,
}

async fn tick(State(sim): State<SimCluster>, b: Bytes) -> Response {
    let b: TickBody = match body(&b) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Ok(d) = Duration::try_from_secs_f64(b.seconds) else {
        return ApiError::message(
            StatusCode::BAD_REQUEST,
            "seconds must be a non-negative number",
        )
        .into_response();
    };
    sim.tick(d);
    ok(json!({ "now": super::ids::ts(sim.now()) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutcomeBody {
    app_id_prefix: String,
    outcome: Outcome,
}

async fn set_outcome(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<OutcomeBody>(&b) {
        Ok(b) => {
            sim.sim_set_outcome(&b.app_id_prefix, b.outcome);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn clear_outcomes(State(sim): State<SimCluster>) -> Response {
    sim.sim_clear_outcomes();
    ok(json!({}))
}

async fn add_fault(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<Fault>(&b) {
        Ok(f) => {
            sim.sim_fault(f);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn clear_faults(State(sim): State<SimCluster>) -> Response {
    sim.sim_clear_faults();
    ok(json!({}))
}

#[derive(Deserialize)]
struct LeaderBody {
    leader: bool,
}

async fn set_leader(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<LeaderBody>(&b) {
        Ok(b) => {
            sim.sim_set_leader(b.leader);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn break_streams(State(sim): State<SimCluster>) -> Response {
    let open = sim.sim_open_event_streams();
    sim.sim_break_event_streams();
    ok(json!({ "broken": open }))
}

#[derive(Deserialize)]
struct DropBody {
    count: u64,
}

async fn drop_events(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<DropBody>(&b) {
        Ok(b) => {
            sim.sim_drop_events(b.count);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn open_streams(State(sim): State<SimCluster>) -> Response {
    ok(json!({ "open": sim.sim_open_event_streams() }))
}

async fn set_mesos_leader(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<MesosLeadership>(&b) {
        Ok(l) => {
            sim.sim_set_mesos_leadership(l);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn agents(State(sim): State<SimCluster>) -> Response {
    ok(json!({ "hostnames": sim.with(|c| c.hostnames()) }))
}

#[derive(Deserialize)]
struct AgentBody {
    hostname: String,
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
    cpus: Option<f64>,
    mem: Option<f64>,
    /// Resources reserved per role: `{"role": {"cpus": 1, "mem": 256}}`.
    #[serde(default)]
    reserved: std::collections::BTreeMap<String, ReservedBody>,
}

#[derive(Deserialize)]
struct ReservedBody {
    cpus: f64,
    mem: f64,
}

async fn add_agent(State(sim): State<SimCluster>, b: Bytes) -> Response {
    let b: AgentBody = match body(&b) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut spec = AgentSpec::new(&b.hostname);
    spec.attributes = b.attributes;
    spec.cpus = b.cpus.unwrap_or(spec.cpus);
    spec.mem = b.mem.unwrap_or(spec.mem);
    for (role, r) in b.reserved {
        spec = spec.reserve(&role, r.cpus, r.mem);
    }
    ok(json!({ "slaveId": sim.sim_add_agent(spec) }))
}

async fn remove_agent(State(sim): State<SimCluster>, Path(hostname): Path<String>) -> Response {
    found(sim.sim_remove_agent(&hostname))
}

#[derive(Deserialize)]
struct CapacityBody {
    cpus: f64,
    mem: f64,
}

async fn set_capacity(
    State(sim): State<SimCluster>,
    Path(hostname): Path<String>,
    b: Bytes,
) -> Response {
    match body::<CapacityBody>(&b) {
        Ok(c) => found(sim.sim_set_agent_capacity(&hostname, c.cpus, c.mem)),
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForeignBody {
    hostname: String,
    task_id: String,
    framework_id: Option<String>,
}

async fn add_foreign_task(State(sim): State<SimCluster>, b: Bytes) -> Response {
    let b: ForeignBody = match body(&b) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let container = match &b.framework_id {
        Some(fw) => sim.sim_add_foreign_task_in(&b.hostname, &b.task_id, fw),
        None => sim.sim_add_foreign_task(&b.hostname, &b.task_id),
    };
    match container {
        Some(c) => ok(json!({ "containerId": c })),
        None => found(false),
    }
}

async fn remove_foreign_task(
    State(sim): State<SimCluster>,
    Path(task_id): Path<String>,
) -> Response {
    found(sim.sim_remove_foreign_task(&task_id))
}

async fn history(State(sim): State<SimCluster>) -> Response {
    ok(serde_json::to_value(sim.history()).unwrap_or(Value::Null))
}

async fn clear_history(State(sim): State<SimCluster>) -> Response {
    sim.clear_history();
    ok(json!({}))
}

async fn samples(State(sim): State<SimCluster>) -> Response {
    ok(serde_json::to_value(sim.samples()).unwrap_or(Value::Null))
}

async fn requests(State(sim): State<SimCluster>) -> Response {
    ok(json!({ "requests": sim.requests().all() }))
}

#[derive(Deserialize)]
struct RecordBody {
    record: bool,
}

async fn record_requests(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<RecordBody>(&b) {
        Ok(r) => {
            sim.requests().record(r.record);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn clear_requests(State(sim): State<SimCluster>) -> Response {
    sim.requests().clear();
    ok(json!({}))
}

#[derive(Deserialize)]
struct MesosViewBody {
    #[serde(default)]
    hide: Vec<String>,
    #[serde(default)]
    freeze: bool,
}

async fn set_mesos_view(State(sim): State<SimCluster>, b: Bytes) -> Response {
    match body::<MesosViewBody>(&b) {
        Ok(v) => {
            sim.sim_mesos_view(&v.hide, v.freeze);
            ok(json!({}))
        }
        Err(r) => r.into_response(),
    }
}

async fn clear_mesos_view(State(sim): State<SimCluster>) -> Response {
    sim.sim_mesos_view(&[], false);
    ok(json!({}))
}
