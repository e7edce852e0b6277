//! `galley-coordinator serve` configuration: one YAML file, strictly typed
//! (`deny_unknown_fields`), loaded with the same PyYAML-compatible loader as soa-configs.
//! Errors name the file and what is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The coordinator's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// This cluster's name; default: `cluster` of the system config.
    #[serde(default)]
    pub cluster: Option<String>,
    /// yelpsoa-configs root.
    pub soa_dir: PathBuf,
    /// Directory of `*.json` system config (PaaSTA's `/etc/paasta`).
    pub system_config_dir: PathBuf,
    /// Marathon.
    pub marathon: MarathonSection,
    /// Mesos master.
    pub mesos: MesosSection,
    /// Reconcile loop settings.
    pub reconcile: ReconcileSection,
    /// Deploy log file (JSON lines, PaaSTA's format; `{service}`, `{cluster}`, `{instance}`,
    /// `{component}`, `{level}` are substituted); none: events only in memory and logs.
    #[serde(default)]
    pub deploy_log: Option<PathBuf>,
    /// Prometheus `/metrics` listen address; none: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// gRPC listen address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Git watching (poller, webhook) and tag writing; none: defaults, no webhook.
    #[serde(default)]
    pub git: Option<GitSection>,
    /// Leader election among the coordinators of this cluster; none: this coordinator is the
    /// only one and always leads (term 1).
    #[serde(default)]
    pub election: Option<ElectionSection>,
    /// Mutual TLS for the gRPC port; none: `serve` refuses to start unless `--insecure`.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// Operator certificates (DNS SAN) and their role: `operator` or `read_only`. Names not
    /// listed may not call the operator API (agents need no entry).
    #[serde(default)]
    pub roles: crate::grpc::authz::RoleMap,
    /// The orphan container reaper (agents' inventories); none: the defaults (report mode).
    #[serde(default)]
    pub reaper: ReaperSection,
    /// Defaults of the automatic rollback of bounces that cannot converge, for instances whose
    /// config does not set `bounce_failure` / `bounce_timeout`; none: `wait` (never roll back).
    #[serde(default)]
    pub rollback: RollbackSection,
}

/// The automatic rollback's defaults (`rollback:`). Every key has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackSection {
    /// `wait` (keep waiting, as PaaSTA) or `rollback` (the leader pushes a deploy tag for the
    /// last sha that was healthy on the deploy group).
    #[serde(default)]
    pub bounce_failure: BounceFailureName,
    /// Seconds a new app version may run without a happy task before it counts as failed.
    #[serde(default = "default_bounce_timeout")]
    pub bounce_timeout_seconds: f64,
}

/// `wait` or `rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceFailureName {
    /// Keep waiting.
    #[default]
    Wait,
    /// Roll back to the last healthy sha.
    Rollback,
}

impl Default for RollbackSection {
    fn default() -> Self {
        Self {
            bounce_failure: BounceFailureName::Wait,
            bounce_timeout_seconds: default_bounce_timeout(),
        }
    }
}

impl RollbackSection {
    /// The policy an instance gets when its config sets neither key.
    pub fn default_policy(&self) -> crate::rollback::RollbackPolicy {
        crate::rollback::RollbackPolicy {
            on_failure: match self.bounce_failure {
                BounceFailureName::Wait => galley_common::bounce_failure::BounceFailure::Wait,
                BounceFailureName::Rollback => {
                    galley_common::bounce_failure::BounceFailure::Rollback
                }
            },
            timeout: Duration::from_secs_f64(self.bounce_timeout_seconds),
        }
    }

    /// Warnings for settings that are valid but risky (shown by `check-config`).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.bounce_failure == BounceFailureName::Rollback && self.bounce_timeout_seconds < 60.0
        {
            out.push(format!(
                "rollback.bounce_timeout_seconds is {}: versions that take longer than that to \
                 pass a health check are rolled back",
                self.bounce_timeout_seconds
            ));
        }
        out
    }

    fn validate(&self) -> Result<(), String> {
        let max = galley_common::bounce_failure::MAX_BOUNCE_TIMEOUT_SECONDS;
        if !(self.bounce_timeout_seconds > 0.0 && self.bounce_timeout_seconds <= max) {
            return Err("rollback.bounce_timeout_seconds must be within (0, 86400]".into());
        }
        Ok(())
    }
}

