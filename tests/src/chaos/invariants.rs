//! The invariants every run is checked against, each defined on the [`Evidence`] (times are
//! wall-clock seconds; "C" is a coordinator, known in Marathon's and Mesos' request logs by
//! its basic-auth user). A *destructive write* is a `DELETE /v2/apps/<id>` (an app deleted)
//! or a `POST /v2/tasks/delete` (tasks killed) that Marathon answered 2xx; a *reap* is a
//! `destroy` event of a container on a slave's Docker engine (only the reaper removes
//! containers: Mesos keeps exited ones). A *view break* is an event-stream break or a Marathon
//! leadership loss (both end every `/v2/events` stream), and C's own start (a restart after
//! `kill -9` begins with an empty view).
//!
//! 1. **`fresh_marathon_read`** (Marathon input not partial, stale or failing): a destructive
//!    write by C at `t` on app X needs (a) a 2xx read of X by C — the list `GET /v2/apps` or
//!    `GET /v2/apps/X` — in `[t − read_window, t]`, and (b) a 2xx list by C after the last view
//!    break before `t` (C's view was complete: listed since the break). A failed list, a
//!    dropped or 5xx answer, never counts as a read.
//! 2. **`configured_instance_keeps_an_app`** (desired input not partial: git unreachable, soa
//!    files being rewritten): a 2xx `DELETE /v2/apps/X` at `t`, X an app of instance I, while I
//!    was configured throughout `[t − config_grace, t]`, needs another app of I to exist at `t`
//!    (created 2xx before `t` and not deleted before `t`): a bounce may delete old apps, nothing
//!    may delete a configured instance's last app.
//! 3. **`no_reap_of_live_task`**: no container is destroyed while the Marathon task named by
//!    its `MESOS_TASK_ID` label is live (launched and not ended, in the emulator's history);
//!    no container whose name does not start with `mesos-` is ever destroyed.
//! 4. **`reap_on_fresh_inputs`**: each reap of container N on host H at `t` has a "Reaping
//!    container N on H" line in a deploy log of some C at `t_o ≤ t + 1`, C made a 2xx
//!    `GET /master/state` in `[t_o − reap_window, t_o]`, and a 2xx list `GET /v2/apps` after
//!    the last view break before `t_o` (the reaper reads tasks from the view, complete only
//!    once listed since the break); and C's last Mesos state read before `t_o` was not made
//!    while the master left H out of its answers (a partial slave list must hold the host's
//!    reaps: `MESOS_NO_TASKS_ON_HOST`). A stale (frozen) Mesos answer cannot be told from a
//!    fresh one by a client; what it may not lead to is invariant 3.
//! 5. **`one_actor_by_term`**: (a) every Marathon write by C (any non-GET request Marathon
//!    answered) and every reap order C logged falls inside one of C's leadership spans (its
//!    JSON log: "elected leader" with the term … "not the leader any more" or its kill), or at
//!    most `inflight_slack` after its end (a request already sent); (b) ordered by time, the
//!    terms of the writes never go down: a write with term T after a write with term T' > T is
//!    two coordinators acting at once.
//! 6. **`actions_logged_once`** (no action lost, none applied twice): per C and action —
//!    `create X` (POST 201; 409 may be logged too), `delete X` (DELETE 2xx; 404 may be logged),
//!    `scale X` (PUT 2xx), `kill … of X` (POST /v2/tasks/delete 2xx) — C's deploy log has at
//!    least as many lines as Marathon applied for C, minus those made within
//!    `kill_excuse` before a `kill -9` of C (a killed process cannot log), and at most as many
//!    as Marathon applied or answered 409/404 (a line is never made up). A task killed 2xx by
//!    two coordinators is an action applied twice.
//!
//! Convergence, processes that exit or panic, and memory are checked by the campaign (they
//! are not in the evidence); they are reported as [`Violation`]s the same way.

use std::collections::BTreeMap;

use super::evidence::{Evidence, Request, app_of_task, instance_of_app};

