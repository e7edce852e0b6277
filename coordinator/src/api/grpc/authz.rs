//! Authorization of every gRPC call, in one tower layer in front of all services.
//!
//! - The caller is the verified client certificate's DNS SANs ([`Peer`]); the layer puts the
//!   `Peer` into the request's extensions for handlers (audit names, the agent hostname check).
//! - Each method needs an [`Access`]: health and reflection are public; `AgentService` needs
//!   any certificate of the CA (the service then checks the hostname); reads need the
//!   `read_only` or `operator` role; writes need `operator`, and writes that steer this
//!   coordinator (`CoordinatorService`) also need it to be the leader — a follower answers
//!   `FAILED_PRECONDITION` naming the leader. Unknown methods need `operator` (fail closed).
//! - Denied calls get `PERMISSION_DENIED` and are audited.
//! - Plaintext (`--insecure`, the demo): there are no certificates and every caller counts as
//!   an operator; the leader check still applies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use serde::Deserialize;
use tokio::sync::watch;
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::election::Leadership;
use crate::tls::peer_names;

/// What a certificate may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read RPCs only.
    ReadOnly,
    /// Reads and writes.
    Operator,
}

/// Certificate name (DNS SAN) → role.
pub type RoleMap = BTreeMap<String, Role>;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// DNS SANs of the verified client certificate (empty without TLS).
    pub names: Vec<String>,
    /// For logs and audit: the first name, else the remote address.
    pub display: String,
    /// Whether the call came over mutual TLS.
    pub tls: bool,
}

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who completed the handshake (health, reflection).
    Public,
    /// An agent: any certificate of the CA; the service checks the hostname.
    Agent,
    /// `read_only` or `operator`.
    Read,
    /// `operator`; `leader`: only the leader may answer.
    Write {
        /// Needs the leader.
        leader: bool,
    },
}

/// The access `path` (`/package.Service/Method`) needs.
pub fn access(path: &str) -> Access {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    match service {
        "grpc.health.v1.Health"
        | "grpc.reflection.v1.ServerReflection"
        | "grpc.reflection.v1alpha.ServerReflection" => Access::Public,
        "galley.v1.AgentService" => Access::Agent,
        "galley.v1.CoordinatorService"
            if method.starts_with("Get")
                || method.starts_with("List")
                || method == "WatchEvents" =>
        {
            Access::Read
        }
        "galley.v1.CoordinatorService" => Access::Write { leader: true },
        // Tags go to git; any coordinator may push them, the leader acts on them.
        _ => Access::Write { leader: false },
    }
}

/// Who may call what.
pub struct Policy {
    /// `None`: plaintext, every caller is an operator.
    roles: Option<RoleMap>,
    leadership: watch::Receiver<Leadership>,
    audit: Box<dyn Fn(&str) + Send + Sync>,
}

impl Policy {
    /// A policy; `audit` records denied calls.
    pub fn new(
        roles: Option<RoleMap>,
        leadership: watch::Receiver<Leadership>,
        audit: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        Self {
            roles,
            leadership,
            audit,
        }
    }

    fn role(&self, peer: &Peer) -> Option<Role> {
        let Some(roles) = &self.roles else {
            return Some(Role::Operator);
        };
        peer.names
            .iter()
            .filter_map(|n| roles.get(n))
            .max()
            .copied()
    }

    /// Whether `peer` may call `path`.
    pub fn check(&self, path: &str, peer: &Peer) -> Result<(), Status> {
        let denied = |why: String| {
            let message = format!("{path} denied to {}: {why}", peer.display);
            tracing::warn!(audit = true, "{message}");
            (self.audit)(&format!("Denied {message}"));
            Status::permission_denied(message)
        };
        let need = access(path);
        match need {
            Access::Public => return Ok(()),
            Access::Agent if peer.tls && peer.names.is_empty() => {
                return Err(denied("certificate has no DNS name".into()));
            }
            Access::Agent => return Ok(()),
            Access::Read | Access::Write { .. } => {}
        }
        let required = match need {
            Access::Read => Role::ReadOnly,
            _ => Role::Operator,
        };
        match self.role(peer) {
            Some(r) if r >= required => {}
            Some(r) => return Err(denied(format!("role {r:?} may not call it"))),
            None => return Err(denied("no role for this certificate".into())),
        }
        if need == (Access::Write { leader: true }) {
            let l = self.leadership.borrow();
            if l.acting.is_none() {
                return Err(Status::failed_precondition(format!(
                    "this coordinator ({}) is not the leader; send writes to the leader: {}",
                    l.me,
                    l.leader_name()
                )));
            }
        }
        Ok(())
    }
}

