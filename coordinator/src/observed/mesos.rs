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
    /// A success body larger than the client accepts (not read further).
    #[error("mesos master {url}: response body larger than {limit} bytes")]
    TooLarge {
        /// URL.
        url: String,
        /// The limit.
        limit: u64,
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

/// The largest state body accepted: twenty times that of 50,000 tasks.
const MAX_STATE_BYTES: u64 = 1 << 30;

/// The most of an error body read (it is only shown, truncated further).
const ERROR_BODY_LIMIT: usize = 4096;

impl MesosClient {
    /// Sends `GET path` and decodes its success body while it arrives (see
    /// [`crate::observed::streamed`]); any other status is an error with the start of its body.
    async fn get<T>(&self, path: &str) -> Result<T, MesosError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        use crate::observed::streamed::{self, StreamedError};
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
        if !status.is_success() {
            let body = streamed::prefix(resp, ERROR_BODY_LIMIT).await;
            let body = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(MesosError::Status {
                url,
                status: status.as_u16(),
                body,
            });
        }
        match streamed::decode(resp, MAX_STATE_BYTES).await {
            Ok(value) => Ok(value),
            Err(StreamedError::Request(source)) => Err(MesosError::Request { url, source }),
            Err(StreamedError::TooLarge) => Err(MesosError::TooLarge {
                url,
                limit: MAX_STATE_BYTES,
            }),
            Err(StreamedError::Decode(source)) => Err(MesosError::Decode { url, source }),
        }
    }
}

impl MesosApi for MesosClient {
    async fn slaves(&self) -> Result<Vec<MesosSlave>, MesosError> {
        let slaves: dto::Slaves = self.get("/master/slaves").await?;
        Ok(slaves.into())
    }

    async fn state(&self) -> Result<MesosState, MesosError> {
        let state: dto::State = self.get("/master/state").await?;
        Ok(state.into())
    }
}
