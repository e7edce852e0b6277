//! Sensu monitoring settings of a service.instance, resolved as PaaSTA's `monitoring_tools`
//! does (spec §5.3), and the event PaaSTA's `pysensu_yelp.send_event` puts on Sensu's client
//! socket. Pure: the coordinator's `sensu` module does the TCP write.
//!
//! Resolution of a key (`__get_monitoring_config_value`), most specific first:
//! 1. the instance's `monitoring` dict — as PaaSTA's `get_monitoring()` returns it, i.e. the
//!    instance key deep-merged over the service's general `monitoring` (so it already carries
//!    monitoring.yaml's values unless service.yaml has its own `monitoring:` key);
//! 2. monitoring.yaml;
//! 3. service.yaml's `monitoring:` key (the general config's `monitoring`);
//! 4. service.yaml's top-level key;
//! 5. the default (`runbook`/`tip` strings asking to set them, `ticket` false, `project`
//!    null, `realert_every` −1, else null).
//!
//! Events are sent only when a team resolves (non-empty). Each check kind then fixes some keys
//! as the PaaSTA script sending it did ([`CheckKind`]).

use std::fmt;

use serde_json::{Map, Value};

use crate::soa::{ConfigError, InstanceConfig, ServiceSource, yaml_mapping};

mod event;

pub use event::{BadSettingError, SensuEvent, interval_seconds};

/// A Sensu (Nagios) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 2.
    Critical,
    /// 3.
    Unknown,
}

impl Status {
    /// The numeric code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        })
    }
}

/// The runbook PaaSTA's deploy scripts fall back to.
pub const DEFAULT_RUNBOOK: &str = "http://y/paasta-troubleshooting";

/// `monitoring_defaults`.
pub fn monitoring_default(key: &str) -> Value {
    match key {
        "runbook" => Value::from(
            "Please set a `runbook` field in your monitoring.yaml. Like \"y/rb-mesos\". Docs: \
             https://paasta.readthedocs.io/en/latest/yelpsoa_configs.html#monitoring-yaml",
        ),
        "tip" => Value::from(
            "Please set a `tip` field in your monitoring.yaml. Docs: \
             https://paasta.readthedocs.io/en/latest/yelpsoa_configs.html#monitoring-yaml",
        ),
        "ticket" => Value::Bool(false),
        "realert_every" => Value::from(-1),
        _ => Value::Null,
    }
}

/// Which check an event is for; each fixes keys as its PaaSTA script did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// `check_marathon_services_replication.S.I`: `alert_after` 2m unless set, `check_every`
    /// 1m, runbook resolved through the whole chain.
    Replication,
    /// `setup_marathon_job.S.I`: `check_every` 10s, `alert_after` 10m, runbook from the
    /// instance's monitoring or [`DEFAULT_RUNBOOK`].
    SetupMarathonJob,
    /// `paasta_bounce_progress.S.I`: the bounce keepalive, `check_every` 30s, `alert_after`
    /// 2m, `ttl` 1h, runbook [`DEFAULT_RUNBOOK`].
    BounceProgress,
}

impl CheckKind {
    /// All kinds, in the order cleanup sends their OK events.
    pub const ALL: [CheckKind; 3] = [
        CheckKind::Replication,
        CheckKind::SetupMarathonJob,
        CheckKind::BounceProgress,
    ];

    /// Its position in [`CheckKind::ALL`].
    pub const fn index(self) -> usize {
        match self {
            CheckKind::Replication => 0,
            CheckKind::SetupMarathonJob => 1,
            CheckKind::BounceProgress => 2,
        }
    }

    /// The check name for `service.instance` (unformatted job id).
    pub fn check_name(self, service: &str, instance: &str) -> String {
        let prefix = match self {
            CheckKind::Replication => "check_marathon_services_replication",
            CheckKind::SetupMarathonJob => "setup_marathon_job",
            CheckKind::BounceProgress => "paasta_bounce_progress",
        };
        format!("{prefix}.{service}.{instance}")
    }
}

/// The three places a monitoring key can come from (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitoringSources {
    /// The instance's merged `monitoring` dict (`{}` for a removed instance).
    pub overrides: Map<String, Value>,
    /// monitoring.yaml.
    pub monitoring_yaml: Map<String, Value>,
    /// The service's general config (service.yaml over generated keys).
    pub general: Map<String, Value>,
}

