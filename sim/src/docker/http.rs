//! HTTP front of the engine: version-prefix handling, routing, Docker's headers and error
//! bodies, and the per-endpoint handlers (the `/events` stream lives in `stream.rs`).

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::{Value, json};

use super::engine::DockerEngine;
use super::error::{EngineError, Outcome};
use super::filters::{FilterArgs, parse_atoi};
use super::list::ListQuery;
use super::spec::ContainerSpec;
use super::stream;

/// The response body type of every handler.
pub type Body = BoxBody<Bytes, Infallible>;

/// The API version served (Docker 20.10).
pub const API_VERSION: &str = "1.41";
/// The oldest API version Docker 20.10 accepts.
pub const MIN_API_VERSION: &str = "1.12";
/// The engine version reported in `Server` and `/version`.
pub const ENGINE_VERSION: &str = "20.10.24";

/// The endpoints served, after the optional `/v1.xx` prefix is stripped.
enum Route {
    Ping,
    Version,
    List,
    Create,
    Inspect(String),
    Start(String),
    Stop(String),
    Kill(String),
    Remove(String),
    Events,
}

/// Serves one request. Never fails: every problem becomes a Docker-shaped response.
pub async fn handle<B>(engine: DockerEngine, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    if req.uri().path().starts_with("/_sim/") {
        return with_headers(sim_control(&engine, req).await);
    }
    let delay = engine.response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let path = req.uri().path().to_owned();
    let query = Query::parse(req.uri().query().unwrap_or(""));
    tracing::debug!(method = %req.method(), %path, "docker api request");
    let (version, rest) = split_version(&path);
    let Some(route) = route(req.method(), rest) else {
        return with_headers(json_response(404, &json!({"message": "page not found"})));
    };
    if let Some(v) = version {
        if version_less(v, MIN_API_VERSION) {
            let text = format!(
                "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            );
            return with_headers(text_response(400, text));
        }
        if version_less(API_VERSION, v) {
            let message = format!(
                "client version {v} is too new. Maximum supported API version is {API_VERSION}"
            );
            return with_headers(json_response(400, &json!({ "message": message })));
        }
    }
    if let Some((status, message)) = engine.take_fault(&path) {
        return with_headers(json_response(status, &json!({ "message": message })));
    }
    let is_head = req.method() == Method::HEAD;
    let body = match route {
        Route::Create => match req.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return with_headers(error_response(400, &e.to_string())),
        },
        _ => Bytes::new(),
    };
    let resp = dispatch(&engine, route, &query, &body, is_head).await;
    with_headers(resp)
}

/// The emulator's own control routes (not Docker's API; whole-system tests script faults of
/// a running `galley-sim marathon --docker-dir` engine through them):
/// `POST /_sim/faults` `{"status": 500, "message": "boom", "path_contains": "/containers", "times": 3}`
/// (`sim_fail_requests`), `DELETE /_sim/faults` (`sim_clear_faults`), `PUT /_sim/delay`
/// `{"millis": 200}` (`sim_set_response_delay`).
async fn sim_control<B>(engine: &DockerEngine, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body: Value = match req.into_body().collect().await {
        Ok(c) => serde_json::from_slice(&c.to_bytes()).unwrap_or(Value::Null),
        Err(e) => return error_response(400, &e.to_string()),
    };
    match (method, path.as_str()) {
        (Method::POST, "/_sim/faults") => {
            let status = body["status"].as_u64().unwrap_or(500);
            let rule = super::sim_hooks::FaultRule {
                path_contains: body["path_contains"].as_str().map(str::to_owned),
                status: u16::try_from(status).unwrap_or(500),
                message: body["message"]
                    .as_str()
                    .unwrap_or("simulated fault")
                    .to_owned(),
                times: body["times"].as_u64().and_then(|t| u32::try_from(t).ok()),
            };
            engine.sim_fail_requests(rule);
            json_response(200, &json!({}))
        }
        (Method::DELETE, "/_sim/faults") => {
            engine.sim_clear_faults();
            json_response(200, &json!({}))
        }
        (Method::PUT, "/_sim/delay") => {
            let millis = body["millis"].as_u64().unwrap_or(0);
            engine.sim_set_response_delay(std::time::Duration::from_millis(millis));
            json_response(200, &json!({}))
        }
        _ => json_response(404, &json!({"message": "page not found"})),
    }
}