fn default_bounce_timeout() -> f64 {
    600.0
}

/// The orphan reaper's policy (`reaper:`). Every key has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaperSection {
    /// `report` (plan, expose, audit "would reap") or `enforce` (order reaps) at start;
    /// `SetReaperMode` switches at run time.
    #[serde(default = "default_reaper_mode")]
    pub mode: ReaperModeName,
    /// Containers younger than this are never reaped (PaaSTA's orphan cleanup `--max-age`).
    #[serde(default = "default_reaper_min_age")]
    pub min_age_seconds: f64,
    /// Seconds between passes (each lists Marathon and Mesos).
    #[serde(default = "default_reaper_interval")]
    pub interval_seconds: f64,
    /// Passes, at least half an interval apart, in which a container must be an orphan
    /// before it is reaped.
    #[serde(default = "default_sightings")]
    pub sightings: u32,
    /// Largest fraction of a host's live `mesos-` containers reaped in one pass; more
    /// orphans than that on one host holds them all (`TOO_MANY_ON_HOST`).
    #[serde(default = "default_max_fraction")]
    pub max_fraction_per_host: f64,
    /// Reap orders per minute, all hosts together.
    #[serde(default = "default_reaps_per_minute")]
    pub max_reaps_per_minute: u32,
    /// Reap orders per minute to one host.
    #[serde(default = "default_reaps_per_host")]
    pub max_reaps_per_host_per_minute: u32,
    /// `docker stop -t`: seconds between SIGTERM and SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace_seconds: u32,
    /// How long to wait for an agent's answer to an order.
    #[serde(default = "default_order_timeout")]
    pub order_timeout_seconds: f64,
    /// An agent silent this long is stale: its containers are held (`AGENT_STALE`).
    #[serde(default = "default_agent_stale")]
    pub agent_stale_after_seconds: f64,
}

/// `report` or `enforce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaperModeName {
    /// Never order.
    Report,
    /// Order reaps (leader only, after the grace period).
    Enforce,
}

impl Default for ReaperSection {
    fn default() -> Self {
        Self {
            mode: default_reaper_mode(),
            min_age_seconds: default_reaper_min_age(),
            interval_seconds: default_reaper_interval(),
            sightings: default_sightings(),
            max_fraction_per_host: default_max_fraction(),
            max_reaps_per_minute: default_reaps_per_minute(),
            max_reaps_per_host_per_minute: default_reaps_per_host(),
            stop_grace_seconds: default_stop_grace(),
            order_timeout_seconds: default_order_timeout(),
            agent_stale_after_seconds: default_agent_stale(),
        }
    }
}

impl ReaperSection {
    /// The reaper policy these settings make.
    pub fn policy(&self) -> crate::agents::ReaperPolicy {
        use crate::agents::ReaperMode;
        let interval = Duration::from_secs_f64(self.interval_seconds);
        crate::agents::ReaperPolicy {
            mode: match self.mode {
                ReaperModeName::Report => ReaperMode::Report,
                ReaperModeName::Enforce => ReaperMode::Enforce,
            },
            min_age: Duration::from_secs_f64(self.min_age_seconds),
            max_fraction_per_host: self.max_fraction_per_host,
            global_per_minute: self.max_reaps_per_minute,
            host_per_minute: self.max_reaps_per_host_per_minute,
            grace_seconds: self.stop_grace_seconds,
            interval,
            sightings: self.sightings,
            sighting_gap: interval / 2,
            order_timeout: Duration::from_secs_f64(self.order_timeout_seconds),
        }
    }