/// The peer of a request, from tonic's connection info.
pub fn peer_of<B>(req: &http::Request<B>) -> Peer {
    if let Some(info) = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>() {
        let names = info
            .peer_certs()
            .and_then(|c| c.first().map(peer_names))
            .unwrap_or_default();
        let addr = info.get_ref().remote_addr();
        let display = names
            .first()
            .cloned()
            .or_else(|| addr.map(|a| a.to_string()))
            .unwrap_or_else(|| "unknown".into());
        return Peer {
            names,
            display,
            tls: true,
        };
    }
    let addr = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr());
    Peer {
        names: Vec::new(),
        display: addr.map_or_else(|| "anonymous".into(), |a| a.to_string()),
        tls: false,
    }
}

/// The layer for `Server::builder().layer(..)`.
#[derive(Clone)]
pub struct AuthzLayer {
    policy: Arc<Policy>,
}

impl AuthzLayer {
    /// Enforces `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }
}

impl<S> tower::Layer<S> for AuthzLayer {
    type Service = Authz<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authz {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`AuthzLayer`] wraps around the routes.
#[derive(Clone)]
pub struct Authz<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for Authz<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let peer = peer_of(&req);
        match self.policy.check(req.uri().path(), &peer) {
            Ok(()) => {
                req.extensions_mut().insert(peer);
                Either::Left(self.inner.call(req))
            }
            Err(status) => Either::Right(ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(roles: Option<RoleMap>, acting: bool) -> Policy {
        let mut l = Leadership::sole("me:1", 1);
        if !acting {
            l.acting = None;
            l.destructive = None;
            l.leader = Some("boss:1".into());
        }
        Policy::new(roles, watch::channel(l).1, Box::new(|_| {}))
    }

    fn peer(names: &[&str]) -> Peer {
        Peer {
            names: names.iter().map(|s| s.to_string()).collect(),
            display: names.first().unwrap_or(&"x").to_string(),
            tls: true,
        }
    }

    const FREEZE: &str = "/galley.v1.CoordinatorService/FreezeCluster";
    const STATUS: &str = "/galley.v1.CoordinatorService/GetStatus";

    #[test]
    fn methods_are_classified() {
        assert_eq!(access(STATUS), Access::Read);
        assert_eq!(
            access("/galley.v1.CoordinatorService/WatchEvents"),
            Access::Read
        );
        assert_eq!(access(FREEZE), Access::Write { leader: true });
        assert_eq!(
            access("/galley.v1.DeployService/Stop"),
            Access::Write { leader: false }
        );
        assert_eq!(access("/galley.v1.AgentService/Session"), Access::Agent);
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Public);
        assert_eq!(access("/evil.Svc/X"), Access::Write { leader: false });
    }

    #[test]
    fn roles_decide_reads_and_writes() {
        let roles: RoleMap = [
            ("alice".to_string(), Role::Operator),
            ("bob".to_string(), Role::ReadOnly),
        ]
        .into();
        let p = policy(Some(roles), true);
        assert!(p.check(FREEZE, &peer(&["alice"])).is_ok());
        assert!(p.check(STATUS, &peer(&["bob"])).is_ok());
        let e = p.check(FREEZE, &peer(&["bob"])).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let e = p.check(STATUS, &peer(&["eve"])).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        // The strongest role among a certificate's names counts.
        assert!(p.check(FREEZE, &peer(&["bob", "alice"])).is_ok());
    }

    #[test]
    fn followers_refuse_writes_naming_the_leader_and_serve_reads() {
        let p = policy(None, false);
        let e = p.check(FREEZE, &peer(&["x"])).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(e.message().contains("boss:1"), "{}", e.message());
        assert!(p.check(STATUS, &peer(&["x"])).is_ok());
        assert!(
            p.check("/galley.v1.DeployService/Stop", &peer(&["x"]))
                .is_ok()
        );
    }

    #[test]
    fn denials_are_audited() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let p = Policy::new(
            Some(RoleMap::new()),
            watch::channel(Leadership::sole("me", 1)).1,
            Box::new(move |m| s.lock().unwrap().push(m.to_owned())),
        );
        assert!(p.check(FREEZE, &peer(&["mallory"])).is_err());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("mallory") && seen[0].contains("FreezeCluster"));
    }
}
