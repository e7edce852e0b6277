//! The coordinator's gRPC server: the operator API, the agent service, gRPC health
//! (`grpc.health.v1`) and server reflection (v1 and v1alpha, since older grpcurl builds speak
//! only v1alpha), served on a pre-bound listener until a shutdown future completes.

use crate::gitwatch::grpc::DeployApi;
use galley_proto::v1::deploy_service_server::DeployServiceServer;
use std::future::Future;

use galley_proto::v1::agent_service_server::AgentServiceServer;
use galley_proto::v1::coordinator_service_server::CoordinatorServiceServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

use crate::agents::{AgentRegistry, AgentServiceImpl};
use crate::grpc::authz::{AuthzLayer, Policy, RoleMap};
use crate::grpc::{OperatorServer, OperatorService};

/// A server that could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr} for gRPC")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptor sets.
    #[error("gRPC reflection descriptor sets are invalid")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// Serving failed.
    #[error("gRPC server failed")]
    Serve(#[source] tonic::transport::Error),
}

/// The services one coordinator serves.
pub struct Services {
    /// `galley.v1.CoordinatorService`.
    pub operator: OperatorService,
    /// `galley.v1.AgentService` and its registry (sessions are ended before shutdown).
    pub agents: Option<(AgentServiceServer<AgentServiceImpl>, AgentRegistry)>,
    /// `galley.v1.DeployService` (mark-for-deployment, start, stop, restart tags).
    pub deploy: Option<DeployServiceServer<DeployApi>>,
    /// Mutual TLS; `None`: plaintext (`--insecure`, the demo), every caller an operator.
    pub tls: Option<crate::tls::ServerTls>,
    /// Certificate name → role (used with `tls`; names not listed get no role).
    pub roles: RoleMap,
}

impl Services {
    /// Only the operator API, in plaintext (benchmarks, tests of the API alone).
    pub fn operator_only(operator: OperatorService) -> Self {
        Self {
            operator,
            agents: None,
            deploy: None,
            tls: None,
            roles: RoleMap::default(),
        }
    }
}

/// Binds `addr` (`host:port`; port 0 picks one).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves `services` on `listener` (over mutual TLS when `services.tls` is set) until
/// `shutdown` completes, then drains in-flight calls. Every call passes the authorization
/// layer ([`crate::grpc::authz`]).
pub async fn serve(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CoordinatorServiceServer<OperatorService>>()
        .await;
    let (agents, registry) = match services.agents {
        Some((svc, registry)) => {
            health
                .set_serving::<AgentServiceServer<AgentServiceImpl>>()
                .await;
            (Some(svc), Some(registry))
        }
        None => (None, None),
    };
    // Advertise exactly what is mounted (the descriptor set also holds services this process
    // may not serve), and both reflection versions from both reflection services.
    let mut names = vec![
        "galley.v1.CoordinatorService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    if agents.is_some() {
        names.push("galley.v1.AgentService");
    }
    if services.deploy.is_some() {
        health.set_serving::<DeployServiceServer<DeployApi>>().await;
        names.push("galley.v1.DeployService");
    }
    let reflection = || {
        names.iter().fold(
            tonic_reflection::server::Builder::configure()
                .include_reflection_service(false)
                .register_encoded_file_descriptor_set(galley_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                ),
            |b, n| b.with_service_name(*n),
        )
    };
    let reflection_v1 = reflection().build_v1().map_err(ServerError::Reflection)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(ServerError::Reflection)?;
    let audit_to = services.operator.clone();
    let policy = Policy::new(
        services.tls.as_ref().map(|_| services.roles.clone()),
        services.operator.leadership(),
        Box::new(move |m: &str| audit_to.audit(None, None, m)),
    );
    let operator: OperatorServer = services.operator.into_server();
    let shutdown = async move {
        shutdown.await;
        // Open agent streams would otherwise hold the graceful shutdown; agents reconnect.
        if let Some(r) = registry {
            r.disconnect_all();
        }
    };
    let router = tonic::transport::Server::builder()
        .layer(AuthzLayer::new(std::sync::Arc::new(policy)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(operator)
        .add_optional_service(agents)
        .add_optional_service(services.deploy);
    let served = match services.tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(crate::tls::incoming(listener, tls), shutdown)
                .await
        }
        None => {
            // Nagle + delayed ACK would add ~40 ms to multi-segment replies on an incoming
            // stream (tonic sets TCP_NODELAY only on listeners it binds itself).
            let incoming = TcpListenerStream::new(listener).map(|conn| {
                if let Ok(c) = &conn {
                    let _ = c.set_nodelay(true);
                }
                conn
            });
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
    served.map_err(ServerError::Serve)
}

/// Sends the orphan reaper's audit events to the deploy log (component `deploy`; orphans and
/// orders at level `event`, blocked passes at `debug`), so reaping shows in `ListEvents` and
/// in the deploy log file next to the operators' writes.
pub struct DeployLogAudit {
    /// The log.
    pub log: std::sync::Arc<crate::deploy_log::DeployLog>,
    /// This cluster.
    pub cluster: String,
}

impl crate::agents::AuditSink for DeployLogAudit {
    fn record(&self, event: crate::agents::AuditEvent) {
        use crate::agents::AuditEvent as A;
        use crate::deploy_log::{Component, DeployEvent, Level, NOT_APPLICABLE};
        let short = |id: &str| id.chars().take(12).collect::<String>();
        let (level, message) = match &event {
            A::OrphanFlagged {
                host,
                container_id,
                name,
                task_id,
                reason,
            } => (
                Level::Event,
                format!(
                    "Orphan container {name} ({}) on {host}: {reason} (task {})",
                    short(container_id),
                    task_id.as_deref().unwrap_or("none")
                ),
            ),
            A::WouldReap {
                host, name, reason, ..
            } => (
                Level::Event,
                format!("Would reap container {name} on {host} ({reason}; not enforcing)"),
            ),
            A::OrderSent {
                host,
                name,
                reason,
                order_id,
                ..
            } => (
                Level::Event,
                format!("Reaping container {name} on {host} ({reason}, order {order_id})"),
            ),
            A::OrderResult {
                host,
                container_id,
                outcome,
                error,
                ..
            } => (
                Level::Event,
                match (outcome, error) {
                    (Some(o), _) => format!("Reap of {} on {host}: {o}", short(container_id)),
                    (None, e) => format!(
                        "Reap of {} on {host}: no answer ({})",
                        short(container_id),
                        e.as_deref().unwrap_or("unknown")
                    ),
                },
            ),
            A::PassBlocked { reason, detail } => (
                Level::Debug,
                format!("Orphan reaper pass blocked: {reason}: {detail}"),
            ),
        };
        let event = DeployEvent::new(
            chrono::Utc::now(),
            level,
            Component::Deploy,
            &self.cluster,
            NOT_APPLICABLE,
            NOT_APPLICABLE,
            &message,
        );
        if let Err(e) = self.log.log(event) {
            tracing::warn!(error = %crate::error_chain::ErrorChain(&e), "reaper audit: deploy log write failed");
        }
    }
}
