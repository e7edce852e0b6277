//! Drain methods with state outside Galley (spec §3.8): hacheck on each task's host. A task is
//! taken out of the load balancer with a "down" spool, and is safe to kill once it has been down
//! for `delay` seconds. The state lives in hacheck, so a bounce survives coordinator restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use galley_common::observed::ObservedTask;

use crate::plan::DrainState;
pub use crate::plan::HacheckParams;

/// A failed hacheck call.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// The task has no host port to name its spool by.
    #[error("task {task} has no port; hacheck spools are per port")]
    NoPort {
        /// Task id.
        task: String,
    },
    /// No HTTP answer.
    #[error("hacheck {url}: no response")]
    Request {
        /// URL.
        url: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A non-200 answer whose body is not a spool status.
    #[error("hacheck {url}: unexpected answer {status}: {body}")]
    Unexpected {
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
}

/// A hacheck client.
#[derive(Debug, Clone)]
pub struct Hacheck {
    http: reqwest::Client,
}

/// A spool as hacheck reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spool {
    /// `up`, `down`, ...
    pub state: String,
    /// Epoch seconds since when, if given.
    pub since: Option<f64>,
}

impl Hacheck {
    /// A client with a per-request `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let http = crate::observed::http::client(timeout, 10);
        Self { http }
    }

    fn url(task: &ObservedTask, p: &HacheckParams) -> Result<String, DrainError> {
        let port = task.ports.first().ok_or_else(|| DrainError::NoPort {
            task: task.id.clone(),
        })?;
        Ok(format!(
            "http://{}:{}/spool/{}/{port}/status",
            task.host, p.port, p.spool
        ))
    }

    /// GET the task's spool: 200 means up; otherwise hacheck's "Service X in S state ..." text.
    pub async fn spool(&self, task: &ObservedTask, p: &HacheckParams) -> Result<Spool, DrainError> {
        let url = Self::url(task, p)?;
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| DrainError::Request {
                url: url.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(Spool {
                state: "up".into(),
                since: None,
            });
        }
        let body = resp.text().await.unwrap_or_default();
        parse_spool(&body).ok_or(DrainError::Unexpected { url, status, body })
    }

    /// Drain state at `now`: draining unless up; safe once down for `delay`.
    pub async fn state(
        &self,
        task: &ObservedTask,
        p: &HacheckParams,
        now: DateTime<Utc>,
    ) -> Result<DrainState, DrainError> {
        let spool = self.spool(task, p).await?;
        let now_s = now.timestamp_millis() as f64 / 1000.0;
        Ok(DrainState {
            draining: spool.state != "up",
            safe_to_kill: spool.state == "down" && spool.since.unwrap_or(0.0) < now_s - p.delay,
        })
    }

    /// POSTs `status=down` with an expiration.
    pub async fn drain(
        &self,
        task: &ObservedTask,
        p: &HacheckParams,
        now: DateTime<Utc>,
    ) -> Result<(), DrainError> {
        let expiration = now.timestamp_millis() as f64 / 1000.0 + p.expiration;
        self.post(
            task,
            p,
            &[
                ("status", "down".to_string()),
                ("expiration", format!("{expiration}")),
                ("reason", "Drained by Paasta".into()),
            ],
        )
        .await
    }

    /// POSTs `status=up`.
    pub async fn stop_draining(
        &self,
        task: &ObservedTask,
        p: &HacheckParams,
    ) -> Result<(), DrainError> {
        self.post(
            task,
            p,
            &[
                ("status", "up".to_string()),
                ("reason", "Undrained by Paasta".into()),
            ],
        )
        .await
    }

    async fn post(
        &self,
        task: &ObservedTask,
        p: &HacheckParams,
        form: &[(&str, String)],
    ) -> Result<(), DrainError> {
        let url = Self::url(task, p)?;
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let resp = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|source| DrainError::Request {
                url: url.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(DrainError::Unexpected {
                url,
                status,
                body: resp.text().await.unwrap_or_default(),
            })
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses `Service <name> in <state> state[ since <t>][ until <t>][: <reason>]`.
pub fn parse_spool(body: &str) -> Option<Spool> {
    let rest = body.trim().strip_prefix("Service ")?;
    let in_at = rest.find(" in ")?;
    let after = &rest[in_at + 4..];
    let state_end = after.find(" state")?;
    let state = after[..state_end].to_string();
    let tail = &after[state_end + " state".len()..];
    let since = tail
        .strip_prefix(" since ")
        .and_then(|t| t.split([' ', ':']).next())
        .and_then(|n| n.parse().ok());
    Some(Spool { state, since })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_texts_parse() {
        assert_eq!(
            parse_spool(
                "Service web.main in down state since 1480000000.5 until 1480001200.0: Drained by Paasta"
            ),
            Some(Spool {
                state: "down".into(),
                since: Some(1_480_000_000.5)
            })
        );
        assert_eq!(
            parse_spool("Service web.main in down state"),
            Some(Spool {
                state: "down".into(),
                since: None
            })
        );
        assert_eq!(
            parse_spool("Service x in up state since 12: ok"),
            Some(Spool {
                state: "up".into(),
                since: Some(12.0)
            })
        );
        assert_eq!(parse_spool("<html>error</html>"), None);
        assert_eq!(urlencode("Drained by Paasta"), "Drained+by+Paasta");
    }
}
