//! The agent's side of `AgentService.Connect`: dial the coordinator, send hello and the full
//! inventory, then deltas, heartbeats and reap results; receive acks, reap orders and resync
//! requests. Reconnects with jittered exponential backoff.
//!
//! With several coordinators (one per Mesos master; one leads) the agent keeps a session to
//! each, so every coordinator has a fresh inventory and a new leader can act at once. Orders
//! from all sessions go to one executor, whose reaper keeps the newest leader term seen on
//! any session (acks carry it): a deposed leader's orders are refused as `STALE_TERM`. Each
//! result goes back on the session its order came from.
//!
//! Memory stays bounded while disconnected: the inventory is a single `watch` snapshot (diffed
//! against the last one sent, so no deltas queue up), outbound messages go through a channel
//! of [`OUTBOUND_CAP`], orders through one of [`ORDER_QUEUE_CAP`] (a full queue refuses with
//! `BUSY`), results through one of [`RESULT_CAP`].

use std::sync::Arc;
use std::time::Duration;

use galley_proto::v1::agent_message::Body as Up;
use galley_proto::v1::agent_service_client::AgentServiceClient;
use galley_proto::v1::coordinator_message::Body as Down;
use galley_proto::v1::{
    AgentHello, AgentMessage, Heartbeat, Inventory, InventoryDelta, ReapOrder, ReapResult,
    RefusalReason,
};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

use crate::convert::to_proto;
use crate::docker::DockerApi;
use crate::error_chain::ErrorChain;
use crate::inventory::{Snapshot, diff};
use crate::metrics::AgentMetrics;
use crate::reaper::{Reaper, refusal};

/// Outbound messages buffered per connection.
pub const OUTBOUND_CAP: usize = 64;
/// Orders waiting for the executor.
pub const ORDER_QUEUE_CAP: usize = 32;
/// Results waiting for a connection.
pub const RESULT_CAP: usize = 64;
/// A send that cannot proceed for this long means the stream is stuck: reconnect.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the coordinator and what to tell it.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// gRPC endpoints, one per coordinator (a session to each).
    pub coordinator_urls: Vec<String>,
    /// Mutual TLS files (with an `https://` URL).
    pub tls: Option<crate::config::AgentTls>,
    /// The hello sent on every connection.
    pub hello: AgentHello,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Backoff floor.
    pub backoff_min: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
}