    /// Warnings for settings that are valid but risky (shown by `check-config`).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.min_age_seconds < 600.0 {
            out.push(format!(
                "reaper.min_age_seconds is {}: containers this young may still be starting \
                 (PaaSTA reaped after an hour)",
                self.min_age_seconds
            ));
        }
        if self.sightings < 2 {
            out.push("reaper.sightings is 1: one view of Mesos decides a reap".into());
        }
        out
    }

    /// How long an agent may stay silent and be fresh.
    pub fn agent_stale_after(&self) -> Duration {
        Duration::from_secs_f64(self.agent_stale_after_seconds)
    }

    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("interval_seconds", self.interval_seconds),
            ("order_timeout_seconds", self.order_timeout_seconds),
            ("agent_stale_after_seconds", self.agent_stale_after_seconds),
        ];
        for (key, v) in positive {
            if !(v > 0.0 && v <= 86_400.0) {
                return Err(format!("reaper.{key} must be within (0, 86400]"));
            }
        }
        if !(self.min_age_seconds >= 0.0 && self.min_age_seconds <= 30.0 * 86_400.0) {
            return Err("reaper.min_age_seconds must be within [0, 2592000]".into());
        }
        if !(1..=100).contains(&self.sightings) {
            return Err("reaper.sightings must be within [1, 100]".into());
        }
        if !(self.max_fraction_per_host > 0.0 && self.max_fraction_per_host <= 1.0) {
            return Err("reaper.max_fraction_per_host must be within (0, 1]".into());
        }
        if self.stop_grace_seconds > 3600 {
            return Err("reaper.stop_grace_seconds must be at most 3600".into());
        }
        Ok(())
    }
}

fn default_reaper_mode() -> ReaperModeName {
    ReaperModeName::Report
}
fn default_reaper_min_age() -> f64 {
    3600.0
}
fn default_reaper_interval() -> f64 {
    60.0
}
fn default_sightings() -> u32 {
    2
}
fn default_max_fraction() -> f64 {
    0.5
}
fn default_reaps_per_minute() -> u32 {
    30
}
fn default_reaps_per_host() -> u32 {
    5
}
fn default_stop_grace() -> u32 {
    10
}
fn default_order_timeout() -> f64 {
    60.0
}
fn default_agent_stale() -> f64 {
    30.0
}

/// Mutual TLS (`tls:`): PEM files, re-read when they change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// This coordinator's certificate chain.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// CA bundle that agent and operator certificates must chain to.
    pub client_ca_file: PathBuf,
    /// Seconds between checks of the files for changes.
    #[serde(default = "default_tls_reload")]
    pub reload_interval_seconds: f64,
}

impl TlsSection {
    /// The files.
    pub fn files(&self) -> crate::tls::TlsFiles {
        crate::tls::TlsFiles {
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
            client_ca: self.client_ca_file.clone(),
        }
    }
}

fn default_tls_reload() -> f64 {
    10.0
}

/// Leader election through ZooKeeper (`election:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionSection {
    /// ZooKeeper connect string, `host:port[,host:port...]` (the ensemble Mesos uses).
    pub zookeeper: String,
    /// Election znode; default `/galley/<cluster>/leader`.
    #[serde(default)]
    pub path: Option<String>,
    /// ZooKeeper session timeout. A leader stops acting after 2/5 of it without an answer
    /// from ZooKeeper; a crashed leader is replaced after it.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_seconds: f64,
    /// A new leader reconciles watch-only (no app deletes, task kills or reaps) this long.
    #[serde(default = "default_grace")]
    pub grace_period_seconds: f64,
    /// How followers name this coordinator (default: `<hostname>:<listen port>`).
    #[serde(default)]
    pub id: Option<String>,
}

fn default_session_timeout() -> f64 {
    10.0
}
fn default_grace() -> f64 {
    30.0
}

