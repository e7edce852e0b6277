//! Marathon's error responses (spec §1.6), as one type mapped to HTTP once.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// An error answer of the Marathon API: a status and Marathon's exact JSON body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("marathon api error {status}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (`{"message": ...}` and sometimes `details` or `deployments`).
    pub body: Value,
}

impl ApiError {
    /// An error with a `{"message": ...}` body.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": message.into() }),
        }
    }

    /// 404 for an unknown app.
    pub fn app_not_found(id: &str) -> Self {
        Self::message(StatusCode::NOT_FOUND, format!("App '{id}' does not exist"))
    }

    /// 404 for an unknown app version.
    pub fn app_version_not_found(id: &str, version: &str) -> Self {
        Self::message(
            StatusCode::NOT_FOUND,
            format!("App '{id}' does not exist in version {version}"),
        )
    }

    /// 404 for an unknown task.
    pub fn task_not_found(id: &str) -> Self {
        Self::message(StatusCode::NOT_FOUND, format!("Task '{id}' does not exist"))
    }

    /// 409 for an app locked by running deployments.
    pub fn locked(deployment_ids: &[String]) -> Self {
        let first = deployment_ids.first().cloned().unwrap_or_default();
        let deployments: Vec<Value> = deployment_ids
            .iter()
            .map(|id| json!({ "id": id }))
            .collect();
        Self {
            status: StatusCode::CONFLICT,
            body: json!({
                "message": format!(
                    "App is locked by one or more deployments. Override with the option '?force=true'. \
                     View details at '/v2/deployments/{first}'."
                ),
                "deployments": deployments,
            }),
        }
    }

    /// 400 for a body that is not JSON at all.
    pub fn malformed_json(parser_text: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": "Invalid JSON", "details": parser_text }),
        }
    }

    /// 400 for JSON of the wrong shape: `[{"path", "errors": [...]}]`.
    pub fn invalid_json(details: Vec<(String, String)>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": "Invalid JSON", "details": path_errors(details) }),
        }
    }

    /// 422 validation failure.
    pub fn invalid_object(details: Vec<(String, String)>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "message": "Object is not valid", "details": path_errors(details) }),
        }
    }

    /// 503 when this Marathon does not know a leader.
    pub fn no_leader() -> Self {
        Self::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not determine the current leader",
        )
    }
}

/// Groups `(path, error)` pairs by path, keeping first-seen order.
fn path_errors(details: Vec<(String, String)>) -> Vec<Value> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (path, err) in details {
        match grouped.iter_mut().find(|(p, _)| *p == path) {
            Some((_, errs)) => errs.push(err),
            None => grouped.push((path, vec![err])),
        }
    }
    grouped
        .into_iter()
        .map(|(path, errors)| json!({ "path": path, "errors": errors }))
        .collect()
}

/// A JSON response with Marathon's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    text_response(status, body.to_string())
}

/// A response with already serialised JSON.
pub fn text_response(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }
}