/// The windows the invariants allow.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// How old a read may be for a destructive write (1a).
    pub read_window: f64,
    /// How long an instance must have been configured for 2 to apply.
    pub config_grace: f64,
    /// How old a Mesos read may be for a reap order (4).
    pub reap_window: f64,
    /// How long after its leadership ends a coordinator's request may still land (5a).
    pub inflight_slack: f64,
    /// Writes this close before a `kill -9` of their coordinator need no log line (6).
    pub kill_excuse: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            read_window: 20.0,
            config_grace: 10.0,
            reap_window: 10.0,
            inflight_slack: 2.0,
            kill_excuse: 10.0,
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Which (the names above, or `converged`, `process`, `memory`).
    pub invariant: &'static str,
    /// When.
    pub at: f64,
    /// What, with the evidence.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] at {:.3}: {}", self.invariant, self.at, self.detail)
    }
}

/// How much was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Marathon writes by coordinators (all checked by 5, the applied ones by 6).
    pub writes: usize,
    /// Destructive writes (1, 2).
    pub destructive: usize,
    /// Reaps (3, 4).
    pub reaps: usize,
    /// Deploy-log action lines (6).
    pub logged_actions: usize,
}

/// Runs every check.
pub fn check(e: &Evidence, b: &Bounds) -> (Vec<Violation>, Checked) {
    let mut v = Vec::new();
    let mut c = Checked::default();
    fresh_marathon_read(e, b, &mut v, &mut c);
    configured_instance_keeps_an_app(e, b, &mut v);
    reaps(e, b, &mut v, &mut c);
    one_actor_by_term(e, b, &mut v, &mut c);
    actions_logged_once(e, b, &mut v, &mut c);
    v.sort_by(|x, y| x.at.total_cmp(&y.at));
    (v, c)
}

fn is_coordinator(r: &Request) -> bool {
    r.user.is_some()
}

/// Apps a destructive write is about.
fn destroyed_apps(r: &Request) -> Vec<String> {
    if r.method == "DELETE" && r.path_only().starts_with("/v2/apps/") {
        if r.path_only().contains("/tasks") {
            return vec![
                r.path_only()["/v2/apps".len()..]
                    .split("/tasks")
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ];
        }
        return r.app().into_iter().collect();
    }
    if r.method == "POST" && r.path_only() == "/v2/tasks/delete" {
        let mut apps: Vec<String> = r.ids.iter().map(|t| app_of_task(t)).collect();
        apps.dedup();
        return apps;
    }
    vec![]
}

/// The last view break before `t`, or C's last restart, whichever is later.
fn last_break(e: &Evidence, node: &str, t: f64) -> f64 {
    let breaks = e
        .windows
        .iter()
        .filter(|w| w.kind == "event_stream_break" || w.kind == "marathon_leader_change")
        .map(|w| w.start);
    let kills = e.kills.iter().filter(|(n, _)| n == node).map(|(_, at)| *at);
    breaks
        .chain(kills)
        .filter(|&at| at <= t)
        .fold(f64::MIN, f64::max)
}

fn listed_between(e: &Evidence, node: &str, from: f64, to: f64) -> bool {
    e.requests.iter().any(|r| {
        r.user.as_deref() == Some(node)
            && r.ok()
            && r.is_app_read()
            && r.path_only() == "/v2/apps"
            && r.at >= from
            && r.at <= to
    })
}

