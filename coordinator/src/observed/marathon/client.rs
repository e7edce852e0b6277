//! [`MarathonApi`] over HTTP with reqwest: basic auth, per-request timeout, Marathon's error
//! bodies decoded into [`MarathonError`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use galley_common::observed::{AppSnapshot, ObservedApp};
use galley_common::replication::QueueSignal;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::dto::{AppOne, ErrorBody, QueueList};
use super::events::{MarathonEvent, SseError, SseParser, event};
use super::{MarathonApi, MarathonError};

/// Where and how to reach Marathon. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct MarathonConfig {
    /// Base URL, e.g. `http://marathon.example.com:8080`.
    pub url: String,
    /// Basic-auth credentials, if Marathon wants them.
    pub credentials: Option<(String, String)>,
    /// Limit for each request.
    pub timeout: Duration,
}

impl std::fmt::Debug for MarathonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarathonConfig")
            .field("url", &self.url)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The production Marathon client.
#[derive(Debug, Clone)]
pub struct MarathonClient {
    http: reqwest::Client,
    /// For the event stream: no request timeout.
    streaming: reqwest::Client,
    config: MarathonConfig,
}

impl MarathonClient {
    /// A client for `config` (installs the process's rustls crypto provider if needed).
    pub fn new(config: MarathonConfig) -> Self {
        let http = crate::observed::http::client(config.timeout, 10);
        let streaming = crate::observed::http::streaming_client(config.timeout);
        Self {
            http,
            streaming,
            config,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url.trim_end_matches('/'))
    }

    /// Sends a request and returns the response of a success status (its body unread); any
    /// other status is read and decoded into the error.
    async fn start(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, MarathonError> {
        let url = self.url(path);
        let mut req = self.http.request(method, &url).query(query);
        if let Some((user, pass)) = &self.config.credentials {
            req = req.basic_auth(user, Some(pass));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let no_response = |source| MarathonError::Request {
            op,
            url: url.clone(),
            source,
        };
        let resp = req.send().await.map_err(no_response)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = crate::observed::streamed::prefix(resp, ERROR_BODY_LIMIT).await;
        Err(error_from(op, url, status, &body))
    }

    async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, MarathonError> {
        let resp = self.start(op, method, path, query, body).await?;
        resp.bytes().await.map_err(|source| MarathonError::Request {
            op,
            url: self.url(path),
            source,
        })
    }
}

/// The most of an error body read: enough for a 409's list of deployments.
const ERROR_BODY_LIMIT: usize = 1 << 20;

fn error_from(op: &'static str, url: String, status: StatusCode, body: &[u8]) -> MarathonError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if status == StatusCode::CONFLICT
        && let Some(deployments) = parsed.as_ref().and_then(|b| b.deployments.as_ref())
    {
        return MarathonError::Locked {
            op,
            url,
            deployments: deployments.iter().map(|d| d.id.clone()).collect(),
        };
    }
    let message = parsed
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    MarathonError::Status {
        op,
        url,
        status: status.as_u16(),
        message,
    }
}

/// The parsed events of the response to `req`, until the connection ends or breaks.
/// How long the event stream may be silent before it counts as dead: Jetty sends a heartbeat
/// every 10 s, so three missed heartbeats.
const EVENTS_SILENT_LIMIT: Duration = Duration::from_secs(30);

fn event_stream(
    req: reqwest::RequestBuilder,
    url: String,
) -> BoxStream<'static, Result<MarathonEvent, MarathonError>> {
    struct State {
        resp: Option<reqwest::Response>,
        req: Option<reqwest::RequestBuilder>,
        parser: SseParser,
        ready: std::collections::VecDeque<MarathonEvent>,
        url: String,
        done: bool,
    }
    let state = State {
        resp: None,
        req: Some(req),
        parser: SseParser::default(),
        ready: Default::default(),
        url,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.ready.pop_front() {
                return Some((Ok(ev), st));
            }
            if st.done {
                return None;
            }
            if let Some(req) = st.req.take() {
                let op = "events";
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => st.resp = Some(resp),
                    Ok(resp) => {
                        st.done = true;
                        let status = resp.status();
                        let body = resp.bytes().await.unwrap_or_default();
                        let url = st.url.clone();
                        return Some((Err(error_from(op, url, status, &body)), st));
                    }
                    Err(source) => {
                        st.done = true;
                        let url = st.url.clone();
                        return Some((Err(MarathonError::Request { op, url, source }), st));
                    }
                }
            }
            let resp = st.resp.as_mut()?;
            let Ok(chunk) = tokio::time::timeout(EVENTS_SILENT_LIMIT, resp.chunk()).await else {
                st.done = true;
                let url = st.url.clone();
                let source = SseError::Silent {
                    seconds: EVENTS_SILENT_LIMIT.as_secs(),
                };
                return Some((Err(MarathonError::Stream { url, source }), st));
            };
            match chunk {
                Ok(Some(chunk)) => match st.parser.feed(&chunk) {
                    Ok(events) => st
                        .ready
                        .extend(events.into_iter().map(|(kind, data)| event(kind, &data))),
                    Err(source) => {
                        st.done = true;
                        let url = st.url.clone();
                        return Some((Err(MarathonError::Stream { url, source }), st));
                    }
                },
                Ok(None) => return None,
                Err(source) => {
                    st.done = true;
                    let url = st.url.clone();
                    return Some((
                        Err(MarathonError::Request {
                            op: "events",
                            url,
                            source,
                        }),
                        st,
                    ));
                }
            }
        }
    })
    .boxed()
}

