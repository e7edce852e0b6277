//! The deploy log (`paasta logs`, spec §7): one JSON object per line with sorted keys
//! `cluster, component, instance, level, message, service, timestamp`, byte-compatible with
//! PaaSTA's `format_log_line` (Python `json.dumps(..., sort_keys=True)`, timestamp =
//! `datetime.utcnow().isoformat()`, ANSI escapes stripped from the message).
//!
//! [`DeployLog`] appends each line to a file (PaaSTA's `file` writer: the path may use
//! `{service}`, `{component}`, `{level}`, `{cluster}`, `{instance}`; one `O_APPEND` write per
//! line), broadcasts every event (for the WatchEvents stream) and keeps a bounded ring of
//! recent events.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use galley_common::pyjson;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A deploy log line's `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Shown to users (`paasta logs` default).
    Event,
    /// Detail.
    Debug,
}

/// A deploy log line's `component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// `build`.
    Build,
    /// `deploy`.
    Deploy,
    /// `monitoring`.
    Monitoring,
    /// `marathon`.
    Marathon,
    /// `chronos`.
    Chronos,
}

/// A deploy log problem.
#[derive(Debug, thiserror::Error)]
pub enum DeployLogError {
    /// `level` is neither `event` nor `debug`.
    #[error("unknown deploy log level {0:?} (expected event or debug)")]
    UnknownLevel(String),
    /// `component` is not one PaaSTA knows.
    #[error(
        "unknown deploy log component {0:?} (expected build, deploy, monitoring, marathon or chronos)"
    )]
    UnknownComponent(String),
    /// The line is not a deploy log object.
    #[error("not a deploy log line: {reason}")]
    BadLine {
        /// What is wrong.
        reason: String,
    },
    /// Appending to the file failed.
    #[error("append to deploy log {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
}