fn fresh_marathon_read(e: &Evidence, b: &Bounds, v: &mut Vec<Violation>, c: &mut Checked) {
    for w in e.requests.iter().filter(|r| is_coordinator(r) && r.ok()) {
        let apps = destroyed_apps(w);
        if apps.is_empty() {
            continue;
        }
        c.destructive += 1;
        let node = w.user.as_deref().unwrap_or_default();
        for app in &apps {
            let read = e.requests.iter().any(|r| {
                r.user.as_deref() == Some(node)
                    && r.ok()
                    && r.is_app_read()
                    && r.at <= w.at
                    && r.at >= w.at - b.read_window
                    && (r.path_only() == "/v2/apps" || r.app().as_deref() == Some(app.as_str()))
            });
            if !read {
                v.push(Violation {
                    invariant: "fresh_marathon_read",
                    at: w.at,
                    detail: format!(
                        "{node}: {} {} on {app} without a successful read of it in the {}s before",
                        w.method, w.path, b.read_window
                    ),
                });
            }
        }
        let since = last_break(e, node, w.at);
        if !listed_between(e, node, since, w.at) {
            v.push(Violation {
                invariant: "fresh_marathon_read",
                at: w.at,
                detail: format!(
                    "{node}: {} {} on a view not listed since its last break at {since:.3}",
                    w.method, w.path
                ),
            });
        }
    }
}

fn configured_instance_keeps_an_app(e: &Evidence, b: &Bounds, v: &mut Vec<Violation>) {
    let mut live: BTreeMap<String, bool> = BTreeMap::new();
    for r in e
        .requests
        .iter()
        .filter(|r| r.target == "marathon" && r.ok())
    {
        match (r.method.as_str(), r.app()) {
            ("POST", Some(app)) if r.path_only() == "/v2/apps" => {
                live.insert(app, true);
            }
            ("DELETE", Some(app)) if !r.path_only().contains("/tasks") => {
                live.insert(app.clone(), false);
                let Some((svc, inst)) = instance_of_app(&app) else {
                    continue;
                };
                if !e.configured_throughout(&svc, &inst, r.at - b.config_grace, r.at) {
                    continue;
                }
                let prefix = format!("/{svc}.{inst}.");
                let others: Vec<&String> = live
                    .iter()
                    .filter(|(a, alive)| **alive && a.starts_with(&prefix))
                    .map(|(a, _)| a)
                    .collect();
                if others.is_empty() {
                    v.push(Violation {
                        invariant: "configured_instance_keeps_an_app",
                        at: r.at,
                        detail: format!(
                            "{}: deleted {app}, the last app of {svc}.{inst}, which is configured",
                            r.user.as_deref().unwrap_or("someone")
                        ),
                    });
                }
            }
            _ => {}
        }
    }
}

fn reaps(e: &Evidence, b: &Bounds, v: &mut Vec<Violation>, c: &mut Checked) {
    for d in e.docker.iter().filter(|d| d.action == "destroy") {
        c.reaps += 1;
        if !d.name.trim_start_matches('/').starts_with("mesos-") {
            v.push(Violation {
                invariant: "no_reap_of_live_task",
                at: d.at,
                detail: format!("{} on {} destroyed: not a mesos- container", d.name, d.host),
            });
        }
        if let Some(task) = d.task_id.as_deref().and_then(|t| e.tasks.get(t))
            && task.live_at(d.at)
        {
            v.push(Violation {
                invariant: "no_reap_of_live_task",
                at: d.at,
                detail: format!(
                    "{} on {} destroyed while its task {} was live (launched {:.3}, ended {:?})",
                    d.name, d.host, task.id, task.launched, task.ended
                ),
            });
        }
        let name = d.name.trim_start_matches('/');
        let order = e
            .deploy_log
            .iter()
            .filter(|l| {
                l.at <= d.at + 1.0
                    && l.message
                        .starts_with(&format!("Reaping container {name} on {} ", d.host))
            })
            .max_by(|x, y| x.at.total_cmp(&y.at));
        let Some(order) = order else {
            v.push(Violation {
                invariant: "reap_on_fresh_inputs",
                at: d.at,
                detail: format!(
                    "{name} on {} destroyed, but no deploy log has its reap order",
                    d.host
                ),
            });
            continue;
        };
        let node = order.node.as_str();
        let last_read = e
            .requests
            .iter()
            .filter(|r| {
                r.user.as_deref() == Some(node)
                    && r.target == "mesos"
                    && r.ok()
                    && r.path_only().starts_with("/master/state")
                    && r.at <= order.at
            })
            .map(|r| r.at)
            .fold(f64::MIN, f64::max);
        let partial = e.windows.iter().find(|w| {
            w.kind == "mesos_partial"
                && w.subject == d.host
                && w.start <= last_read
                && last_read <= w.end
        });
        if let Some(w) = partial {
            v.push(Violation {
                invariant: "reap_on_fresh_inputs",
                at: order.at,
                detail: format!(
                    "{node} ordered the reap of {name} on {} from a Mesos answer that left the host out (partial from {:.3} to {:.3})",
                    d.host, w.start, w.end
                ),
            });
        }
        if last_read < order.at - b.reap_window {
            v.push(Violation {
                invariant: "reap_on_fresh_inputs",
                at: order.at,
                detail: format!(
                    "{node} ordered the reap of {name} on {} without a successful Mesos state read in the {}s before",
                    d.host, b.reap_window
                ),
            });
        }
        let since = last_break(e, node, order.at);
        if !listed_between(e, node, since, order.at) {
            v.push(Violation {
                invariant: "reap_on_fresh_inputs",
                at: order.at,
                detail: format!(
                    "{node} ordered the reap of {name} on {} from a Marathon view not listed since its last break at {since:.3}",
                    d.host
                ),
            });
        }
    }
}

