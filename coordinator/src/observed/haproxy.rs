//! Synapse's haproxy stats on a slave (`http://<host>:<synapse_port>/;csv;norefresh`), read for
//! the smartstack replication path (spec §5.2) with a 1 s timeout, as PaaSTA did. The URL comes
//! from the system config's `synapse_haproxy_url_format` and `synapse_port`.

use std::collections::BTreeMap;
use std::time::Duration;

use galley_common::merge::format_placeholders;
use galley_common::replication::{HaproxyCsvError, parse_csv, up_backends};
use serde_json::{Map, Value};

/// PaaSTA's default `synapse_port`.
pub const DEFAULT_SYNAPSE_PORT: u16 = 3212;
/// PaaSTA's default `synapse_haproxy_url_format`.
pub const DEFAULT_URL_FORMAT: &str = "http://{host:s}:{port:d}/;csv;norefresh";
/// PaaSTA's timeout for one stats read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where synapse's haproxy answers on every slave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxySettings {
    /// `synapse_port`.
    pub port: u16,
    /// `synapse_haproxy_url_format` (`{host}` and `{port}` placeholders).
    pub url_format: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for HaproxySettings {
    fn default() -> Self {
        Self {
            port: DEFAULT_SYNAPSE_PORT,
            url_format: DEFAULT_URL_FORMAT.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl HaproxySettings {
    /// `synapse_port` and `synapse_haproxy_url_format` from the merged system config, with
    /// PaaSTA's defaults for absent (or mistyped) keys.
    pub fn from_system_config(raw: &Map<String, Value>) -> Self {
        let mut out = Self::default();
        if let Some(port) = raw
            .get("synapse_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        {
            out.port = port;
        }
        if let Some(format) = raw
            .get("synapse_haproxy_url_format")
            .and_then(Value::as_str)
        {
            out.url_format = format.to_owned();
        }
        out
    }

    /// The stats URL of `host`. `{port:d}` is accepted as Python's `str.format` does.
    pub fn url(&self, host: &str) -> Result<String, HaproxyError> {
        let port = self.port.to_string();
        let template = self.url_format.replace("{port:d}", "{port}");
        format_placeholders(&template, &[("host", host), ("port", &port)]).map_err(|message| {
            HaproxyError::UrlFormat {
                format: self.url_format.clone(),
                message,
            }
        })
    }
}

/// A failed stats read.
#[derive(Debug, thiserror::Error)]
pub enum HaproxyError {
    /// `synapse_haproxy_url_format` is not a usable template.
    #[error("synapse_haproxy_url_format {format:?}: {message}")]
    UrlFormat {
        /// The template.
        format: String,
        /// What is wrong.
        message: String,
    },
    /// No answer (refused, reset, timeout).
    #[error("haproxy stats {url}: no response")]
    Request {
        /// URL.
        url: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Non-success status.
    #[error("haproxy stats {url}: HTTP {status}")]
    Status {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// Not haproxy's CSV.
    #[error("haproxy stats {url}: unexpected body")]
    Csv {
        /// URL.
        url: String,
        /// Why.
        #[source]
        source: HaproxyCsvError,
    },
}

/// Reads UP backends from synapse's haproxy on a slave.
#[derive(Debug, Clone)]
pub struct HaproxyClient {
    http: reqwest::Client,
    settings: HaproxySettings,
}

impl HaproxyClient {
    /// A client for `settings`.
    pub fn new(settings: HaproxySettings) -> Self {
        let http = crate::observed::http::client(settings.timeout, 10);
        Self { http, settings }
    }

    /// UP backends per proxy name (`service.namespace`) on `host`'s haproxy.
    pub async fn up_backends(&self, host: &str) -> Result<BTreeMap<String, u64>, HaproxyError> {
        let url = self.settings.url(host)?;
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| HaproxyError::Request {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(HaproxyError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let text = resp.text().await.map_err(|source| HaproxyError::Request {
            url: url.clone(),
            source,
        })?;
        let rows = parse_csv(&text).map_err(|source| HaproxyError::Csv { url, source })?;
        Ok(up_backends(&rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_from_defaults_and_system_config() {
        let default = HaproxySettings::default();
        assert_eq!(
            default.url("slave1").expect("url"),
            "http://slave1:3212/;csv;norefresh"
        );
        let raw = serde_json::json!({
            "synapse_port": 4000,
            "synapse_haproxy_url_format": "http://{host}:{port}/stats;csv",
        });
        let custom = HaproxySettings::from_system_config(raw.as_object().expect("map"));
        assert_eq!(custom.url("h").expect("url"), "http://h:4000/stats;csv");
        let bad = HaproxySettings {
            url_format: "http://{hostname}/".into(),
            ..HaproxySettings::default()
        };
        assert!(matches!(bad.url("h"), Err(HaproxyError::UrlFormat { .. })));
    }
}
