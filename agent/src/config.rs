//! The agent's configuration file (YAML, strict: unknown keys are errors). Errors name the file.
//!
//! ```yaml
//! coordinator_url: http://galley-coordinator:7070
//! docker_socket: /var/run/docker.sock
//! ```
//! Every other key has a default (see [`AgentConfig`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `galley-agent --config FILE`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The coordinator's gRPC endpoint, e.g. `https://master1:7070`.
    #[serde(default)]
    pub coordinator_url: Option<String>,
    /// More coordinators (one per Mesos master): the agent keeps a session to each of them
    /// and of `coordinator_url`, so whichever is elected leader has a fresh inventory.
    #[serde(default)]
    pub coordinator_urls: Vec<String>,
    /// Docker's unix socket.
    #[serde(default = "default_docker_socket")]
    pub docker_socket: String,
    /// This slave's hostname as Mesos reports it; default: the kernel's hostname.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Mesos slave id, when known.
    #[serde(default)]
    pub mesos_slave_id: Option<String>,
    /// Seconds between heartbeats.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_secs: u64,
    /// Seconds between full Docker re-lists (events keep the inventory current in between).
    #[serde(default = "default_relist")]
    pub relist_interval_secs: u64,
    /// Containers younger than this many seconds are never reaped.
    #[serde(default = "default_min_age")]
    pub min_age_secs: u64,
    /// The agent's own reap budget per minute.
    #[serde(default = "default_max_reaps")]
    pub max_reaps_per_minute: u32,
    /// Reconnect backoff floor, milliseconds.
    #[serde(default = "default_backoff_min")]
    pub reconnect_min_ms: u64,
    /// Reconnect backoff ceiling, milliseconds.
    #[serde(default = "default_backoff_max")]
    pub reconnect_max_ms: u64,
    /// Timeout of each Docker request, seconds.
    #[serde(default = "default_docker_timeout")]
    pub docker_timeout_secs: u64,
    /// `ip:port` to serve `/metrics` and `/healthz` on; unset: not served.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Mutual TLS to the coordinator (required with an `https://` coordinator_url).
    #[serde(default)]
    pub tls: Option<AgentTls>,
}

/// The agent's TLS files (PEM), re-read on every connection, so rotated files take effect
/// at the next reconnect.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTls {
    /// CA the coordinator's certificate must chain to; no other server is trusted.
    pub ca_file: PathBuf,
    /// This host's certificate; its DNS SAN must be this agent's hostname.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
}

fn default_docker_socket() -> String {
    "/var/run/docker.sock".to_owned()
}
fn default_heartbeat() -> u64 {
    10
}
fn default_relist() -> u64 {
    300
}
fn default_min_age() -> u64 {
    3600
}
fn default_max_reaps() -> u32 {
    10
}
fn default_backoff_min() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    30_000
}
fn default_docker_timeout() -> u64 {
    30
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable.
    #[error("agent config {path}: cannot read")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        err: std::io::Error,
    },
    /// Not YAML.
    #[error("agent config {path}: invalid YAML")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        err: galley_common::yaml::YamlError,
    },
    /// YAML, but not an agent config (unknown key, wrong type, missing key).
    #[error("agent config {path}: {msg}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// Serde's message.
        msg: String,
    },
    /// Well formed, but a value is out of range.
    #[error("agent config {path}: {key} {msg}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        msg: &'static str,
    },
}

impl AgentConfig {
    /// Reads and validates `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Io {
            path: path.to_owned(),
            err,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` (named `path` in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let value = galley_common::yaml::load(text).map_err(|err| ConfigError::Yaml {
            path: path.to_owned(),
            err,
        })?;
        let cfg: Self = serde_json::from_value(value).map_err(|e| ConfigError::Schema {
            path: path.to_owned(),
            msg: e.to_string(),
        })?;
        let bad = |key, msg| ConfigError::Value {
            path: path.to_owned(),
            key,
            msg,
        };
        let urls = cfg.coordinators();
        if urls.is_empty() {
            return Err(bad(
                "coordinator_url",
                "is required (or coordinator_urls with at least one URL)",
            ));
        }
        let https = urls.iter().filter(|u| u.starts_with("https://")).count();
        if https > 0 && cfg.tls.is_none() {
            return Err(bad("tls", "is required with https:// coordinator URLs"));
        }
        if cfg.tls.is_some() && https < urls.len() {
            return Err(bad(
                "coordinator_url",
                "every coordinator URL must be https:// when tls is set",
            ));
        }
        if cfg.heartbeat_interval_secs == 0 {
            return Err(bad("heartbeat_interval_secs", "must be positive"));
        }
        if cfg.relist_interval_secs == 0 {
            return Err(bad("relist_interval_secs", "must be positive"));
        }
        if cfg.reconnect_min_ms == 0 || cfg.reconnect_min_ms > cfg.reconnect_max_ms {
            return Err(bad(
                "reconnect_min_ms",
                "must be positive and <= reconnect_max_ms",
            ));
        }
        if let Some(addr) = &cfg.metrics_listen
            && addr.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(bad("metrics_listen", "must be ip:port, e.g. 0.0.0.0:9101"));
        }
        Ok(cfg)
    }

    /// Every coordinator to keep a session with (`coordinator_url` first, no duplicates).
    pub fn coordinators(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for u in self.coordinator_url.iter().chain(&self.coordinator_urls) {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
        urls
    }

    /// The hostname to announce: configured, else the kernel's.
    pub fn effective_hostname(&self) -> String {
        self.hostname.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        })
    }

    /// Heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_secs)
    }
}
