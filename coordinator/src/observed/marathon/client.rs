//! [`MarathonApi`] over HTTP with reqwest: basic auth, per-request timeout, Marathon's error
//! bodies decoded into [`MarathonError`].

use std::time::Duration;

use galley_common::observed::ObservedApp;
use galley_common::replication::QueueSignal;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::dto::{AppList, ErrorBody, QueueList};
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
    config: MarathonConfig,
}

impl MarathonClient {
    /// A client for `config` (installs the process's rustls crypto provider if needed).
    pub fn new(config: MarathonConfig) -> Self {
        let http = crate::observed::http::client(config.timeout, 10);
        Self { http, config }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url.trim_end_matches('/'))
    }

    async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, MarathonError> {
        let url = self.url(path);
        let mut req = self.http.request(method, &url).query(query);
        if let Some((user, pass)) = &self.config.credentials {
            req = req.basic_auth(user, Some(pass));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|source| MarathonError::Request {
            op,
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| MarathonError::Request {
                op,
                url: url.clone(),
                source,
            })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(error_from(op, url, status, &bytes))
    }
}

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

fn app_path(app_id: &str) -> String {
    format!("/v2/apps/{}", app_id.trim_start_matches('/'))
}

impl MarathonApi for MarathonClient {
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        let query = [("embed", "apps.tasks"), ("embed", "apps.lastTaskFailure")];
        let body = self
            .send("list apps", Method::GET, "/v2/apps", &query, None)
            .await?;
        let list: AppList =
            serde_json::from_slice(&body).map_err(|source| MarathonError::Decode {
                op: "list apps",
                url: self.url("/v2/apps"),
                source,
            })?;
        Ok(list.apps.into_iter().map(ObservedApp::from).collect())
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