/// The term of `node` at `t` (allowing `slack` after a span's end).
fn term_at(e: &Evidence, node: &str, t: f64, slack: f64) -> Option<u64> {
    e.leaders
        .iter()
        .filter(|s| s.node == node && s.start <= t && s.end.is_none_or(|end| t <= end + slack))
        .map(|s| s.term)
        .max()
}

fn one_actor_by_term(e: &Evidence, b: &Bounds, v: &mut Vec<Violation>, c: &mut Checked) {
    let mut writes: Vec<(f64, &str, String)> = e
        .requests
        .iter()
        .filter(|r| {
            is_coordinator(r) && r.target == "marathon" && r.method != "GET" && r.status != 0
        })
        .map(|r| {
            (
                r.at,
                r.user.as_deref().unwrap_or_default(),
                format!("{} {}", r.method, r.path),
            )
        })
        .collect();
    c.writes = writes.len();
    writes.extend(
        e.deploy_log
            .iter()
            .filter(|l| l.message.starts_with("Reaping container "))
            .map(|l| (l.at, l.node.as_str(), format!("reap order: {}", l.message))),
    );
    writes.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut highest: Option<(u64, f64, &str)> = None;
    for (at, node, what) in &writes {
        let Some(term) = term_at(e, node, *at, b.inflight_slack) else {
            v.push(Violation {
                invariant: "one_actor_by_term",
                at: *at,
                detail: format!("{node} acted while not leading: {what}"),
            });
            continue;
        };
        if let Some((top, top_at, top_node)) = highest
            && term < top
        {
            v.push(Violation {
                invariant: "one_actor_by_term",
                at: *at,
                detail: format!(
                    "{node} acted with term {term} after {top_node} acted with term {top} at {top_at:.3}: {what}"
                ),
            });
        }
        if highest.is_none_or(|(top, _, _)| term > top) {
            highest = Some((term, *at, node));
        }
    }
}

/// The action key of a deploy-log message: `("create", "/app")`, ...
pub fn logged_action(message: &str) -> Option<(&'static str, String)> {
    let app = |s: &str| {
        format!(
            "/{}",
            s.split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_start_matches('/')
        )
    };
    if let Some(r) = message.strip_prefix("create ") {
        return Some(("create", app(r)));
    }
    if let Some(r) = message.strip_prefix("delete old app ") {
        return Some(("delete", app(r)));
    }
    if let Some(r) = message.strip_prefix("Deleted stale marathon job that looks lost: ") {
        return Some(("delete", app(r)));
    }
    if let Some(r) = message.strip_prefix("delete ") {
        return Some(("delete", app(r)));
    }
    if let Some(r) = message.strip_prefix("scale ") {
        return Some(("scale", app(r)));
    }
    if message.starts_with("kill ") {
        let (_, r) = message.split_once(" task(s) of ")?;
        return Some(("kill", app(r)));
    }
    None
}

