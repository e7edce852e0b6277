//! The `AgentService` gRPC server: thin. It converts protobuf to the registry's terms and
//! back, and owns nothing but the per-session pump task.

use std::pin::Pin;

use futures::Stream;
use galley_proto::v1::agent_message::Body as Up;
use galley_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use galley_proto::v1::coordinator_message::Body as Down;
use galley_proto::v1::{
    Ack, AgentMessage, Container, ContainerState as PbState, CoordinatorMessage, ReapOrder,
    ReapResult, ReapStatus, RefusalReason, Resync,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::model::{ContainerObs, ContainerState, OrderOutcome};
use super::registry::{AgentIdentity, AgentRegistry, Outbound, RegistryError};
use super::validate;

/// The service implementation.
#[derive(Clone)]
pub struct AgentServiceImpl {
    registry: AgentRegistry,
    leader: watch::Receiver<Option<u64>>,
    heartbeat_seconds: u32,
    audit: Option<DenialAudit>,
}

/// Where refused agent sessions are recorded (the deploy log in `serve`).
pub type DenialAudit = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for AgentServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServiceImpl")
            .field("heartbeat_seconds", &self.heartbeat_seconds)
            .finish_non_exhaustive()
    }
}

/// The tonic service to add to a `Server` builder:
/// `Server::builder().add_service(agent_service(registry, leader_rx, 10))`.
pub fn agent_service(
    registry: AgentRegistry,
    leader: watch::Receiver<Option<u64>>,
    heartbeat_seconds: u32,
) -> AgentServiceServer<AgentServiceImpl> {
    agent_service_audited(registry, leader, heartbeat_seconds, None)
}

