//! Marathon behind a small trait. [`MarathonClient`] speaks Marathon's v2 REST API over HTTP
//! (reqwest); the wire DTOs never leave this module.

mod client;
mod dto;
pub mod events;
mod streamed;

use std::future::Future;

use futures::stream::BoxStream;

pub use client::{MarathonClient, MarathonConfig};
pub use events::MarathonEvent;
use std::sync::Arc;

use galley_common::observed::{AppSnapshot, ObservedApp, reuse_held};
use galley_common::replication::QueueSignal;

/// The Marathon operations Galley uses.
pub trait MarathonApi: Send + Sync + 'static {
    /// Every app with its tasks, in one call.
    fn list_apps(&self) -> impl Future<Output = Result<Vec<ObservedApp>, MarathonError>> + Send;
    /// [`Self::list_apps`], each app equal to one in `held` (sorted by id) as that same `Arc`
    /// ([`galley_common::observed::reuse_held`]). The client compares each app as it is
    /// decoded, so an unchanged app's copy never outlives its comparison.
    fn list_apps_reusing(
        &self,
        held: AppSnapshot,
    ) -> impl Future<Output = Result<Vec<Arc<ObservedApp>>, MarathonError>> + Send {
        async move {
            let apps = self.list_apps().await?;
            Ok(apps.into_iter().map(|a| reuse_held(&held, a)).collect())
        }
    }
    /// One app with its tasks (`GET /v2/apps/{id}?embed=app.tasks`); `None` when it does not
    /// exist.
    fn get_app(
        &self,
        app_id: &str,
    ) -> impl Future<Output = Result<Option<ObservedApp>, MarathonError>> + Send;
    /// The event stream (`GET /v2/events`), from now on; it ends or yields an error when the
    /// connection breaks.
    fn events(&self) -> BoxStream<'static, Result<MarathonEvent, MarathonError>>;
    /// `POST /v2/apps`.
    fn create_app(
        &self,
        app: &serde_json::Value,
    ) -> impl Future<Output = Result<(), MarathonError>> + Send;
    /// `PUT /v2/apps/{id}` with `{"instances": n}`.
    fn scale_app(
        &self,
        app_id: &str,
        instances: u32,
        force: bool,
    ) -> impl Future<Output = Result<(), MarathonError>> + Send;
    /// `POST /v2/tasks/delete?scale=..&force=..` for these tasks.
    fn kill_tasks(
        &self,
        task_ids: &[String],
        scale: bool,
        force: bool,
    ) -> impl Future<Output = Result<(), MarathonError>> + Send;
    /// `DELETE /v2/apps/{id}` (Marathon defaults this to force).
    fn delete_app(&self, app_id: &str) -> impl Future<Output = Result<(), MarathonError>> + Send;
    /// `GET /v2/queue`: apps with launches waiting or a launch delay (backoff) running.
    fn queue(&self) -> impl Future<Output = Result<Vec<QueueSignal>, MarathonError>> + Send;
}

/// A failed Marathon call.
#[derive(Debug, thiserror::Error)]
pub enum MarathonError {
    /// No HTTP answer (connection refused, reset, timeout).
    #[error("marathon {op} {url}: no response")]
    Request {
        /// Operation.
        op: &'static str,
        /// URL.
        url: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The app is locked by a deployment (409 with `deployments`).
    #[error("marathon {op} {url}: app is locked by deployments {deployments:?}")]
    Locked {
        /// Operation.
        op: &'static str,
        /// URL.
        url: String,
        /// The deployments holding the lock.
        deployments: Vec<String>,
    },
    /// Any other non-success status.
    #[error("marathon {op} {url}: HTTP {status}: {message}")]
    Status {
        /// Operation.
        op: &'static str,
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Marathon's `message` (or the raw body).
        message: String,
    },
    /// A success response whose body did not parse.
    #[error("marathon {op} {url}: unexpected response body")]
    Decode {
        /// Operation.
        op: &'static str,
        /// URL.
        url: String,
        /// Parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A success response whose body was larger than the client accepts.
    #[error("marathon {op} {url}: response body larger than {limit} bytes")]
    TooLarge {
        /// Operation.
        op: &'static str,
        /// URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The event stream broke its framing (too large an event, not UTF-8).
    #[error("marathon events {url}: bad stream")]
    Stream {
        /// URL.
        url: String,
        /// What broke.
        #[source]
        source: events::SseError,
    },
}

impl MarathonError {
    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MarathonError::Status { status: 404, .. })
    }
}