fn app_path(app_id: &str) -> String {
    format!("/v2/apps/{}", app_id.trim_start_matches('/'))
}

impl MarathonApi for MarathonClient {
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        let apps = self.list_apps_reusing(AppSnapshot::default()).await?;
        Ok(apps.into_iter().map(Arc::unwrap_or_clone).collect())
    }

    async fn list_apps_reusing(
        &self,
        held: AppSnapshot,
    ) -> Result<Vec<Arc<ObservedApp>>, MarathonError> {
        let query = [("embed", "apps.tasks"), ("embed", "apps.lastTaskFailure")];
        let resp = self
            .start("list apps", Method::GET, "/v2/apps", &query, None)
            .await?;
        let url = self.url("/v2/apps");
        let limit = super::streamed::MAX_LIST_BYTES;
        super::streamed::decode_app_list("list apps", url, resp, limit, held).await
    }

    async fn get_app(&self, app_id: &str) -> Result<Option<ObservedApp>, MarathonError> {
        let path = app_path(app_id);
        let query = [("embed", "app.tasks"), ("embed", "app.lastTaskFailure")];
        let body = match self.send("get app", Method::GET, &path, &query, None).await {
            Ok(body) => body,
            Err(MarathonError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let one: AppOne =
            serde_json::from_slice(&body).map_err(|source| MarathonError::Decode {
                op: "get app",
                url: self.url(&path),
                source,
            })?;
        Ok(Some(ObservedApp::from(one.app)))
    }

    fn events(&self) -> BoxStream<'static, Result<MarathonEvent, MarathonError>> {
        let url = self.url("/v2/events");
        let mut req = self
            .streaming
            .get(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some((user, pass)) = &self.config.credentials {
            req = req.basic_auth(user, Some(pass));
        }
        event_stream(req, url)
    }

    async fn create_app(&self, app: &serde_json::Value) -> Result<(), MarathonError> {
        self.send("create app", Method::POST, "/v2/apps", &[], Some(app))
            .await
            .map(drop)
    }

    async fn scale_app(
        &self,
        app_id: &str,
        instances: u32,
        force: bool,
    ) -> Result<(), MarathonError> {
        let query = [("force", if force { "true" } else { "false" })];
        let body = json!({ "instances": instances });
        self.send(
            "scale app",
            Method::PUT,
            &app_path(app_id),
            &query,
            Some(&body),
        )
        .await
        .map(drop)
    }

    async fn kill_tasks(
        &self,
        task_ids: &[String],
        scale: bool,
        force: bool,
    ) -> Result<(), MarathonError> {
        let query = [
            ("scale", if scale { "true" } else { "false" }),
            ("force", if force { "true" } else { "false" }),
        ];
        let body = json!({ "ids": task_ids });
        self.send(
            "kill tasks",
            Method::POST,
            "/v2/tasks/delete",
            &query,
            Some(&body),
        )
        .await
        .map(drop)
    }

    async fn delete_app(&self, app_id: &str) -> Result<(), MarathonError> {
        self.send(
            "delete app",
            Method::DELETE,
            &app_path(app_id),
            &[("force", "true")],
            None,
        )
        .await
        .map(drop)
    }

    async fn queue(&self) -> Result<Vec<QueueSignal>, MarathonError> {
        let body = self
            .send("queue", Method::GET, "/v2/queue", &[], None)
            .await?;
        let list: QueueList =
            serde_json::from_slice(&body).map_err(|source| MarathonError::Decode {
                op: "queue",
                url: self.url("/v2/queue"),
                source,
            })?;
        Ok(list
            .queue
            .into_iter()
            .filter_map(|item| item.into_signal())
            .collect())
    }
}
