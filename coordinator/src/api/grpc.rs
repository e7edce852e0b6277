//! The operator API (`galley.v1.CoordinatorService`): thin tonic handlers over the
//! coordinator's components.
//!
//! - Reads answer from an in-memory [`view::View`] rebuilt after every reconcile pass (never a
//!   Marathon call per request), plus the live operator switches, agent registry and reaper
//!   status.
//! - Writes validate everything first (nothing is half-applied), then flip a switch, trigger a
//!   pass, or call the reaper, and record who asked in the deploy log ([`OperatorService::audit`]).
//! - Errors map to gRPC codes in [`error`]; protobuf conversions live in [`convert`]; the
//!   caller's identity comes from [`identity::caller`] (recorded by [`authz`]).

pub mod authz;
pub mod convert;
pub mod error;
pub mod identity;
pub mod reaper_slot;
mod service;
pub mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use galley_proto::v1::coordinator_service_server::CoordinatorServiceServer;
use tokio::sync::watch;

use crate::agents::AgentRegistry;
use crate::deploy_log::{Component, DeployEvent, DeployLog, Level, NOT_APPLICABLE};
use crate::error_chain::ErrorChain;
use crate::reconciler::ReconcilerHandle;

pub use error::OperatorError;
pub use identity::caller;
pub use reaper_slot::ReaperSlot;
pub use view::View;

/// What the operator API steers and reads.
#[derive(Clone)]
pub struct OperatorDeps {
    /// This cluster's name.
    pub cluster: String,
    /// The reconcile loop.
    pub reconciler: ReconcilerHandle,
    /// The deploy log (recent events, and the audit trail of writes).
    pub deploy_log: Arc<DeployLog>,
    /// Who leads and what this coordinator may do.
    pub leadership: watch::Receiver<crate::election::Leadership>,
    /// Connected agents, when the agent service runs.
    pub agents: Option<AgentRegistry>,
    /// The orphan reaper, when it runs.
    pub reaper: Option<Arc<ReaperSlot>>,
    /// The list-then-watch view of Marathon, when `marathon.watch_events` is on.
    pub marathon_view: Option<crate::observed::view::MarathonView>,
}

/// The `CoordinatorService` implementation; clones share state.
#[derive(Clone)]
pub struct OperatorService {
    inner: Arc<Inner>,
}

struct Inner {
    deps: OperatorDeps,
    view: watch::Receiver<Arc<View>>,
    who: Mutex<Who>,
    started_at: DateTime<Utc>,
}

/// Who flipped the switches that are on.
#[derive(Debug, Default)]
struct Who {
    frozen_by: String,
    paused_by: BTreeMap<(String, String), String>,
}

/// The tonic service, ready for `Server::add_service`.
pub type OperatorServer = CoordinatorServiceServer<OperatorService>;

impl OperatorService {
    /// The service; spawns the task that keeps its view current (call within a runtime).
    pub fn new(deps: OperatorDeps) -> Self {
        Self::with_sources(deps, view::ViewSources::default())
    }

    /// As [`Self::new`], with the view's extra sources (the launch queue for backoff and
    /// evidence, the rollback default).
    pub fn with_sources(deps: OperatorDeps, sources: view::ViewSources) -> Self {
        let view = view::spawn_view_task(&deps.cluster, deps.reconciler.status.clone(), sources);
        Self::with_view(deps, view)
    }

    /// The service over a given view channel (benchmarks and tests build views directly).
    pub fn with_view(deps: OperatorDeps, view: watch::Receiver<Arc<View>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                deps,
                view,
                who: Mutex::default(),
                started_at: Utc::now(),
            }),
        }
    }

    /// The tonic server with its message size limits.
    pub fn into_server(self) -> OperatorServer {
        CoordinatorServiceServer::new(self)
            .max_encoding_message_size(64 * 1024 * 1024)
            .max_decoding_message_size(4 * 1024 * 1024)
    }

    /// Who leads and what this coordinator may do.
    pub fn leadership(&self) -> watch::Receiver<crate::election::Leadership> {
        self.inner.deps.leadership.clone()
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.inner.view.borrow().clone()
    }

    fn deps(&self) -> &OperatorDeps {
        &self.inner.deps
    }

    fn who(&self) -> std::sync::MutexGuard<'_, Who> {
        self.inner.who.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an operator's write in the deploy log (component `deploy`, level `event`).
    pub fn audit(&self, service: Option<&str>, instance: Option<&str>, message: &str) {
        let event = DeployEvent::new(
            Utc::now(),
            Level::Event,
            Component::Deploy,
            &self.deps().cluster,
            service.unwrap_or(NOT_APPLICABLE),
            instance.unwrap_or(NOT_APPLICABLE),
            message,
        );
        // Operator text is escaped: a reason with a newline must not forge a log line.
        tracing::info!(audit = true, "{}", message.escape_debug());
        if let Err(e) = self.deps().deploy_log.log(event) {
            tracing::warn!(error = %ErrorChain(&e), "audit: deploy log write failed");
        }
    }
}