async fn dispatch(
    engine: &DockerEngine,
    route: Route,
    q: &Query,
    body: &[u8],
    is_head: bool,
) -> Response<Body> {
    let result = match route {
        Route::Ping => Ok(ping(is_head)),
        Route::Version => Ok(json_response(200, &version_json())),
        Route::List => list(engine, q),
        Route::Create => create(engine, q, body),
        Route::Inspect(id) => engine.inspect_json(&id).map(|v| json_response(200, &v)),
        Route::Start(id) => engine.start(&id).map(outcome_response),
        Route::Stop(id) => match q.get("t").map(parse_atoi).transpose() {
            Ok(t) => engine.stop(&id, t).await.map(outcome_response),
            Err(e) => Err(e.into()),
        },
        Route::Kill(id) => engine
            .kill(&id, q.get("signal"))
            .map(|()| empty_response(204)),
        Route::Remove(id) if q.bool("link") => {
            engine.remove_link(&id).map(|()| empty_response(204))
        }
        Route::Remove(id) => engine
            .remove(&id, q.bool("force"))
            .map(|()| empty_response(204)),
        Route::Events => stream::events(engine, q.get("since"), q.get("until"), q.get("filters")),
    };
    result.unwrap_or_else(|e| error_response(e.http_status(), &e.to_string()))
}

fn list(engine: &DockerEngine, q: &Query) -> Result<Response<Body>, EngineError> {
    let query = ListQuery {
        all: q.bool("all"),
        limit: q
            .get("limit")
            .filter(|l| !l.is_empty())
            .map(parse_atoi)
            .transpose()?
            .unwrap_or(0),
        size: q.bool("size"),
        filters: FilterArgs::parse(q.get("filters").unwrap_or(""))?,
    };
    Ok(json_response(200, &Value::Array(engine.list_json(&query)?)))
}

fn create(engine: &DockerEngine, q: &Query, body: &[u8]) -> Result<Response<Body>, EngineError> {
    let spec = match ContainerSpec::from_create_body(q.get("name"), body) {
        Ok(spec) => spec,
        Err(e) => return Ok(error_response(400, &e.to_string())),
    };
    if spec.image.is_empty() {
        return Ok(error_response(404, "No such image: "));
    }
    let id = engine.create(spec)?;
    Ok(json_response(201, &json!({ "Id": id, "Warnings": [] })))
}

fn ping(is_head: bool) -> Response<Body> {
    let mut resp = if is_head {
        let mut r = text_response(200, String::new());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    } else {
        text_response(200, "OK".to_owned())
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn version_json() -> Value {
    json!({
        "Platform": { "Name": "" },
        "Components": [{
            "Name": "Engine",
            "Version": ENGINE_VERSION,
            "Details": {
                "ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "2023-04-04T00:00:00.000000000+00:00",
                "Experimental": "false", "GitCommit": "5d6db84", "GoVersion": "go1.19.8",
                "KernelVersion": "galley-sim", "MinAPIVersion": MIN_API_VERSION, "Os": "linux"
            }
        }],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "5d6db84",
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "galley-sim",
        "BuildTime": "2023-04-04T00:00:00.000000000+00:00"
    })
}

/// Splits `/v1.41/containers/json` into (`Some("1.41")`, `/containers/json`). Docker's prefix
/// is `/v{version:[0-9.]+}`.
fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(after) = path.strip_prefix("/v") {
        let end = after.find('/').unwrap_or(after.len());
        let v = &after[..end];
        if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return (Some(v), &after[end..]);
        }
    }
    (None, path)
}

/// Docker's `versions.LessThan`: dot-separated numeric comparison.
fn version_less(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

fn route(method: &Method, path: &str) -> Option<Route> {
    let segs: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let id = |s: &str| s.to_owned();
    Some(match (method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Route::Ping,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["events"]) => Route::Events,
        ("GET", ["containers", "json"]) => Route::List,
        ("POST", ["containers", "create"]) => Route::Create,
        ("GET", ["containers", c, "json"]) => Route::Inspect(id(c)),
        ("POST", ["containers", c, "start"]) => Route::Start(id(c)),
        ("POST", ["containers", c, "stop"]) => Route::Stop(id(c)),
        ("POST", ["containers", c, "kill"]) => Route::Kill(id(c)),
        ("DELETE", ["containers", c]) => Route::Remove(id(c)),
        _ => return None,
    })
}

/// Query parameters; like Go's `FormValue`, the first value of a key wins.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (form_decode(k), form_decode(v))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Docker's `BoolValue`: anything but "", "0", "no", "false", "none" is true.
    pub fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }
}

fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// === Response builders ===

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response; like Go's `json.Encoder`, the body ends with a newline.
pub(super) fn json_response(status: u16, v: &Value) -> Response<Body> {
    let mut text = v.to_string();
    text.push('\n');
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status_code(status);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Docker's error body `{"message": ...}`.
pub(super) fn error_response(status: u16, message: &str) -> Response<Body> {
    json_response(status, &json!({ "message": message }))
}

fn text_response(status: u16, text: String) -> Response<Body> {
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status_code(status);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn empty_response(status: u16) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = status_code(status);
    resp
}

fn outcome_response(outcome: Outcome) -> Response<Body> {
    match outcome {
        Outcome::Done => empty_response(204),
        Outcome::NotModified => empty_response(304),
    }
}

/// Adds the headers dockerd puts on every response.
fn with_headers(mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        HeaderValue::from_static("Docker/20.10.24 (linux)"),
    );
    resp
}