impl MonitoringSources {
    /// The sources of an instance: its merged `monitoring` key, the service's monitoring.yaml
    /// (parsed from `source`) and its general config.
    pub fn for_instance(
        config: &InstanceConfig,
        source: &ServiceSource,
        general: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        let overrides = match config.config.get("monitoring") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(config.bad("monitoring", "must be a mapping")),
        };
        Ok(Self {
            overrides,
            monitoring_yaml: monitoring_yaml(source)?,
            general: general.clone(),
        })
    }

    /// The sources of a service with no instance overrides (for an instance that was removed).
    pub fn for_instance_removed(
        source: &ServiceSource,
        general: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            overrides: Map::new(),
            monitoring_yaml: monitoring_yaml(source)?,
            general: general.clone(),
        })
    }

    /// `__get_monitoring_config_value`.
    pub fn value(&self, key: &str) -> Value {
        let mut v = self
            .general
            .get(key)
            .cloned()
            .unwrap_or_else(|| monitoring_default(key));
        if let Some(Value::Object(m)) = self.general.get("monitoring")
            && let Some(x) = m.get(key)
        {
            v = x.clone();
        }
        if let Some(x) = self.monitoring_yaml.get(key) {
            v = x.clone();
        }
        self.overrides.get(key).cloned().unwrap_or(v)
    }

    /// The settings of the removal OKs for an instance of this service in `cluster` (see
    /// [`as_removal`]); `None` when no team resolves.
    pub fn resolve_removal(&self, cluster: &str) -> Option<SensuSettings> {
        self.resolve(CheckKind::Replication, cluster)
            .map(as_removal)
    }

    /// Resolves the settings of a `kind` event in `cluster`; `None` when no team resolves
    /// (PaaSTA then sends nothing).
    pub fn resolve(&self, kind: CheckKind, cluster: &str) -> Option<SensuSettings> {
        let team = match self.value("team") {
            Value::String(s) if !s.is_empty() => s,
            _ => return None,
        };
        let from_overrides = |key: &str, default: &str| {
            self.overrides
                .get(key)
                .cloned()
                .unwrap_or_else(|| Value::from(default))
        };
        let (runbook, alert_after, check_every, ttl) = match kind {
            CheckKind::Replication => (
                self.value("runbook"),
                from_overrides("alert_after", "2m"),
                Value::from("1m"),
                Value::Null,
            ),
            CheckKind::SetupMarathonJob => (
                from_overrides("runbook", DEFAULT_RUNBOOK),
                Value::from("10m"),
                Value::from("10s"),
                Value::Null,
            ),
            CheckKind::BounceProgress => (
                Value::from(DEFAULT_RUNBOOK),
                Value::from("2m"),
                Value::from("30s"),
                Value::from("1h"),
            ),
        };
        Some(SensuSettings {
            team,
            runbook,
            tip: self.value("tip"),
            notification_email: self.value("notification_email"),
            irc_channels: self.value("irc_channels"),
            ticket: self.value("ticket"),
            project: self.value("project"),
            page: self.value("page"),
            alert_after,
            check_every,
            realert_every: self
                .overrides
                .get("realert_every")
                .cloned()
                .unwrap_or_else(|| monitoring_default("realert_every")),
            dependencies: Value::Array(Vec::new()),
            source: format!("paasta-{cluster}"),
            ttl,
        })
    }
}

/// The runbook, interval and ttl keys of a removal OK: what PaaSTA 0.19.9's
/// `cleanup_marathon_jobs` sent through `monitoring_tools.send_event` with no overrides —
/// runbook [`DEFAULT_RUNBOOK`], `alert_after` `5m` (300 s), `check_every` `1m`, `realert_every`
/// the default, `ttl` null. Not the removed check's own settings: a `paasta_bounce_progress`
/// OK with its ttl of an hour would make Sensu raise a stale-check alert an hour after every
/// removal, for a check that never reports again.
pub fn as_removal(mut settings: SensuSettings) -> SensuSettings {
    settings.runbook = Value::from(DEFAULT_RUNBOOK);
    settings.alert_after = Value::from("5m");
    settings.check_every = Value::from("1m");
    settings.realert_every = monitoring_default("realert_every");
    settings.ttl = Value::Null;
    settings
}

/// monitoring.yaml of a service directory, `{}` when absent.
pub fn monitoring_yaml(source: &ServiceSource) -> Result<Map<String, Value>, ConfigError> {
    match source.files.get("monitoring.yaml") {
        None => Ok(Map::new()),
        Some(text) => yaml_mapping(&format!("{}/monitoring.yaml", source.name), text),
    }
}

/// The resolved envelope of one check, before a status and output make it an event. Values
/// other than `team` and `source` stay as YAML gave them (PaaSTA passed them through).
#[derive(Debug, Clone, PartialEq)]
pub struct SensuSettings {
    /// Team (non-empty).
    pub team: String,
    /// Runbook (pysensu replaces a falsy one with "Please set a runbook!").
    pub runbook: Value,
    /// Tip.
    pub tip: Value,
    /// Notification email.
    pub notification_email: Value,
    /// IRC channels (sent only when truthy).
    pub irc_channels: Value,
    /// Ticket.
    pub ticket: Value,
    /// Project.
    pub project: Value,
    /// Page.
    pub page: Value,
    /// Human interval, e.g. `2m`.
    pub alert_after: Value,
    /// Human interval, e.g. `1m`.
    pub check_every: Value,
    /// Integer (or numeric string).
    pub realert_every: Value,
    /// Dependencies (PaaSTA always sent pysensu's default `[]`).
    pub dependencies: Value,
    /// `paasta-<cluster>`.
    pub source: String,
    /// Human interval or null.
    pub ttl: Value,
}

#[cfg(test)]
mod tests;
