//! Synapse's haproxy stats page, emulated: `GET /{host}/;csv;norefresh` answers the CSV that
//! the haproxy on slave `host` would show (`GET /;csv;norefresh`: every backend of the
//! cluster). One listener stands in for every slave, so point Galley's system config at it with
//! `"synapse_haproxy_url_format": "http://<addr>/{host:s}/;csv;norefresh"`
//! ([`HaproxySim::url_format`]).
//!
//! Rows come from the Marathon emulator's tasks ([`SimCluster::synapse_rows`]): proxies named
//! `service.instance`, a server per running task, `UP` when healthy, seen from the host's
//! location (the agents sharing its `discover` attribute). Emulation limits: nerve's
//! `nerve_ns` is not modelled (tasks register under their own instance), and there is no
//! hacheck draining. A host's page can be fixed instead: `PUT /_sim/hosts/{host}` with CSV as
//! the body (or [`HaproxySim::sim_set_csv`]); `DELETE` returns it to the derived view, and
//! `PUT /_sim/hosts/{host}/down` makes that host's page answer 503.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::marathon::{SimCluster, SynapseRow};

/// haproxy's stats CSV header (the columns up to `weight`).
pub const CSV_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,\
                              dresp,ereq,econ,eresp,wretr,wredis,status,weight,";

#[derive(Debug, Clone)]
enum Page {
    Csv(String),
    Down,
}

#[derive(Clone)]
struct Shared {
    cluster: Option<SimCluster>,
    attribute: Option<String>,
    fixed: Arc<Mutex<BTreeMap<String, Page>>>,
}

impl Shared {
    fn fixed(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Page>> {
        self.fixed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running haproxy stats emulator.
pub struct HaproxySim {
    addr: SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
}

impl HaproxySim {
    /// Serves on `addr` (e.g. `127.0.0.1:0`), deriving pages from `cluster` (none: every page
    /// is empty until fixed) and grouping hosts by their `attribute` (none: one location).
    pub async fn start(
        addr: SocketAddr,
        cluster: Option<SimCluster>,
        attribute: Option<&str>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            cluster,
            attribute: attribute.map(str::to_owned),
            fixed: Arc::default(),
        };
        let app = Router::new()
            .route("/;csv;norefresh", get(all_page))
            .route("/{host}/;csv;norefresh", get(host_page))
            .route("/_sim/hosts/{host}", put(set_page).delete(clear_page))
            .route("/_sim/hosts/{host}/down", put(set_down))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `synapse_haproxy_url_format` that reaches this emulator for every host.
    pub fn url_format(&self) -> String {
        format!("http://{}/{{host:s}}/;csv;norefresh", self.addr)
    }

    /// Fixes `host`'s page to `csv`.
    pub fn sim_set_csv(&self, host: &str, csv: &str) {
        self.shared
            .fixed()
            .insert(host.to_owned(), Page::Csv(csv.to_owned()));
    }

    /// Makes `host`'s page answer 503.
    pub fn sim_set_down(&self, host: &str) {
        self.shared.fixed().insert(host.to_owned(), Page::Down);
    }

    /// Returns `host`'s page to the derived view.
    pub fn sim_clear(&self, host: &str) {
        self.shared.fixed().remove(host);
    }

    /// Stops the listener.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for HaproxySim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Renders rows as haproxy's CSV: per proxy a FRONTEND row, its servers, a BACKEND row.
pub fn render_csv(rows: &[SynapseRow]) -> String {
    let mut by_proxy: BTreeMap<&str, Vec<&SynapseRow>> = BTreeMap::new();
    for row in rows {
        by_proxy.entry(&row.pxname).or_default().push(row);
    }
    let mut out = format!("{CSV_HEADER}\n");
    let line = |px: &str, sv: &str, status: &str| {
        format!("{px},{sv},0,0,0,0,,0,0,0,,0,,0,0,0,0,{status},1,\n")
    };
    for (px, servers) in by_proxy {
        out.push_str(&line(px, "FRONTEND", "OPEN"));
        for s in &servers {
            out.push_str(&line(px, &s.svname, &s.status));
        }
        let any_up = servers.iter().any(|s| s.status.starts_with("UP"));
        out.push_str(&line(px, "BACKEND", if any_up { "UP" } else { "DOWN" }));
    }
    out
}

fn page(shared: &Shared, host: &str) -> Response {
    if let Some(fixed) = shared.fixed().get(host).cloned() {
        return match fixed {
            Page::Csv(csv) => csv.into_response(),
            Page::Down => (StatusCode::SERVICE_UNAVAILABLE, "haproxy down\n").into_response(),
        };
    }
    let rows = shared
        .cluster
        .as_ref()
        .map(|c| c.synapse_rows(shared.attribute.as_deref(), host))
        .unwrap_or_default();
    render_csv(&rows).into_response()
}

async fn all_page(State(shared): State<Shared>) -> Response {
    page(&shared, "")
}

async fn host_page(State(shared): State<Shared>, Path(host): Path<String>) -> Response {
    page(&shared, &host)
}

async fn set_page(
    State(shared): State<Shared>,
    Path(host): Path<String>,
    body: String,
) -> StatusCode {
    shared.fixed().insert(host, Page::Csv(body));
    StatusCode::NO_CONTENT
}

async fn set_down(State(shared): State<Shared>, Path(host): Path<String>) -> StatusCode {
    shared.fixed().insert(host, Page::Down);
    StatusCode::NO_CONTENT
}

async fn clear_page(State(shared): State<Shared>, Path(host): Path<String>) -> StatusCode {
    shared.fixed().remove(&host);
    StatusCode::NO_CONTENT
}
