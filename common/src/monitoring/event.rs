//! The Sensu event on the wire: `pysensu_yelp.send_event`'s `result_dict`, built from resolved
//! [`SensuSettings`] with pysensu's conversions (`human_to_seconds`, `int(realert_every)`,
//! "Please set a runbook!", `irc_channels` only when truthy).

use serde::Serialize;
use serde_json::Value;

use super::{SensuSettings, Status};

/// An event as it goes on the wire (`pysensu_yelp.send_event`'s `result_dict`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SensuEvent {
    /// Check name.
    pub name: String,
    /// 0 OK, 1 WARNING, 2 CRITICAL.
    pub status: u8,
    /// Output text.
    pub output: String,
    /// Always `default`.
    pub handler: String,
    /// Team.
    pub team: String,
    /// Runbook.
    pub runbook: Value,
    /// Tip.
    pub tip: Value,
    /// Notification email.
    pub notification_email: Value,
    /// `check_every` in seconds.
    pub interval: Option<u64>,
    /// Page.
    pub page: Value,
    /// `int(realert_every)`.
    pub realert_every: i64,
    /// Dependencies.
    pub dependencies: Value,
    /// `alert_after` in seconds.
    pub alert_after: Option<u64>,
    /// Ticket.
    pub ticket: Value,
    /// Project.
    pub project: Value,
    /// Source.
    pub source: String,
    /// `ttl` in seconds, or null.
    pub ttl: Option<u64>,
    /// IRC channels, only when truthy.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub irc_channels: Option<Value>,
}

/// A setting pysensu could not convert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("monitoring setting `{key}`: bad value {value}: {reason}")]
pub struct BadSettingError {
    /// The key.
    pub key: &'static str,
    /// Its value, as JSON.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl SensuEvent {
    /// The event for `check_name` with `status` and `output` under `settings`.
    pub fn new(
        check_name: &str,
        status: Status,
        output: &str,
        settings: &SensuSettings,
    ) -> Result<Self, BadSettingError> {
        let runbook = if truthy(&settings.runbook) {
            settings.runbook.clone()
        } else {
            Value::from("Please set a runbook!")
        };
        Ok(Self {
            name: check_name.to_string(),
            status: status.code(),
            output: output.to_string(),
            handler: "default".into(),
            team: settings.team.clone(),
            runbook,
            tip: settings.tip.clone(),
            notification_email: settings.notification_email.clone(),
            interval: interval_seconds("check_every", &settings.check_every)?,
            page: settings.page.clone(),
            realert_every: integer("realert_every", &settings.realert_every)?,
            dependencies: settings.dependencies.clone(),
            alert_after: interval_seconds("alert_after", &settings.alert_after)?,
            ticket: settings.ticket.clone(),
            project: settings.project.clone(),
            source: settings.source.clone(),
            ttl: interval_seconds("ttl", &settings.ttl)?,
            irc_channels: truthy(&settings.irc_channels).then(|| settings.irc_channels.clone()),
        })
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// `human_to_seconds`: `1h30m`, `2m`, `10s` (units Y M W D h m s). Null → null; a bare number
/// is taken as seconds (a deviation: pysensu raised on it).
pub fn interval_seconds(key: &'static str, v: &Value) -> Result<Option<u64>, BadSettingError> {
    let bad = |reason| BadSettingError {
        key,
        value: v.to_string(),
        reason,
    };
    let s = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => return n.as_u64().map(Some).ok_or_else(|| bad("not a count")),
        Value::String(s) => s,
        _ => return Err(bad("must be an interval like 5m")),
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'Y' => 365 * 86400,
            'M' => 30 * 86400,
            'W' => 7 * 86400,
            'D' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad("unknown unit (use Y M W D h m s)")),
        };
        let n: u64 = digits.parse().map_err(|_| bad("unit without a number"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad("number without a unit"));
    }
    Ok(Some(total))
}

/// `int(x)` of a number or numeric string.
fn integer(key: &'static str, v: &Value) -> Result<i64, BadSettingError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    parsed.ok_or_else(|| BadSettingError {
        key,
        value: v.to_string(),
        reason: "must be an integer",
    })
}