/// The action key of a coordinator's write, and whether Marathon applied it (`true`) or
/// answered in a way apply still logs as done (`false`: 409 create, 404 delete).
fn applied_action(r: &Request) -> Option<((&'static str, String), bool)> {
    let p = r.path_only();
    let key = match r.method.as_str() {
        "POST" if p == "/v2/apps" => ("create", r.app()?),
        "POST" if p == "/v2/tasks/delete" => ("kill", app_of_task(r.ids.first()?)),
        "DELETE" if p.starts_with("/v2/apps/") && !p.contains("/tasks") => ("delete", r.app()?),
        "PUT" if p.starts_with("/v2/apps/") => ("scale", r.app()?),
        _ => return None,
    };
    match r.status {
        s if (200..300).contains(&s) => Some((key, true)),
        409 if key.0 == "create" => Some((key, false)),
        404 if key.0 == "delete" => Some((key, false)),
        _ => None,
    }
}

fn actions_logged_once(e: &Evidence, b: &Bounds, v: &mut Vec<Violation>, c: &mut Checked) {
    type Key = (String, &'static str, String);
    // (node, verb, app) → (applied, excused, maybe, last time)
    let mut applied: BTreeMap<Key, (usize, usize, usize, f64)> = BTreeMap::new();
    for r in e
        .requests
        .iter()
        .filter(|r| is_coordinator(r) && r.target == "marathon")
    {
        let Some(((verb, app), done)) = applied_action(r) else {
            continue;
        };
        let node = r.user.clone().unwrap_or_default();
        let excused = e
            .kills
            .iter()
            .any(|(n, at)| *n == node && *at >= r.at && *at - r.at <= b.kill_excuse);
        let entry = applied.entry((node, verb, app)).or_default();
        match (done, excused) {
            (true, false) => entry.0 += 1,
            (true, true) => entry.1 += 1,
            (false, _) => entry.2 += 1,
        }
        entry.3 = r.at;
    }
    let mut logged: BTreeMap<Key, (usize, f64)> = BTreeMap::new();
    for l in &e.deploy_log {
        if let Some((verb, app)) = logged_action(&l.message) {
            c.logged_actions += 1;
            let entry = logged.entry((l.node.clone(), verb, app)).or_default();
            entry.0 += 1;
            entry.1 = l.at;
        }
    }
    for (key, (must, excused, _, at)) in &applied {
        let lines = logged.get(key).map_or(0, |l| l.0);
        if lines < *must {
            v.push(Violation {
                invariant: "actions_logged_once",
                at: *at,
                detail: format!(
                    "{}: {} {} applied {must} time(s) ({excused} more just before a kill) but logged {lines} time(s): action lost",
                    key.0, key.1, key.2
                ),
            });
        }
    }
    for (key, (lines, at)) in &logged {
        let (must, excused, maybe, _) = applied.get(key).copied().unwrap_or_default();
        if *lines > must + excused + maybe {
            v.push(Violation {
                invariant: "actions_logged_once",
                at: *at,
                detail: format!(
                    "{}: {} {} logged {lines} time(s) but Marathon applied it {} time(s) for it",
                    key.0,
                    key.1,
                    key.2,
                    must + excused + maybe
                ),
            });
        }
    }
    let mut killed: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
    for r in e.requests.iter().filter(|r| {
        is_coordinator(r) && r.ok() && r.method == "POST" && r.path_only() == "/v2/tasks/delete"
    }) {
        let node = r.user.as_deref().unwrap_or_default();
        for t in &r.ids {
            match killed.get(t.as_str()) {
                Some((first, first_at)) if *first != node => v.push(Violation {
                    invariant: "actions_logged_once",
                    at: r.at,
                    detail: format!(
                        "task {t} killed by {first} at {first_at:.3} and again by {node}: applied twice"
                    ),
                }),
                Some(_) => {}
                None => {
                    killed.insert(t, (node, r.at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