/// Why one connection ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Bad endpoint URL.
    #[error("coordinator url {url} is invalid")]
    Url {
        /// URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A TLS file could not be read, or tonic refused it.
    #[error("agent TLS file {path}")]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings were refused.
    #[error("agent TLS config for {url} is invalid")]
    TlsConfig {
        /// URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// TCP/HTTP2 connection failed.
    #[error("cannot connect to coordinator {url}")]
    Connect {
        /// URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The RPC failed or the stream broke.
    #[error("agent stream with {url} failed")]
    Stream {
        /// URL.
        url: String,
        /// gRPC status.
        #[source]
        source: tonic::Status,
    },
    /// The coordinator stopped reading.
    #[error("agent stream with {url}: send stalled or closed")]
    SendStalled {
        /// URL.
        url: String,
    },
    /// A TLS file changed: the session ends so the next one uses the new files.
    #[error("agent TLS files changed: reconnecting to {url} with them")]
    TlsRotated {
        /// URL.
        url: String,
    },
    /// The coordinator ended the stream.
    #[error("coordinator {url} closed the agent stream")]
    Closed {
        /// URL.
        url: String,
    },
}

/// Work for the order executor.
enum Work {
    /// Execute, and answer on that session's result channel.
    Order(ReapOrder, mpsc::Sender<ReapResult>),
    Term(u64),
}

/// Runs a session to every coordinator forever (until the task is dropped), executing orders
/// on `reaper`.
pub async fn run_sessions<D: DockerApi>(
    settings: SessionSettings,
    inventory: watch::Receiver<Snapshot>,
    mut ready: watch::Receiver<bool>,
    reaper: Reaper<D>,
    metrics: Arc<AgentMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let (work_tx, work_rx) = mpsc::channel(ORDER_QUEUE_CAP);
    let executor = tokio::spawn(execute_orders(reaper, work_rx, metrics.clone()));
    let mut executor = AbortOnDrop(executor);
    // The inventory must be listed once before the first hello.
    tokio::select! {
        r = ready.wait_for(|r| *r) => if r.is_err() { return },
        () = stopped(&mut stop) => return,
    }
    let sessions = settings.coordinator_urls.iter().map(|url| {
        let (result_tx, result_rx) = mpsc::channel(RESULT_CAP);
        let conn = Connection {
            url: url.clone(),
            settings: settings.clone(),
            inventory: inventory.clone(),
            work_tx: work_tx.clone(),
            result_tx,
            result_rx,
            seq: 0,
            acked: false,
            open: false,
            metrics: metrics.clone(),
            stop: stop.clone(),
        };
        conn.run_forever()
    });
    futures::future::join_all(sessions).await;
    // Every session has ended: the order being executed finishes, then the executor ends.
    drop(work_tx);
    let _ = (&mut executor.0).await;
}

impl Connection {
    /// Keeps a session open (reconnecting with jittered backoff) until `stop` turns true.
    async fn run_forever(self) {
        let mut conn = self;
        let mut backoff = conn.settings.backoff_min;
        loop {
            conn.acked = false;
            let err = conn.run_once().await;
            if std::mem::take(&mut conn.open) {
                conn.metrics.session_closed();
            }
            if *conn.stop.borrow() {
                tracing::info!(coordinator = %conn.url, "coordinator session closed (shutdown)");
                return;
            }
            tracing::warn!(coordinator = %conn.url, error = %ErrorChain(&err), "coordinator session ended");
            if conn.acked {
                backoff = conn.settings.backoff_min;
            }
            let jittered = rand::rng().random_range(conn.settings.backoff_min..=backoff);
            tokio::select! {
                () = tokio::time::sleep(jittered) => {}
                () = stopped(&mut conn.stop) => return,
            }
            backoff = (backoff * 2).min(conn.settings.backoff_max);
            conn.metrics.session_reconnects.inc();
        }
    }
}

/// Completes once `stop` is true (or its sender is gone); holds no borrow across awaits.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn execute_orders<D: DockerApi>(
    mut reaper: Reaper<D>,
    mut work: mpsc::Receiver<Work>,
    metrics: Arc<AgentMetrics>,
) {
    while let Some(w) = work.recv().await {
        match w {
            Work::Term(t) => reaper.observe_term(t),
            Work::Order(order, reply) => {
                let result = reaper.execute(&order).await;
                metrics.count_reap(&result);
                // A session that ended drops its results; the coordinator times the order out.
                let _ = reply.send(result).await;
            }
        }
    }
}

struct Connection {
    url: String,
    settings: SessionSettings,
    inventory: watch::Receiver<Snapshot>,
    work_tx: mpsc::Sender<Work>,
    result_tx: mpsc::Sender<ReapResult>,
    result_rx: mpsc::Receiver<ReapResult>,
    seq: u64,
    acked: bool,
    /// The stream is open (counted in the `session_connected` gauge).
    open: bool,
    metrics: Arc<AgentMetrics>,
    /// Turns true at shutdown.
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run_once(&mut self) -> SessionError {
        match self.session().await {
            Ok(()) => SessionError::Closed {
                url: self.url.clone(),
            },
            Err(e) => e,
        }
    }

    async fn session(&mut self) -> Result<(), SessionError> {
        let url = self.url.clone();
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|source| SessionError::Url {
                url: url.clone(),
                source,
            })?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let tls_stamp = tls_files_stamp(self.settings.tls.as_ref());
        let endpoint =
            match &self.settings.tls {
                Some(tls) => endpoint.tls_config(client_tls(tls)?).map_err(|source| {
                    SessionError::TlsConfig {
                        url: url.clone(),
                        source,
                    }
                })?,
                None => endpoint,
            };
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| SessionError::Connect {
                url: url.clone(),
                source,
            })?;
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_CAP);
        self.seq = 0;
        self.send(&out_tx, Up::Hello(self.settings.hello.clone()))
            .await?;
        let mut last_sent = self.inventory.borrow_and_update().clone();
        self.send_full(&out_tx, &last_sent).await?;
        let mut inbound = AgentServiceClient::new(channel)
            .session(ReceiverStream::new(out_rx))
            .await
            .map_err(|source| SessionError::Stream {
                url: url.clone(),
                source,
            })?
            .into_inner();
        self.open = true;
        self.metrics.session_opened();
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.tick().await;
        let mut stop = self.stop.clone();
        loop {
            // Every arm is cancel-safe (stream message, watch change, interval, mpsc recv).
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(m)) => match m.body {
                        Some(Down::Ack(ack)) => {
                            self.acked = true;
                            let _ = self.work_tx.try_send(Work::Term(ack.leader_term));
                        }
                        Some(Down::ReapOrder(order)) => self.enqueue(order),
                        Some(Down::Resync(_)) => {
                            last_sent = self.inventory.borrow_and_update().clone();
                            self.send_full(&out_tx, &last_sent).await?;
                        }
                        None => {}
                    },
                    Ok(None) => return Ok(()),
                    Err(source) => return Err(SessionError::Stream { url, source }),
                },
                changed = self.inventory.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let snap = self.inventory.borrow_and_update().clone();
                    let (upserted, removed_ids) = diff(&last_sent, &snap);
                    last_sent = snap;
                    if !upserted.is_empty() || !removed_ids.is_empty() {
                        let delta = InventoryDelta {
                            upserted: upserted.iter().map(to_proto).collect(),
                            removed_ids,
                        };
                        self.send(&out_tx, Up::Delta(delta)).await?;
                    }
                }
                _ = heartbeat.tick() => {
                    if tls_stamp != tls_files_stamp(self.settings.tls.as_ref()) {
                        return Err(SessionError::TlsRotated { url });
                    }
                    let count = u32::try_from(last_sent.len()).unwrap_or(u32::MAX);
                    self.send(&out_tx, Up::Heartbeat(Heartbeat { container_count: count })).await?;
                }
                Some(result) = self.result_rx.recv() => {
                    self.send(&out_tx, Up::ReapResult(result)).await?;
                }
                () = stopped(&mut stop) => {
                    // Half-close: the coordinator sees the stream end and closes its side.
                    drop(out_tx);
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Ok(Some(_)) = inbound.message().await {}
                    })
                    .await;
                    return Ok(());
                }
            }
        }
    }

    fn enqueue(&self, order: ReapOrder) {
        self.metrics.reap_orders.inc();
        let id = order.order_id.clone();
        if self
            .work_tx
            .try_send(Work::Order(order, self.result_tx.clone()))
            .is_err()
        {
            let busy = refusal(id, RefusalReason::Busy, "agent order queue full");
            self.metrics.count_reap(&busy);
            let _ = self.result_tx.try_send(busy);
        }
    }

    async fn send_full(
        &mut self,
        out: &mpsc::Sender<AgentMessage>,
        snap: &Snapshot,
    ) -> Result<(), SessionError> {
        let inv = Inventory {
            containers: snap.values().map(to_proto).collect(),
        };
        self.send(out, Up::Inventory(inv)).await
    }

    async fn send(
        &mut self,
        out: &mpsc::Sender<AgentMessage>,
        body: Up,
    ) -> Result<(), SessionError> {
        self.seq += 1;
        let msg = AgentMessage {
            seq: self.seq,
            body: Some(body),
        };
        match tokio::time::timeout(SEND_TIMEOUT, out.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(SessionError::SendStalled {
                url: self.url.clone(),
            }),
        }
    }
}

/// Modification time and size of each TLS file (a change means: reconnect with the new files).
fn tls_files_stamp(
    tls: Option<&crate::config::AgentTls>,
) -> Vec<Option<(std::time::SystemTime, u64)>> {
    tls.map(|t| {
        [&t.ca_file, &t.cert_file, &t.key_file]
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The client side of mutual TLS, from files read now.
fn client_tls(
    tls: &crate::config::AgentTls,
) -> Result<tonic::transport::ClientTlsConfig, SessionError> {
    let read = |path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|source| SessionError::Tls {
            path: path.clone(),
            source,
        })
    };
    let ca = tonic::transport::Certificate::from_pem(read(&tls.ca_file)?);
    let identity =
        tonic::transport::Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?);
    Ok(tonic::transport::ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(identity))
}

/// Shared so tests can build the same hello the binary does.
pub fn hello(hostname: &str, mesos_slave_id: Option<&str>) -> AgentHello {
    AgentHello {
        hostname: hostname.to_owned(),
        mesos_slave_id: mesos_slave_id.unwrap_or_default().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        instance_id: uuid::Uuid::new_v4().to_string(),
    }
}
