//! The Mesos master behind a small trait: agents with their attributes (for `GROUP_BY`
//! constraints and replication) and every framework's tasks (for orphan detection).
//! [`MesosClient`] reads `/master/state` over HTTP, following the 307 a non-leading master
//! answers with.

mod dto;

use std::future::Future;
use std::time::Duration;

use galley_common::observed::{MesosSlave, MesosState};

/// What Galley reads from the Mesos master.
pub trait MesosApi: Send + Sync + 'static {
    /// `GET /master/state`.
    fn state(&self) -> impl Future<Output = Result<MesosState, MesosError>> + Send;

    /// The agents only (`GET /master/slaves`, much smaller than the state with every task).
    fn slaves(&self) -> impl Future<Output = Result<Vec<MesosSlave>, MesosError>> + Send {
        async { self.state().await.map(|s| s.slaves) }
    }
}

/// A failed Mesos call.
#[derive(Debug, thiserror::Error)]
pub enum MesosError {
    /// No HTTP answer.
    #[error("mesos master {url}: no response")]
    Request {
        /// URL.
        url: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Non-success status (e.g. 503 "No leader elected").
    #[error("mesos master {url}: HTTP {status}: {body}")]
    Status {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body text (truncated).
        body: String,
    },
    /// Unparseable state.
    #[error("mesos master {url}: unexpected state body")]
    Decode {
        /// URL.
        url: String,
        /// Parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The production Mesos master client. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct MesosClient {
    http: reqwest::Client,
    url: String,
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for MesosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesosClient")
            .field("url", &self.url)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl MesosClient {
    /// A client for the master at `url` (e.g. `http://mesos-master:5050`).
    pub fn new(url: &str, timeout: Duration) -> Self {
        let http = crate::observed::http::client(timeout, 3);
        Self {
            http,
            url: url.trim_end_matches('/').to_string(),
            credentials: None,
        }
    }

    /// Sends HTTP basic auth (`user`, `password`) with every request (masters started with
    /// `--authenticate_http_readonly`).
    pub fn with_credentials(mut self, credentials: Option<(String, String)>) -> Self {
        self.credentials = credentials;
        self
    }
}

impl MesosClient {
    async fn get(&self, path: &str) -> Result<(String, bytes::Bytes), MesosError> {
        let url = format!("{}{path}", self.url);
        let mut req = self.http.get(&url);
        if let Some((user, pass)) = &self.credentials {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().await.map_err(|source| MesosError::Request {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|source| MesosError::Request {
            url: url.clone(),
            source,
        })?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(MesosError::Status {
                url,
                status: status.as_u16(),
                body,
            });
        }
        Ok((url, bytes))
    }
}

impl MesosApi for MesosClient {
    async fn slaves(&self) -> Result<Vec<MesosSlave>, MesosError> {
        let (url, bytes) = self.get("/master/slaves").await?;
        let slaves: dto::Slaves =
            serde_json::from_slice(&bytes).map_err(|source| MesosError::Decode { url, source })?;
        Ok(slaves.into())
    }

    async fn state(&self) -> Result<MesosState, MesosError> {
        let (url, bytes) = self.get("/master/state").await?;
        let state: dto::State =
            serde_json::from_slice(&bytes).map_err(|source| MesosError::Decode { url, source })?;
        Ok(state.into())
    }
}
