//! What a run leaves behind, in one shape the [`super::invariants`] read: the Marathon
//! emulator's request log and task history, the Docker engines' events, the coordinators'
//! deploy logs and leadership (from their JSON logs), and the campaign's own record of what it
//! did when (fault windows, config changes, kills). Every time is wall-clock seconds since the
//! Unix epoch (`f64`); the emulator's history is moved back by the clock jumps the campaign made.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// A request Marathon or the Mesos master answered (`/_sim/requests`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// When it was answered.
    pub at: f64,
    /// `marathon` or `mesos`.
    pub target: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Which coordinator (its basic-auth user: `c1`, `c2`, `c3`); `None` for others.
    pub user: Option<String>,
    /// Status; 0 when the connection was dropped.
    pub status: u16,
    /// The `Location` of a created app.
    pub location: Option<String>,
    /// Task ids of `POST /v2/tasks/delete`.
    pub ids: Vec<String>,
}

impl Request {
    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// Whether Marathon answered 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A read of Marathon's apps: `GET /v2/apps` (the list) or `GET /v2/apps/<id>`.
    pub fn is_app_read(&self) -> bool {
        self.target == "marathon"
            && self.method == "GET"
            && self.path_only().starts_with("/v2/apps")
    }

    /// The app a write or an app read is about (`/web.main.git…`), when it names one.
    pub fn app(&self) -> Option<String> {
        if self.method == "POST" && self.path_only() == "/v2/apps" {
            let from_body = self
                .ids
                .first()
                .map(|i| format!("/{}", i.trim_start_matches('/')));
            return from_body.or_else(|| {
                self.location
                    .as_deref()
                    .and_then(|l| l.split("/v2/apps").nth(1))
                    .map(str::to_owned)
            });
        }
        let rest = self.path_only().strip_prefix("/v2/apps")?;
        let rest = rest.strip_suffix("/restart").unwrap_or(rest);
        (!rest.is_empty() && !rest.contains("/tasks")).then(|| rest.to_owned())
    }
}

/// The app of a Marathon task id (`<app id without the slash>.<uuid>`).
pub fn app_of_task(task_id: &str) -> String {
    let app = task_id.rsplit_once('.').map_or(task_id, |(a, _)| a);
    format!("/{}", app.replace('_', "/"))
}

/// `(service, instance)` of an app id `/svc.inst.gitX.configY`.
pub fn instance_of_app(app: &str) -> Option<(String, String)> {
    let mut parts = app.trim_start_matches('/').split('.');
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

/// A Marathon task's life (`/_sim/history`: launched … ended).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLife {
    /// Task id.
    pub id: String,
    /// When it was launched.
    pub launched: f64,
    /// When it ended, if it did.
    pub ended: Option<f64>,
}

impl TaskLife {
    /// Whether the task was live at `t`.
    pub fn live_at(&self, t: f64) -> bool {
        self.launched <= t && self.ended.is_none_or(|e| e > t)
    }
}

/// A container event of a slave's Docker engine.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerEvent {
    /// When (the engine's `timeNano`).
    pub at: f64,
    /// The slave.
    pub host: String,
    /// `create`, `start`, `kill`, `die`, `stop`, `destroy`, ...
    pub action: String,
    /// Container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Its `MESOS_TASK_ID` label.
    pub task_id: Option<String>,
}

/// A deploy-log line of one coordinator.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The coordinator (`c1`, ...).
    pub node: String,
    /// Its timestamp.
    pub at: f64,
    /// The message.
    pub message: String,
}

/// A stretch of time in which a coordinator led with a term (from its JSON log: "elected
/// leader" … "not the leader any more", its kill, or the end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderSpan {
    /// The coordinator.
    pub node: String,
    /// Its term.
    pub term: u64,
    /// When it logged that it leads.
    pub start: f64,
    /// When it logged that it stopped (or was killed); `None`: still leading at the end.
    pub end: Option<f64>,
}