macro_rules! names {
    ($ty:ident, $err:ident, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl FromStr for $ty {
            type Err = DeployLogError;
            fn from_str(s: &str) -> Result<Self, DeployLogError> {
                match s { $($name => Ok($ty::$variant),)+ other => Err(DeployLogError::$err(other.into())) }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

names!(Level, UnknownLevel, Event => "event", Debug => "debug");
names!(Component, UnknownComponent, Build => "build", Deploy => "deploy",
    Monitoring => "monitoring", Marathon => "marathon", Chronos => "chronos");

/// PaaSTA's default for an absent cluster or instance.
pub const NOT_APPLICABLE: &str = "N/A";

/// What a `N/A` field (a cluster-wide event: a denied call, a freeze, a reaper mode switch)
/// becomes in the deploy log's file name: with `/var/log/galley/{service}.log` cluster-wide
/// events go to `/var/log/galley/_cluster.log`. Service names never start with `_`.
pub const CLUSTER_WIDE_FILE_NAME: &str = "_cluster";

/// One deploy log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployEvent {
    /// UTC, naive (no zone on the wire).
    pub timestamp: NaiveDateTime,
    /// Level.
    pub level: Level,
    /// Cluster, or `N/A`.
    pub cluster: String,
    /// Service.
    pub service: String,
    /// Instance, or `N/A`.
    pub instance: String,
    /// Component.
    pub component: Component,
    /// Message, ANSI escapes removed.
    pub message: String,
}

impl DeployEvent {
    /// An event at `at`; the message's ANSI escapes are stripped.
    pub fn new(
        at: DateTime<Utc>,
        level: Level,
        component: Component,
        cluster: &str,
        service: &str,
        instance: &str,
        message: &str,
    ) -> Self {
        Self {
            timestamp: at.naive_utc(),
            level,
            cluster: cluster.to_string(),
            service: service.to_string(),
            instance: instance.to_string(),
            component,
            message: strip_ansi(message),
        }
    }

    /// The line, without its newline: sorted keys, Python's separators and `ensure_ascii`.
    pub fn to_line(&self) -> String {
        let value = json!({
            "cluster": self.cluster,
            "component": self.component.as_str(),
            "instance": self.instance,
            "level": self.level.as_str(),
            "message": self.message,
            "service": self.service,
            "timestamp": isoformat(self.timestamp),
        });
        pyjson::dumps(&value, true)
    }

    /// Parses a line PaaSTA or Galley wrote; unknown levels and components are rejected.
    pub fn from_line(line: &str) -> Result<Self, DeployLogError> {
        let bad = |reason: String| DeployLogError::BadLine { reason };
        let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let field = |k: &str| -> Result<String, DeployLogError> {
            match v.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) if k == "cluster" || k == "instance" => {
                    Ok(NOT_APPLICABLE.into())
                }
                _ => Err(bad(format!("`{k}` must be a string"))),
            }
        };
        let ts = field("timestamp")?;
        let timestamp = NaiveDateTime::parse_from_str(&ts, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|e| bad(format!("timestamp {ts:?}: {e}")))?;
        Ok(Self {
            timestamp,
            level: field("level")?.parse()?,
            cluster: field("cluster")?,
            service: field("service")?,
            instance: field("instance")?,
            component: field("component")?.parse()?,
            message: field("message")?,
        })
    }
}

/// `datetime.isoformat()` of a naive datetime: microseconds only when non-zero.
fn isoformat(t: NaiveDateTime) -> String {
    let micros = t.nanosecond() / 1000 % 1_000_000;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// PaaSTA's `remove_ansi_escape_sequences`: drops `(\x9B|\x1B\[)[0-?]*[ -/]*[@-~]`.
pub fn strip_ansi(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let intro = match (chars[i], chars.get(i + 1)) {
            ('\u{9b}', _) => 1,
            ('\u{1b}', Some('[')) => 2,
            _ => 0,
        };
        if intro > 0 {
            let mut j = i + intro;
            while j < chars.len() && ('0'..='?').contains(&chars[j]) {
                j += 1;
            }
            while j < chars.len() && (' '..='/').contains(&chars[j]) {
                j += 1;
            }
            if j < chars.len() && ('@'..='~').contains(&chars[j]) {
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Where and how much the deploy log keeps.
#[derive(Debug, Clone)]
pub struct DeployLogConfig {
    /// File path format (`{service}` etc.), or `None` for no file (PaaSTA's `null` writer).
    pub path_format: Option<String>,
    /// Events kept for "recent events" queries.
    pub recent_capacity: usize,
    /// Broadcast buffer per subscriber; slower subscribers see `Lagged`.
    pub broadcast_capacity: usize,
}

/// The deploy log: file, broadcast and recent ring.
#[derive(Debug)]
pub struct DeployLog {
    config: DeployLogConfig,
    tx: broadcast::Sender<DeployEvent>,
    recent: Mutex<VecDeque<DeployEvent>>,
}

impl DeployLog {
    /// A log with `config`.
    pub fn new(config: DeployLogConfig) -> Self {
        let (tx, _) = broadcast::channel(config.broadcast_capacity.max(1));
        Self {
            recent: Mutex::new(VecDeque::with_capacity(config.recent_capacity)),
            config,
            tx,
        }
    }

    /// The file `event` goes to, if any. Substituted values are made path-safe: `N/A`
    /// becomes [`CLUSTER_WIDE_FILE_NAME`], and `/`, NUL or a leading `.` never reach the path.
    pub fn path_for(&self, event: &DeployEvent) -> Option<PathBuf> {
        let format = self.config.path_format.as_ref()?;
        let path = format
            .replace("{service}", &path_part(&event.service))
            .replace("{component}", event.component.as_str())
            .replace("{level}", event.level.as_str())
            .replace("{cluster}", &path_part(&event.cluster))
            .replace("{instance}", &path_part(&event.instance));
        Some(PathBuf::from(path))
    }

    /// Records `event`: broadcasts it, keeps it in the ring, and appends its line to the file
    /// (one small blocking `O_APPEND` write). A write failure is returned after the event was
    /// broadcast and kept.
    pub fn log(&self, event: DeployEvent) -> Result<(), DeployLogError> {
        tracing::debug!(
            service = %event.service, instance = %event.instance,
            component = %event.component, level = %event.level,
            "deploy log: {}", event.message.escape_debug()
        );
        {
            let mut recent = self.recent.lock().expect("deploy log lock");
            if recent.len() == self.config.recent_capacity {
                recent.pop_front();
            }
            if self.config.recent_capacity > 0 {
                recent.push_back(event.clone());
            }
        }
        let path = self.path_for(&event);
        let line = format!("{}\n", event.to_line());
        // No subscribers is fine.
        let _ = self.tx.send(event);
        match path {
            None => Ok(()),
            Some(path) => append_line(&path, line.as_bytes())
                .map_err(|source| DeployLogError::Write { path, source }),
        }
    }

    /// Every event from now on (for WatchEvents; filter with [`matches_service`]).
    pub fn subscribe(&self) -> broadcast::Receiver<DeployEvent> {
        self.tx.subscribe()
    }

    /// The most recent events (oldest first), optionally of one service, at most `limit`.
    pub fn recent(&self, service: Option<&str>, limit: usize) -> Vec<DeployEvent> {
        let recent = self.recent.lock().expect("deploy log lock");
        let mut out: Vec<DeployEvent> = recent
            .iter()
            .rev()
            .filter(|e| matches_service(e, service))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// Whether `event` passes a service filter (`None` = all).
pub fn matches_service(event: &DeployEvent, service: Option<&str>) -> bool {
    service.is_none_or(|s| event.service == s)
}

/// One substituted value of the file name: `N/A` is the cluster-wide file; separators, NUL
/// and a leading dot are replaced so a value can never leave the configured directory.
fn path_part(value: &str) -> String {
    if value == NOT_APPLICABLE || value.is_empty() {
        return CLUSTER_WIDE_FILE_NAME.to_owned();
    }
    let mut out: String = value
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    out
}

/// Appends `line` to `path`, creating the file and, when missing, its directory (a layout
/// such as `/var/log/galley/{service}/deploy.log` gets one directory per service).
fn append_line(path: &std::path::Path, line: &[u8]) -> std::io::Result<()> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    let written = file.write(line)?;
    if written != line.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short append: {written} of {} bytes", line.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
