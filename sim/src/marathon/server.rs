//! The accept loop: serves an axum router on a pre-bound listener, applying Marathon's
//! basic auth, injected faults (including dropped connections) and leadership before routing.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::error::ApiError;
use super::handle::SimCluster;
use super::ids::base64;
use super::requests::{RequestRecord, basic_user};
use super::script::FaultKind;

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by simulated fault")]
pub struct DroppedConnection;

/// Which checks run before routing.
#[derive(Clone)]
pub enum Gate {
    /// Marathon: auth, faults, leadership, `X-Marathon-Leader`.
    Marathon(SimCluster),
    /// No checks (the Mesos master); requests are recorded in the request log.
    Mesos(SimCluster),
}

/// Serves `router` until `shutdown` flips; open connections are dropped at shutdown.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    gate: Gate,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            // Cancel-safe: `accept` and `changed` lose nothing when the other arm wins.
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                continue;
            }
        };
        // Small request/response pairs: without NODELAY, Nagle plus delayed ACKs add ~40 ms.
        let _ = stream.set_nodelay(true);
        let inner = TowerToHyperService::new(router.clone());
        let gate = gate.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let inner = inner.clone();
                let gate = gate.clone();
                async move { handle(req, inner, gate, peer).await }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                // Cancel-safe: dropping the connection future closes the socket.
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    inner: TowerToHyperService<Router>,
    gate: Gate,
    peer: SocketAddr,
) -> Result<Response, DroppedConnection> {
    let mut req = req.map(axum::body::Body::new);
    req.extensions_mut().insert(peer);
    let (sim, target) = match &gate {
        Gate::Marathon(sim) => (sim.clone(), "marathon"),
        Gate::Mesos(sim) => (sim.clone(), "mesos"),
    };
    let path = req.uri().path().to_string();
    let recorded = sim.requests().recording() && (target == "mesos" || path.starts_with("/v2"));
    if !recorded {
        if target == "mesos" {
            return Ok(inner
                .call(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {}));
        }
        return handle_marathon(req, inner, &sim).await.map(|(r, _)| r);
    }
    let mut record = RequestRecord {
        at: chrono::Utc::now(),
        target,
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or(path.clone(), |p| p.to_string()),
        user: basic_user(
            req.headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
        status: 0,
        fault: false,
        location: None,
        ids: Vec::new(),
    };
    if req.method() == http::Method::POST && (path == "/v2/tasks/delete" || path == "/v2/apps") {
        let (parts, body) = req.into_parts();
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let v = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
        let ids = match &v["ids"] {
            serde_json::Value::Array(ids) => ids.clone(),
            _ => vec![v["id"].clone()],
        };
        record.ids = ids
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect();
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    let answer = if target == "mesos" {
        Ok((
            inner
                .call(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {}),
            false,
        ))
    } else {
        handle_marathon(req, inner, &sim).await
    };
    record.at = chrono::Utc::now();
    match &answer {
        Ok((resp, fault)) => {
            record.status = resp.status().as_u16();
            record.fault = *fault;
            record.location = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        Err(DroppedConnection) => record.fault = true,
    }
    sim.requests().push(record);
    answer.map(|(r, _)| r)
}

/// Marathon's checks before routing; the answer and whether an injected fault decided it.
async fn handle_marathon(
    req: Request<axum::body::Body>,
    inner: TowerToHyperService<Router>,
    sim: &SimCluster,
) -> Result<(Response, bool), DroppedConnection> {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim") {
        return Ok((
            inner
                .call(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {}),
            false,
        ));
    }
    if let Some(resp) = check_auth(sim, &req, &path) {
        return Ok((resp, false));
    }
    let mut fault = false;
    match sim.take_fault(req.method().as_str(), &path) {
        Some(FaultKind::Drop) => return Err(DroppedConnection),
        Some(FaultKind::Status { status, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok((ApiError::message(status, message).into_response(), true));
        }
        Some(FaultKind::Delay { millis }) => {
            fault = true;
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await
        }
        None => {}
    }
    let (leader, address) = sim.with(|c| (c.marathon_leader, c.marathon_address.clone()));
    if !leader && path.starts_with("/v2/") && path != "/v2/leader" {
        return Ok((ApiError::no_leader().into_response(), fault));
    }
    let mut resp = inner
        .call(req)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    if leader && let Ok(v) = HeaderValue::from_str(&format!("http://{address}")) {
        resp.headers_mut().insert("X-Marathon-Leader", v);
    }
    Ok((resp, fault))
}

/// Jetty basic auth: 401 with `WWW-Authenticate: Basic realm="Mesosphere"` and an HTML page.
fn check_auth<B>(sim: &SimCluster, req: &Request<B>, path: &str) -> Option<Response> {
    let (user, password) = sim.credentials()?;
    let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| {
        g.split_once(' ').is_some_and(|(scheme, cred)| {
            scheme.eq_ignore_ascii_case("basic") && format!("Basic {}", cred.trim()) == expected
        })
    }) {
        return None;
    }
    let mut resp = jetty_error_page(StatusCode::UNAUTHORIZED, path, "Unauthorized");
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Mesosphere\""),
    );
    Some(resp)
}

/// Jetty's HTML error page (what Marathon answers for errors outside its JSON API: basic auth,
/// the event-stream servlet).
pub(crate) fn jetty_error_page(status: StatusCode, path: &str, reason: &str) -> Response {
    let code = status.as_u16();
    let phrase = status.canonical_reason().unwrap_or("");
    let body = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n\
         <title>Error {code} {phrase}</title>\n</head>\n<body><h2>HTTP ERROR {code}</h2>\n\
         <p>Problem accessing {path}. Reason:\n<pre>    {reason}</pre></p><hr><i><small>Powered by Jetty://</small></i><hr/>\n\
         </body>\n</html>\n"
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=ISO-8859-1"),
    );
    resp
}