/// A fault the campaign had active, on what.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The fault kind ([`super::StepKind::name`]).
    pub kind: String,
    /// What it hit (a coordinator, a slave, a service; empty for Marathon or Mesos as a whole).
    pub subject: String,
    /// When it was applied.
    pub start: f64,
    /// When it was undone.
    pub end: f64,
}

/// Everything the invariants read.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Marathon and Mesos requests, oldest first.
    pub requests: Vec<Request>,
    /// Marathon tasks by id.
    pub tasks: BTreeMap<String, TaskLife>,
    /// Docker events of every slave, oldest first.
    pub docker: Vec<DockerEvent>,
    /// Deploy-log lines of every coordinator.
    pub deploy_log: Vec<LogLine>,
    /// Leadership of every coordinator.
    pub leaders: Vec<LeaderSpan>,
    /// Faults, as the campaign applied them.
    pub windows: Vec<Window>,
    /// Per instance `(service, instance)`: times at which it was removed from the config
    /// (`false`) or written back (`true`); every instance starts configured.
    pub config: BTreeMap<(String, String), Vec<(f64, bool)>>,
    /// `kill -9` of coordinators: (node, when).
    pub kills: Vec<(String, f64)>,
}

impl Evidence {
    /// Whether `(service, instance)` was configured throughout `[from, to]`.
    pub fn configured_throughout(&self, service: &str, instance: &str, from: f64, to: f64) -> bool {
        let key = (service.to_owned(), instance.to_owned());
        let Some(changes) = self.config.get(&key) else {
            return true;
        };
        let mut state = true;
        for (at, configured) in changes {
            if *at <= from {
                state = *configured;
            } else if *at <= to {
                return false;
            }
        }
        state
    }
}

/// Seconds since the epoch of an ISO-8601 UTC time (`2026-12-06T15:45:02.123456`, with or
/// without `Z` or `+00:00`).
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, time) = s.split_once('T').or_else(|| s.split_once(' '))?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let time = time.trim_end_matches('Z');
    let (time, offset) = match time.rfind(['+', '-']) {
        Some(i) if i >= 6 => {
            let (t, o) = time.split_at(i);
            let sign = if o.starts_with('-') { -1.0 } else { 1.0 };
            let mut hm = o[1..].split(':');
            let h: f64 = hm.next()?.parse().ok()?;
            let mi: f64 = hm.next().unwrap_or("0").parse().ok()?;
            (t, sign * (h * 3600.0 + mi * 60.0))
        }
        _ => (time, 0.0),
    };
    let mut t = time.split(':');
    let (hh, mm): (f64, f64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss - offset)
}

/// Parses `/_sim/requests`.
pub fn parse_requests(v: &Value) -> Vec<Request> {
    v["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Request {
                at: parse_time(r["at"].as_str()?)?,
                target: r["target"].as_str()?.to_owned(),
                method: r["method"].as_str()?.to_owned(),
                path: r["path"].as_str()?.to_owned(),
                user: r["user"].as_str().map(str::to_owned),
                status: r["status"].as_u64().unwrap_or(0) as u16,
                location: r["location"].as_str().map(str::to_owned),
                ids: r["ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            })
        })
        .collect()
}

/// Parses `/_sim/history` into task lives; `jumps` are the clock jumps the campaign made
/// (wall time when made, seconds), to move the emulator's times back onto the wall clock.
pub fn parse_tasks(v: &Value, jumps: &[(f64, f64)]) -> BTreeMap<String, TaskLife> {
    let wall = |sim: f64| {
        let mut offset = 0.0;
        for (at, secs) in jumps {
            if sim >= at + offset + secs {
                offset += secs;
            }
        }
        sim - offset
    };
    let mut out: BTreeMap<String, TaskLife> = BTreeMap::new();
    for e in v.as_array().into_iter().flatten() {
        let (Some(at), Some(id)) = (e["at"].as_str().and_then(parse_time), e["task_id"].as_str())
        else {
            continue;
        };
        let at = wall(at);
        match e["kind"].as_str() {
            Some("task_launched") => {
                out.insert(
                    id.to_owned(),
                    TaskLife {
                        id: id.to_owned(),
                        launched: at,
                        ended: None,
                    },
                );
            }
            Some("task_ended") => {
                if let Some(t) = out.get_mut(id) {
                    t.ended = Some(at);
                }
            }
            _ => {}
        }
    }
    out
}

