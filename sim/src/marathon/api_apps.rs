//! `/v2/apps` routes. App ids match greedily (`{id:.+}`), so the suffixes `/tasks[/{taskId}]`,
//! `/restart`, `/versions[/{ts}]` and `/*` are split off here by hand.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::error::{ApiError, json_response, text_response};
use super::handle::SimCluster;
use super::ids::{Query, canonical_path};
use super::json::{Embed, TaskView};
use super::labels::Selector;
use super::ops::{DeploymentResult, KillResult};
use super::ops_kill::KillShape;

/// Parses a request body as JSON (400 "Invalid JSON" with the parser's text otherwise).
pub fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": "Please specify data in JSON format", "details": "empty request body" }),
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::malformed_json(&e.to_string()))
}

/// A deployment result with its `Marathon-Deployment-Id` header.
pub fn dr_response(status: StatusCode, dr: &DeploymentResult) -> Response {
    let mut resp = json_response(status, &dr.json());
    if let Ok(v) = HeaderValue::from_str(&dr.id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    resp
}

fn method_not_allowed() -> Response {
    ApiError::message(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
    .into_response()
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET|POST|PUT /v2/apps`.
pub async fn apps_root(
    State(sim): State<SimCluster>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(q.as_deref());
    respond(match method {
        Method::GET => list_apps(&sim, &q),
        Method::POST => create_app(&sim, &q, &body),
        Method::PUT => parse_body(&body).and_then(|v| {
            let dr = sim
                .with(|c| c.put_apps(&v, q.bool("force", false), q.bool("partialUpdate", true)))?;
            Ok(dr_response(StatusCode::OK, &dr))
        }),
        _ => Ok(method_not_allowed()),
    })
}

fn list_apps(sim: &SimCluster, q: &Query) -> Result<Response, ApiError> {
    let embed = Embed::parse(&q.all("embed"));
    let selector = match q.get("label") {
        Some(s) => Some(Selector::parse(s).ok_or_else(|| {
            ApiError::message(
                StatusCode::BAD_REQUEST,
                format!("Invalid label selector: {s}"),
            )
        })?),
        None => None,
    };
    let id_filter = q.get("id").map(str::to_lowercase);
    let cmd_filter = q.get("cmd").map(str::to_lowercase);
    let apps = sim.with(|c| {
        c.apps
            .values()
            .filter(|a| {
                id_filter
                    .as_ref()
                    .is_none_or(|f| a.spec.id.to_lowercase().contains(f))
            })
            .filter(|a| {
                cmd_filter.as_ref().is_none_or(|f| {
                    a.def["cmd"]
                        .as_str()
                        .is_some_and(|cmd| cmd.to_lowercase().contains(f))
                })
            })
            .filter(|a| selector.as_ref().is_none_or(|s| s.matches(&a.spec.labels)))
            .map(|a| c.app_json_text(a, &embed))
            .collect::<Vec<_>>()
    });
    // Exactly `json!({ "apps": [..] }).to_string()`, from the per-app texts.
    let mut text = String::with_capacity(apps.iter().map(|a| a.len() + 1).sum::<usize>() + 12);
    text.push_str("{\"apps\":[");
    for (i, a) in apps.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(a);
    }
    text.push_str("]}");
    Ok(text_response(StatusCode::OK, text))
}

/// `POST /v2/apps`: 201 with the submitted app plus zero counts, its deployment and no tasks
/// (`AppsResource.create`, `ExtendedAppInfoWrites`), `Location` and `Marathon-Deployment-Id`.
fn create_app(sim: &SimCluster, q: &Query, body: &Bytes) -> Result<Response, ApiError> {
    let v = parse_body(body)?;
    let (app, dr, address) = sim.with(|c| {
        let (_, dr, app) = c.create_app(&v, q.bool("force", false))?;
        Ok::<_, ApiError>((app, dr, c.marathon_address.clone()))
    })?;
    let mut app = Value::Object(app);
    for key in [
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
    ] {
        app[key] = json!(0);
    }
    app["deployments"] = json!([{ "id": dr.id }]);
    app["tasks"] = json!([]);
    let mut resp = json_response(StatusCode::CREATED, &app);
    if let Ok(v) = HeaderValue::from_str(&dr.id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    let location = format!("http://{address}{}", app["id"].as_str().unwrap_or("/"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// What an `/v2/apps/{rest}` path addresses.
enum Target {
    App(String),
    Group(String),
    Tasks(String),
    Task(String, String),
    Restart(String),
    Versions(String),
    Version(String, String),
}

fn route(rest: &str) -> Target {
    let path = format!("/{rest}");
    if let Some(group) = path.strip_suffix("/*") {
        return Target::Group(canonical_path(group));
    }
    if let Some(ix) = path.rfind("/tasks/") {
        let task = &path[ix + "/tasks/".len()..];
        if !task.is_empty() && !task.contains('/') && ix > 0 {
            return Target::Task(path[..ix].to_string(), task.to_string());
        }
    }
    let split = |suffix: &str| {
        path.strip_suffix(suffix)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    if let Some(id) = split("/tasks") {
        return Target::Tasks(id);
    }
    if let Some(id) = split("/restart") {
        return Target::Restart(id);
    }
    if let Some(id) = split("/versions") {
        return Target::Versions(id);
    }
    if let Some(ix) = path.rfind("/versions/")
        && ix > 0
    {
        return Target::Version(
            path[..ix].to_string(),
            path[ix + "/versions/".len()..].to_string(),
        );
    }
    Target::App(path)
}

/// Every method on `/v2/apps/{*rest}`.
pub async fn apps_path(
    State(sim): State<SimCluster>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(q.as_deref());
    let force = q.bool("force", false);
    respond(match (route(&rest), method) {
        (Target::App(id), Method::GET) => {
            let id = canonical_path(&id);
            sim.with(|c| match c.apps.get(&id) {
                Some(a) => Ok(json_response(
                    StatusCode::OK,
                    &json!({ "app": c.app_json(a, &Embed::single_app(&q.all("embed"))) }),
                )),
                None => Err(ApiError::app_not_found(&id)),
            })
        }
        (Target::App(id), Method::PUT) => parse_body(&body).and_then(|v| {
            let (created, dr) =
                sim.with(|c| c.put_app(&id, &v, force, q.bool("partialUpdate", true)))?;
            Ok(dr_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &dr,
            ))
        }),
        (Target::App(id), Method::DELETE) => sim
            .with(|c| c.delete_app(&id, q.bool("force", true)))
            .map(|dr| dr_response(StatusCode::OK, &dr)),
        (Target::Group(group), Method::GET) => {
            let embed = Embed::parse(&q.all("embed"));
            sim.with(|c| {
                let apps = c.apps_under(&group);
                if apps.is_empty() {
                    return Err(ApiError::message(
                        StatusCode::NOT_FOUND,
                        format!("Group '{group}' does not exist"),
                    ));
                }
                let apps: Vec<Value> = apps.into_iter().map(|a| c.app_json(a, &embed)).collect();
                Ok(json_response(StatusCode::OK, &json!({ "*": apps })))
            })
        }
        (Target::Restart(id), Method::POST) => sim
            .with(|c| c.restart_app(&id, force))
            .map(|dr| dr_response(StatusCode::OK, &dr)),
        (Target::Tasks(id), Method::GET) => {
            let id = canonical_path(&id);
            sim.with(|c| {
                if !c.apps.contains_key(&id) {
                    return Err(ApiError::app_not_found(&id));
                }
                let tasks: Vec<Value> = c
                    .app_tasks(&id)
                    .iter()
                    .map(|t| c.task_json(t, TaskView::APP))
                    .collect();
                Ok(json_response(StatusCode::OK, &json!({ "tasks": tasks })))
            })
        }
        (Target::Tasks(id), Method::DELETE) => kill(&sim, &q, &id, None),
        (Target::Task(id, task), Method::DELETE) => kill(&sim, &q, &id, Some(&task)),
        (Target::Versions(id), Method::GET) => {
            let id = canonical_path(&id);
            sim.with(|c| match c.apps.get(&id) {
                Some(a) => {
                    let versions: Vec<&String> = a.versions.iter().rev().map(|(v, _)| v).collect();
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({ "versions": versions }),
                    ))
                }
                None => Err(ApiError::app_not_found(&id)),
            })
        }
        (Target::Version(id, version), Method::GET) => {
            let id = canonical_path(&id);
            sim.with(|c| {
                let app = c
                    .apps
                    .get(&id)
                    .ok_or_else(|| ApiError::app_not_found(&id))?;
                match app.versions.iter().find(|(v, _)| *v == version) {
                    Some((_, def)) => {
                        Ok(json_response(StatusCode::OK, &Value::Object(def.clone())))
                    }
                    None => Err(ApiError::app_version_not_found(&id, &version)),
                }
            })
        }
        _ => Ok(method_not_allowed()),
    })
}

fn kill(sim: &SimCluster, q: &Query, id: &str, task: Option<&str>) -> Result<Response, ApiError> {
    let scale = q.bool("scale", false);
    if scale && q.bool("wipe", false) {
        return Err(ApiError::message(
            StatusCode::BAD_REQUEST,
            "You cannot use scale and wipe at the same time.",
        ));
    }
    let result = sim.with(|c| {
        let targets = c.app_kill_targets(id, q.get("host"), task, scale)?;
        c.kill(targets, scale, q.bool("force", false), KillShape::Instances)
    })?;
    Ok(match (result, task) {
        (KillResult::Deployment(dr), _) => dr_response(StatusCode::OK, &dr),
        (KillResult::Tasks(tasks), Some(_)) => json_response(
            StatusCode::OK,
            &json!({ "task": tasks.into_iter().next().unwrap_or(Value::Null) }),
        ),
        (KillResult::Tasks(tasks), None) => {
            json_response(StatusCode::OK, &json!({ "tasks": tasks }))
        }
    })
}