/// [`agent_service`], recording refused sessions (an agent reporting for a host its
/// certificate does not name) in `audit`.
pub fn agent_service_audited(
    registry: AgentRegistry,
    leader: watch::Receiver<Option<u64>>,
    heartbeat_seconds: u32,
    audit: Option<DenialAudit>,
) -> AgentServiceServer<AgentServiceImpl> {
    AgentServiceServer::new(AgentServiceImpl {
        registry,
        leader,
        heartbeat_seconds,
        audit,
    })
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<CoordinatorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for AgentServiceImpl {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let peer = request
            .extensions()
            .get::<crate::grpc::authz::Peer>()
            .cloned();
        let mut inbound = request.into_inner();
        let mut hello = match inbound.message().await? {
            Some(AgentMessage {
                body: Some(Up::Hello(h)),
                ..
            }) if !h.hostname.is_empty() => h,
            _ => {
                return Err(Status::invalid_argument(
                    "first message must be a hello with a hostname",
                ));
            }
        };
        hello.hostname = validate::hostname(&hello.hostname)
            .map_err(|e| Status::invalid_argument(format!("hello: {e}")))?;
        for (field, value) in [
            ("mesos_slave_id", &hello.mesos_slave_id),
            ("version", &hello.version),
            ("boot_id", &hello.boot_id),
            ("instance_id", &hello.instance_id),
        ] {
            if value.len() > 256 || value.chars().any(char::is_control) {
                return Err(Status::invalid_argument(format!(
                    "hello: {field}: longer than 256 bytes or has control characters"
                )));
            }
        }
        if let Some(peer) = peer.filter(|p| p.tls)
            && !peer
                .names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&hello.hostname))
        {
            let message = format!(
                "certificate {:?} may not report for host {} (a node reports only for itself)",
                peer.names, hello.hostname
            );
            tracing::warn!(audit = true, "agent session denied: {message}");
            if let Some(audit) = &self.audit {
                audit(&format!("Denied agent session: {message}"));
            }
            return Err(Status::permission_denied(message));
        }
        let host = hello.hostname.clone();
        let identity = AgentIdentity {
            hostname: hello.hostname,
            mesos_slave_id: hello.mesos_slave_id,
            version: hello.version,
            boot_id: hello.boot_id,
            instance_id: hello.instance_id,
        };
        tracing::info!(host = %host, instance = %identity.instance_id, "agent session opened");
        let (session, outbound) = self
            .registry
            .open_session(identity)
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
        let (tx, rx) = mpsc::channel(16);
        let ack = Ack {
            leader_term: self.leader.borrow().unwrap_or(0),
            heartbeat_interval_seconds: self.heartbeat_seconds,
        };
        let _ = tx.send(Ok(down(Down::Ack(ack)))).await;
        let pump = Pump {
            registry: self.registry.clone(),
            host,
            session,
            leader: self.leader.clone(),
            heartbeat_seconds: self.heartbeat_seconds,
        };
        tokio::spawn(pump.run(inbound, outbound, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn down(body: Down) -> CoordinatorMessage {
    CoordinatorMessage { body: Some(body) }
}

/// One session's message pump.
struct Pump {
    registry: AgentRegistry,
    host: String,
    session: u64,
    leader: watch::Receiver<Option<u64>>,
    heartbeat_seconds: u32,
}

impl Pump {
    /// Moves messages both ways until either side ends. A new leader term is sent as a fresh
    /// `Ack` at once, so agents refuse a deposed leader's orders before the new leader orders any.
    async fn run(
        mut self,
        mut inbound: Streaming<AgentMessage>,
        mut outbound: mpsc::Receiver<Outbound>,
        tx: mpsc::Sender<Result<CoordinatorMessage, Status>>,
    ) {
        let (registry, host, session) = (self.registry.clone(), self.host.clone(), self.session);
        self.leader.borrow_and_update();
        loop {
            // Every arm is cancel-safe (tonic's `message`, mpsc `recv`, watch `changed`).
            tokio::select! {
                changed = self.leader.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let term = *self.leader.borrow_and_update();
                    if let Some(term) = term {
                        let ack = Ack { leader_term: term, heartbeat_interval_seconds: self.heartbeat_seconds };
                        if tx.send(Ok(down(Down::Ack(ack)))).await.is_err() {
                            break;
                        }
                    }
                }
                msg = inbound.message() => match msg {
                    Ok(Some(m)) => {
                        if let Err(e) = handle_up(&registry, &host, session, m) {
                            // Tell the agent why before ending its session.
                            tracing::warn!(host = %host, error = %e, "agent session ended: over a limit");
                            let _ = tx.send(Err(Status::resource_exhausted(e.to_string()))).await;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        tracing::warn!(host = %host, %status, "agent stream error");
                        let why = format!("coordinator: your stream failed: {}", status.message());
                        let _ = tx.send(Err(Status::new(status.code(), why))).await;
                        break;
                    }
                },
                out = outbound.recv() => {
                    let Some(out) = out else { break };
                    let msg = match out {
                        Outbound::Order(o) => Down::ReapOrder(ReapOrder {
                            order_id: o.order_id,
                            leader_term: o.leader_term,
                            container_id: o.target.container_id,
                            container_name: o.target.name,
                            created_unix_nanos: o.target.created_unix_nanos,
                            grace_seconds: o.grace_seconds,
                            reason: o.reason,
                        }),
                        Outbound::Resync => Down::Resync(Resync {}),
                    };
                    if tx.send(Ok(down(msg))).await.is_err() {
                        break;
                    }
                }
            }
        }
        registry.close_session(&host, session);
        tracing::info!(host = %host, "agent session closed");
    }
}

fn handle_up(
    registry: &AgentRegistry,
    host: &str,
    session: u64,
    m: AgentMessage,
) -> Result<(), RegistryError> {
    match m.body {
        Some(Up::Inventory(inv)) => {
            registry.replace_inventory(host, session, valid(host, inv.containers))?;
        }
        Some(Up::Delta(d)) => {
            let upserted = valid(host, d.upserted);
            registry.apply_delta(host, session, upserted, &d.removed_ids)?;
        }
        Some(Up::Heartbeat(hb)) => {
            if registry.heartbeat(host, session, hb.container_count) {
                registry.request_resync(host);
            }
        }
        Some(Up::ReapResult(r)) => {
            registry.touch(host, session);
            let id = r.order_id.clone();
            registry.complete_order(&id, outcome(r));
        }
        Some(Up::Hello(_)) | None => registry.touch(host, session),
    }
    Ok(())
}

/// The records of `containers` that pass [`validate::container`]; the others are dropped
/// (never planned, never ordered) and logged with the field that failed.
fn valid(host: &str, containers: Vec<Container>) -> Vec<ContainerObs> {
    let now = super::reaper::now_unix_nanos();
    let mut refused = 0usize;
    let mut first: Option<validate::Invalid> = None;
    let out = containers
        .into_iter()
        .map(from_proto)
        .filter(|c| match validate::container(c, now) {
            Ok(()) => true,
            Err(e) => {
                refused += 1;
                first.get_or_insert(e);
                false
            }
        })
        .collect();
    if let Some(e) = first {
        tracing::warn!(host = %host, refused, first = %e, "agent sent invalid container records: ignored");
    }
    out
}

fn outcome(r: ReapResult) -> OrderOutcome {
    match r.status() {
        ReapStatus::Done => OrderOutcome::Done { detail: r.detail },
        ReapStatus::Refused => OrderOutcome::Refused {
            reason: refusal_name(r.refusal()).to_owned(),
            detail: r.detail,
        },
        ReapStatus::Failed | ReapStatus::Unspecified => OrderOutcome::Failed { detail: r.detail },
    }
}

fn refusal_name(r: RefusalReason) -> &'static str {
    match r {
        RefusalReason::Unspecified => "UNSPECIFIED",
        RefusalReason::Replaced => "REPLACED",
        RefusalReason::NotMesos => "NOT_MESOS",
        RefusalReason::TooYoung => "TOO_YOUNG",
        RefusalReason::StaleTerm => "STALE_TERM",
        RefusalReason::RateLimited => "RATE_LIMITED",
        RefusalReason::Busy => "BUSY",
        RefusalReason::Invalid => "INVALID",
    }
}

fn from_proto(c: Container) -> ContainerObs {
    let state = match c.state() {
        PbState::Unspecified => ContainerState::Unknown,
        PbState::Created => ContainerState::Created,
        PbState::Running => ContainerState::Running,
        PbState::Paused => ContainerState::Paused,
        PbState::Restarting => ContainerState::Restarting,
        PbState::Removing => ContainerState::Removing,
        PbState::Exited => ContainerState::Exited,
        PbState::Dead => ContainerState::Dead,
    };
    let opt = |s: String| Some(s).filter(|s| !s.is_empty());
    ContainerObs {
        id: c.id,
        name: c.name,
        created_unix_nanos: c.created_unix_nanos,
        started_unix_nanos: c.started_unix_nanos,
        state,
        task_id_env: opt(c.task_id_env),
        task_id_label: opt(c.task_id_label),
        marathon_app_id: opt(c.marathon_app_id),
        image: c.image,
    }
}
