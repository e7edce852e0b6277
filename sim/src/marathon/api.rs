//! The Marathon router: `/v2/tasks`, `/v2/deployments`, `/v2/queue`, `/v2/info`, `/v2/leader`,
//! `/v2/events`, `/ping`, the apps routes and the `/_sim` control API.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use bytes::Bytes;
use http::{StatusCode, Uri};
use serde_json::{Value, json};

use super::api_apps::{apps_path, apps_root, dr_response, parse_body};
use super::error::{ApiError, json_response};
use super::events::sse_response;
use super::handle::SimCluster;
use super::ids::{Query, canonical_path};
use super::json::TaskView;
use super::ops::KillResult;
use super::ops_kill::KillShape;
use super::state::TaskState;

/// The full Marathon router (control API included).
pub fn router(sim: SimCluster) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/v2/apps", any(apps_root))
        .route("/v2/apps/{*rest}", any(apps_path))
        .route("/v2/tasks", get(list_tasks))
        .route("/v2/tasks/delete", post(delete_tasks))
        .route("/v2/deployments", get(list_deployments))
        .route("/v2/deployments/{id}", delete(delete_deployment))
        .route("/v2/queue", get(queue))
        .route("/v2/queue/{*rest}", delete(reset_delay))
        .route("/v2/info", get(info))
        .route("/v2/leader", get(get_leader).delete(abdicate))
        .route("/v2/events", get(events))
        .merge(super::control::router())
        .fallback(not_found)
        .with_state(sim)
}

async fn ping() -> Response {
    let mut resp = Response::new(axum::body::Body::from("pong\n"));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    resp
}

async fn not_found(uri: Uri) -> Response {
    ApiError::message(
        StatusCode::NOT_FOUND,
        format!("URI not found: {}", uri.path()),
    )
    .into_response()
}

async fn list_tasks(State(sim): State<SimCluster>, RawQuery(q): RawQuery) -> Response {
    let q = Query::parse(q.as_deref());
    let mut wanted: Vec<TaskState> = Vec::new();
    for s in q.all("status").into_iter().chain(q.all("status[]")) {
        match s {
            "running" => wanted.push(TaskState::Running),
            "staging" => wanted.push(TaskState::Staging),
            _ => {}
        }
    }
    let tasks = sim.with(|c| {
        let mut tasks: Vec<_> = c
            .tasks
            .values()
            .filter(|t| {
                c.apps.contains_key(&t.app_id) && (wanted.is_empty() || wanted.contains(&t.state))
            })
            .collect();
        tasks.sort_by_key(|t| t.seq);
        tasks
            .into_iter()
            .map(|t| c.task_json(t, TaskView::LIST))
            .collect::<Vec<_>>()
    });
    json_response(StatusCode::OK, &json!({ "tasks": tasks }))
}

async fn delete_tasks(
    State(sim): State<SimCluster>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(q.as_deref());
    if q.bool("scale", false) && q.bool("wipe", false) {
        return ApiError::message(
            StatusCode::BAD_REQUEST,
            "You cannot use scale and wipe at the same time.",
        )
        .into_response();
    }
    let result = parse_body(&body).and_then(|v| {
        sim.with(|c| {
            let targets = c.given_kill_targets(&v)?;
            c.kill(
                targets,
                q.bool("scale", false),
                q.bool("force", false),
                KillShape::Tasks,
            )
        })
    });
    match result {
        Ok(KillResult::Deployment(dr)) => dr_response(StatusCode::OK, &dr),
        Ok(KillResult::Tasks(tasks)) => json_response(StatusCode::OK, &json!({ "tasks": tasks })),
        Err(e) => e.into_response(),
    }
}

async fn list_deployments(State(sim): State<SimCluster>) -> Response {
    let list: Vec<Value> =
        sim.with(|c| c.deployments.iter().map(|d| c.deployment_json(d)).collect());
    json_response(StatusCode::OK, &Value::Array(list))
}

async fn delete_deployment(
    State(sim): State<SimCluster>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::parse(q.as_deref());
    match sim.with(|c| c.delete_deployment(&id, q.bool("force", false))) {
        Ok(Some(dr)) => dr_response(StatusCode::OK, &dr),
        Ok(None) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn queue(State(sim): State<SimCluster>, RawQuery(q): RawQuery) -> Response {
    let q = Query::parse(q.as_deref());
    let embed = q.all("embed").contains(&"lastUnusedOffers");
    json_response(StatusCode::OK, &sim.with(|c| c.queue_json(embed)))
}

async fn reset_delay(State(sim): State<SimCluster>, Path(rest): Path<String>) -> Response {
    let Some(id) = rest.strip_suffix("/delay") else {
        return not_found(Uri::from_static("/v2/queue")).await;
    };
    let id = canonical_path(id);
    let found = sim.with(|c| {
        // `QueueResource.resetDelay`: any app with a launch queue entry, waiting or not.
        match c.apps.get_mut(&id) {
            Some(app) if app.launcher.is_some() => {
                app.backoff = Default::default();
                true
            }
            _ => false,
        }
    });
    if found {
        sim.step_now();
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::message(
            StatusCode::NOT_FOUND,
            format!("Application {id} not found in tasks queue."),
        )
        .into_response()
    }
}

async fn info(State(sim): State<SimCluster>) -> Response {
    json_response(StatusCode::OK, &sim.with(|c| c.info_json()))
}

async fn get_leader(State(sim): State<SimCluster>) -> Response {
    match sim.with(|c| c.marathon_leader.then(|| c.marathon_address.clone())) {
        Some(addr) => json_response(StatusCode::OK, &json!({ "leader": addr })),
        None => ApiError::message(StatusCode::NOT_FOUND, "There is no leader").into_response(),
    }
}

async fn abdicate(State(sim): State<SimCluster>) -> Response {
    // The emulated Marathon is re-elected at once, as a single-node cluster would be; standing
    // down closed its event streams.
    if sim.with(|c| c.marathon_leader) {
        sim.sim_break_event_streams();
        json_response(
            StatusCode::OK,
            &json!({ "message": "Leadership abdicated" }),
        )
    } else {
        ApiError::message(StatusCode::NOT_FOUND, "There is no leader").into_response()
    }
}

async fn events(
    State(sim): State<SimCluster>,
    RawQuery(q): RawQuery,
    headers: http::HeaderMap,
    peer: Option<axum::extract::Extension<SocketAddr>>,
) -> Response {
    // Jetty's EventSourceServlet streams only when an Accept header is exactly
    // `text/event-stream`; otherwise HttpServlet's doGet answers 405.
    let accepts = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .any(|v| v.as_bytes() == b"text/event-stream");
    if !accepts {
        return super::server::jetty_error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "/v2/events",
            "HTTP method GET is not supported by this URL",
        );
    }
    let q = Query::parse(q.as_deref());
    let filter: Vec<String> = q
        .all("event_type")
        .into_iter()
        .map(str::to_string)
        .collect();
    let remote = peer.map_or_else(|| "127.0.0.1".to_string(), |p| p.0.ip().to_string());
    let sub = sim.with(|c| c.events.subscribe());
    let clock = sim.clone();
    sse_response(
        sub,
        filter,
        remote,
        std::sync::Arc::new(move || clock.now()),
    )
}