/// Git watching and tag-writing settings (`git:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSection {
    /// Seconds between polls of every service's refs.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_seconds: f64,
    /// Repositories listed at once (default: cores × 4).
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Per-repository listing (and push) timeout.
    #[serde(default = "default_git_timeout")]
    pub timeout_seconds: f64,
    /// Webhook listen address (`POST /v1/git-webhook`); none: no webhook.
    #[serde(default)]
    pub webhook_listen: Option<String>,
    /// File holding the webhook HMAC secret (required with `webhook_listen`; never logged).
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// A repository unreachable this long raises an alert (error log, alerting gauge).
    #[serde(default = "default_unreachable_alert")]
    pub unreachable_alert_after_seconds: f64,
    /// SSH private key for pushing tags (default: the ssh agent).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// User name for ssh pushes.
    #[serde(default = "default_ssh_user")]
    pub ssh_user: String,
    /// File holding `user:password` for https pushes (never logged).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Where mirrors of remote repositories are kept to push from (default: a `galley-git`
    /// directory in the system temp dir).
    #[serde(default)]
    pub mirror_dir: Option<PathBuf>,
}

impl Default for GitSection {
    fn default() -> Self {
        Self {
            poll_interval_seconds: default_poll_interval(),
            jobs: None,
            timeout_seconds: default_git_timeout(),
            webhook_listen: None,
            webhook_secret_file: None,
            unreachable_alert_after_seconds: default_unreachable_alert(),
            ssh_key: None,
            ssh_user: default_ssh_user(),
            credentials_file: None,
            mirror_dir: None,
        }
    }
}

fn default_poll_interval() -> f64 {
    10.0
}
fn default_git_timeout() -> f64 {
    30.0
}
fn default_unreachable_alert() -> f64 {
    300.0
}
fn default_ssh_user() -> String {
    "git".into()
}

/// Marathon settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarathonSection {
    /// Base URL.
    pub url: String,
    /// File holding `user:password` for basic auth (never logged).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Keep a view of Marathon from its event stream (list once, then fetch only the apps
    /// events name) instead of listing every app every pass.
    #[serde(default = "default_true")]
    pub watch_events: bool,
    /// With `watch_events`: a full list this often even while the stream is healthy.
    #[serde(default = "default_resync")]
    pub resync_seconds: f64,
}

fn default_true() -> bool {
    true
}
fn default_resync() -> f64 {
    300.0
}

/// Mesos master settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MesosSection {
    /// Base URL of any master (followers redirect to the leader).
    pub url: String,
    /// File holding `user:password` for basic auth (never logged).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
}