/// The deploy-log lines of coordinator `node` in the files of `dir` named `<node>-*.log`.
pub fn read_deploy_logs(dir: &Path, node: &str) -> Vec<LogLine> {
    let prefix = format!("{node}-");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let (Some(at), Some(m)) = (
                v["timestamp"].as_str().and_then(parse_time),
                v["message"].as_str(),
            ) {
                out.push(LogLine {
                    node: node.to_owned(),
                    at,
                    message: m.to_owned(),
                });
            }
        }
    }
    out
}

/// Leadership spans from coordinator `node`'s JSON log (`--log-json`); `kills` close a span
/// at the kill (a killed process logs nothing).
pub fn leader_spans(log: &str, node: &str, kills: &[f64]) -> Vec<LeaderSpan> {
    let mut events: Vec<(f64, Option<u64>)> = Vec::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(at) = v["timestamp"].as_str().and_then(parse_time) else {
            continue;
        };
        let msg = v["fields"]["message"].as_str().unwrap_or_default();
        if msg.starts_with("elected leader") {
            events.push((at, Some(v["fields"]["term"].as_u64().unwrap_or(0))));
        } else if msg.starts_with("not the leader any more") {
            events.push((at, None));
        }
    }
    events.extend(kills.iter().map(|k| (*k, None)));
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<LeaderSpan> = Vec::new();
    for (at, term) in events {
        if let Some(open) = out.last_mut().filter(|s| s.end.is_none()) {
            open.end = Some(at);
        }
        if let Some(term) = term {
            out.push(LeaderSpan {
                node: node.to_owned(),
                term,
                start: at,
                end: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_seconds() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("1970-01-02T00:00:01.5"), Some(86_401.5));
        assert_eq!(parse_time("2000-03-01T00:00:00+01:00"), Some(951_865_200.0));
        assert_eq!(
            parse_time("2026-12-06T15:45:02.000Z"),
            Some(1_796_571_902.0)
        );
    }

    #[test]
    fn apps_of_tasks_and_requests() {
        assert_eq!(
            app_of_task("web.main.git1.config2.8c1ed220-f148"),
            "/web.main.git1.config2"
        );
        let r = Request {
            at: 0.0,
            target: "marathon".into(),
            method: "DELETE".into(),
            path: "/v2/apps/web.main.git1.config2?force=true".into(),
            user: Some("c1".into()),
            status: 200,
            location: None,
            ids: vec![],
        };
        assert_eq!(r.app().as_deref(), Some("/web.main.git1.config2"));
        assert_eq!(
            instance_of_app("/web.main.git1.config2"),
            Some(("web".into(), "main".into()))
        );
    }

    #[test]
    fn leadership_spans_end_at_step_down_or_kill() {
        let log = r#"{"timestamp":"1970-01-01T00:00:10Z","fields":{"message":"elected leader: reconciling now","term":3}}
{"timestamp":"1970-01-01T00:00:20Z","fields":{"message":"not the leader any more: stopped acting"}}
{"timestamp":"1970-01-01T00:00:30Z","fields":{"message":"elected leader: reconciling now","term":5}}"#;
        let spans = leader_spans(log, "c1", &[35.0]);
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].term, spans[0].start, spans[0].end),
            (3, 10.0, Some(20.0))
        );
        assert_eq!((spans[1].term, spans[1].end), (5, Some(35.0)));
    }
}