/// Reconcile loop settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSection {
    /// Seconds between periodic passes (changes to the soa dir trigger a pass at once).
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// Cleanup refuses to delete more than this fraction of the apps (PaaSTA's 0.5).
    #[serde(default = "default_kill_threshold")]
    pub kill_threshold: f64,
    /// At most this many removed-instance apps deleted per pass.
    #[serde(default = "default_cleanup_deletes")]
    pub max_cleanup_deletes_per_pass: usize,
    /// At most this many tasks killed by bounces per pass.
    #[serde(default = "default_task_kills")]
    pub max_task_kills_per_pass: usize,
    /// Plan and log, but change nothing in Marathon.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_listen() -> String {
    "127.0.0.1:50051".into()
}
fn default_timeout() -> f64 {
    10.0
}
fn default_interval() -> f64 {
    30.0
}
fn default_kill_threshold() -> f64 {
    0.5
}
fn default_cleanup_deletes() -> usize {
    20
}
fn default_task_kills() -> usize {
    1000
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable.
    #[error("cannot read config file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid YAML.
    #[error("config file {path} is not valid YAML")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: galley_common::yaml::YamlError,
    },
    /// Valid YAML, wrong content.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl CoordinatorConfig {
    /// Loads and validates `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::fsutil::read_config_file(path, crate::fsutil::MAX_CONFIG_FILE_BYTES)
            .map_err(|source| ConfigError::Io {
                path: path.into(),
                source,
            })?;
        Self::from_yaml(path, &text)
    }

    /// Parses `text` (named `path` in errors).
    pub fn from_yaml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let value = galley_common::yaml::load(text).map_err(|source| ConfigError::Yaml {
            path: path.into(),
            source,
        })?;
        let config: Self = serde_json::from_value(value).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.into(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.reaper.validate()?;
        self.rollback.validate()?;
        let r = &self.reconcile;
        if !positive_seconds(r.interval_seconds) {
            return Err(format!("reconcile.interval_seconds {MUST_BE_SECONDS}"));
        }
        if !(0.0..=1.0).contains(&r.kill_threshold) {
            return Err("reconcile.kill_threshold must be within [0, 1]".into());
        }
        if !(self.marathon.resync_seconds >= 1.0 && self.marathon.resync_seconds <= 86_400.0) {
            return Err("marathon.resync_seconds must be within [1, 86400]".into());
        }
        if ![self.marathon.timeout_seconds, self.mesos.timeout_seconds]
            .iter()
            .all(|t| positive_seconds(*t))
        {
            return Err(format!("timeout_seconds {MUST_BE_SECONDS}"));
        }
        if let Some(t) = &self.tls
            && !positive_seconds(t.reload_interval_seconds)
        {
            return Err(format!("tls.reload_interval_seconds {MUST_BE_SECONDS}"));
        }
        if let Some(e) = &self.election {
            if e.zookeeper.trim().is_empty() {
                return Err("election.zookeeper must name at least one host:port".into());
            }
            if !(0.4..=600.0).contains(&e.session_timeout_seconds) {
                return Err("election.session_timeout_seconds must be within [0.4, 600]".into());
            }
            if !(e.grace_period_seconds >= 0.0 && e.grace_period_seconds <= MAX_SECONDS) {
                return Err(format!(
                    "election.grace_period_seconds must be >= 0 and at most {MAX_SECONDS}"
                ));
            }
            if let Some(p) = &e.path
                && (!p.starts_with('/') || p.ends_with('/'))
            {
                return Err(format!(
                    "election.path {p:?} must start with `/` and not end with one"
                ));
            }
        }
        if let Some(g) = &self.git {
            let positive = [
                g.poll_interval_seconds,
                g.timeout_seconds,
                g.unreachable_alert_after_seconds,
            ];
            if !positive.iter().all(|t| positive_seconds(*t)) {
                return Err(format!(
                    "git: poll_interval_seconds, timeout_seconds and \
                     unreachable_alert_after_seconds {MUST_BE_SECONDS}"
                ));
            }
            if let Some(jobs) = g.jobs
                && jobs > MAX_GIT_JOBS
            {
                return Err(format!("git.jobs must be at most {MAX_GIT_JOBS}"));
            }
            if g.webhook_listen.is_some() && g.webhook_secret_file.is_none() {
                return Err("git.webhook_secret_file is required with git.webhook_listen".into());
            }
        }
        Ok(())
    }

    /// The periodic pass interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.reconcile.interval_seconds)
    }

    /// Reads the Marathon credentials file (`user:password`, surrounding whitespace ignored).
    pub fn marathon_credentials(&self) -> Result<Option<(String, String)>, ConfigError> {
        read_credentials(self.marathon.credentials_file.as_deref())
    }

    /// Reads the Mesos credentials file (`user:password`).
    pub fn mesos_credentials(&self) -> Result<Option<(String, String)>, ConfigError> {
        read_credentials(self.mesos.credentials_file.as_deref())
    }
}

/// The longest duration a `*_seconds` setting without a range of its own may have (about 31
/// years): longer ones cannot be converted to a `Duration` or added to an `Instant` without
/// overflow, which panicked `serve` at start after `check-config` had passed.
pub const MAX_SECONDS: f64 = 1e9;

/// What [`positive_seconds`] checks, for messages.
const MUST_BE_SECONDS: &str = "must be > 0 and at most 1000000000";

/// The most repositories listed at once (`git.jobs`): the permits a semaphore can hold.
pub const MAX_GIT_JOBS: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Whether `v` is a usable number of seconds: > 0 and at most [`MAX_SECONDS`] (NaN is not).
fn positive_seconds(v: f64) -> bool {
    v > 0.0 && v <= MAX_SECONDS
}

/// `user:password` from `path` (none: no credentials). Errors name the file, never its content.
fn read_credentials(path: Option<&Path>) -> Result<Option<(String, String)>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text =
        crate::fsutil::read_config_file(path, 64 << 10).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let (user, pass) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: "expected `user:password`".into(),
        })?;
    Ok(Some((user.to_string(), pass.to_string())))
}
