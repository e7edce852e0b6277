//! Playing a schedule: each step's effect on the real processes and files, and its undoing.
//! Marathon faults are `/_sim/faults` rules (all cleared and the still-active ones posted
//! again when one ends); Docker faults are the engine's `/_sim/faults` switches on its socket;
//! process faults are signals (`SIGSTOP`/`SIGCONT`, `kill -9` then a restart); git faults move
//! the bare repository away and back.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::campaign::{World, now};
use super::evidence::Window;
use super::schedule::{LEADER, Schedule, Step, StepKind};
use crate::cluster::{CLUSTER, Repo};

impl World {
    /// Plays every step at its time, undoing each fault after its duration.
    pub(super) async fn play(&mut self, schedule: &Schedule) {
        let mut events: Vec<(u64, bool, &Step)> = Vec::new();
        for s in &schedule.steps {
            events.push((s.at_ms, true, s));
            if s.duration_ms > 0 {
                events.push((s.at_ms + s.duration_ms, false, s));
            }
        }
        events.sort_by_key(|(at, apply, s)| (*at, !*apply, s.index));
        let t0 = Instant::now();
        for (at, apply, step) in events {
            let due = t0 + Duration::from_millis(at);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            self.sample_memory();
            if apply {
                *self.applied.entry(step.kind.name()).or_default() += 1;
                self.apply(step).await;
            } else {
                self.undo(step).await;
            }
        }
    }

    fn open_window(&mut self, step: &Step, subject: String) {
        let w = Window {
            kind: step.kind.name().to_owned(),
            subject,
            start: now(),
            end: now(),
        };
        if step.duration_ms == 0 {
            self.windows.push(w);
        } else {
            self.open.insert(step.index, w);
        }
    }

    fn close_window(&mut self, step: &Step) {
        if let Some(mut w) = self.open.remove(&step.index) {
            w.end = now();
            self.windows.push(w);
        }
    }

    async fn apply(&mut self, step: &Step) {
        match &step.kind {
            StepKind::Deploy { service, group } => {
                let repo = self.repo(service);
                let sha = repo.commit(&format!("{service} step {} seed-run", step.index));
                repo.deploy(group, &sha);
                self.model.group_sha.insert(group, sha);
            }
            StepKind::Stop { service, instance } | StepKind::Start { service, instance } => {
                let stop = matches!(step.kind, StepKind::Stop { .. });
                if let Some(sha) = self.model.sha_of(service, instance).cloned() {
                    self.repo(service).set_state(
                        instance,
                        &sha,
                        if stop { "stop" } else { "start" },
                    );
                    self.model.stopped.insert((service, instance, sha), stop);
                }
            }
            StepKind::Scale {
                service,
                instance,
                instances,
            } => {
                self.model.get_mut(service, instance).instances = *instances;
                self.write_config(service);
            }
            StepKind::ChangeCpus {
                service,
                instance,
                millicpus,
            } => {
                self.model.get_mut(service, instance).millicpus = *millicpus;
                self.write_config(service);
            }
            StepKind::RemoveInstance { service, instance }
            | StepKind::RestoreInstance { service, instance } => {
                let restore = matches!(step.kind, StepKind::RestoreInstance { .. });
                let i = self.model.get_mut(service, instance);
                if i.removed == restore {
                    i.removed = !restore;
                    self.config
                        .entry(((*service).to_owned(), (*instance).to_owned()))
                        .or_default()
                        .push((now(), restore));
                    self.write_config(service);
                }
            }
            StepKind::Orphan { slave } => {
                let k = *slave % self.slaves.len();
                let s = &self.slaves[k];
                let n = step.index;
                let orphan = s
                    .engine
                    .try_run(
                        &format!("mesos-chaos-{n}-{}", crate::docker::unique_id()),
                        Some(&format!("retired.main.chaos-{n}")),
                    )
                    .await;
                let foreign = s
                    .engine
                    .try_run(
                        &format!("sidecar-chaos-{n}-{}", crate::docker::unique_id()),
                        None,
                    )
                    .await;
                let slave = *slave % self.slaves.len();
                match orphan {
                    Ok(id) => self.orphans.push((slave, id)),
                    Err(e) => eprintln!("chaos: orphan: {e}"),
                }
                match foreign {
                    Ok(id) => self.foreign.push((slave, id)),
                    Err(e) => eprintln!("chaos: foreign container: {e}"),
                }
            }
            StepKind::MarathonStatus { status, reads_only } => {
                let mut rule = json!({"kind": {"status": {"status": status, "message": "chaos"}}});
                if *reads_only {
                    rule["path_prefix"] = json!("/v2/apps");
                    rule["method"] = json!("GET");
                }
                self.add_marathon_fault(step, rule).await;
            }
            StepKind::MarathonSlow { millis } => {
                self.add_marathon_fault(step, json!({"kind": {"delay": {"millis": millis}}}))
                    .await;
            }
            StepKind::MarathonDrop { reads_only } => {
                let mut rule = json!({"kind": "drop"});
                if *reads_only {
                    rule["path_prefix"] = json!("/v2/apps");
                    rule["method"] = json!("GET");
                }
                self.add_marathon_fault(step, rule).await;
            }
            StepKind::MarathonLeaderLoss => {
                self.open_window(step, String::new());
                self.control(Method::PUT, "/_sim/leader", Some(json!({"leader": false})))
                    .await;
            }
            StepKind::EventStreamBreak => {
                self.open_window(step, String::new());
                self.control(Method::POST, "/_sim/events/break", None).await;
            }
            StepKind::EventDrop { count } => {
                self.open_window(step, String::new());
                self.control(
                    Method::POST,
                    "/_sim/events/drop",
                    Some(json!({"count": count})),
                )
                .await;
            }
            StepKind::MesosNoLeader => {
                self.open_window(step, String::new());
                self.control(
                    Method::PUT,
                    "/_sim/mesos-leader",
                    Some(json!({"mode": "no_leader"})),
                )
                .await;
            }
            StepKind::MesosPartial { slave } => {
                let host = self.slaves[*slave % self.slaves.len()].host.clone();
                self.open_window(step, host);
                self.mesos_view(None).await;
            }
            StepKind::MesosStale => {
                self.open_window(step, String::new());
                self.mesos_view(None).await;
            }
            StepKind::DockerErrors { slave, status } => {
                let k = *slave % self.slaves.len();
                let s = &self.slaves[k];
                let (socket, host) = (s.socket.clone(), s.host.clone());
                self.open_window(step, host);
                let body = json!({"status": status, "message": "chaos"}).to_string();
                if let Err(e) = unix_request(&socket, "POST", "/_sim/faults", &body).await {
                    eprintln!("chaos: docker fault: {e}");
                }
            }
            StepKind::DockerSlow { slave, millis } => {
                let k = *slave % self.slaves.len();
                let (socket, host) = (self.slaves[k].socket.clone(), self.slaves[k].host.clone());
                self.open_window(step, host);
                let body = json!({ "millis": millis }).to_string();
                if let Err(e) = unix_request(&socket, "PUT", "/_sim/delay", &body).await {
                    eprintln!("chaos: docker delay: {e}");
                }
            }
            StepKind::AgentStop { slave } => {
                let k = *slave % self.slaves.len();
                let s = &mut self.slaves[k];
                if let (None, Some(pid)) = (s.stopped, s.agent.pid()) {
                    signal("STOP", pid);
                    s.stopped = Some(pid);
                    let host = s.host.clone();
                    self.open_window(step, host);
                }
            }
            StepKind::AgentKill { slave } => {
                let k = *slave % self.slaves.len();
                let s = &mut self.slaves[k];
                if s.agent.pid().is_some() {
                    s.agent.kill9();
                    s.stopped = None;
                    let host = s.host.clone();
                    self.open_window(step, host);
                }
            }
            StepKind::GitUnreachable { service } => {
                let n = self.away.entry((*service).to_owned()).or_default();
                *n += 1;
                if *n == 1 {
                    let here = self.repo_path(service);
                    let _ = std::fs::rename(&here, here.with_extension("away"));
                }
                self.open_window(step, (*service).to_owned());
            }
            StepKind::ZkSessionLoss { node } => {
                let Some(node) = self.resolve(step, *node).await else {
                    return;
                };
                let n = &mut self.nodes[node];
                if let (None, Some(pid)) = (n.stopped, n.proc.pid()) {
                    signal("STOP", pid);
                    n.stopped = Some(pid);
                    let id = n.id.clone();
                    self.open_window(step, id);
                }
            }
            StepKind::CoordinatorKill { node } => {
                let Some(node) = self.resolve(step, *node).await else {
                    return;
                };
                let n = &mut self.nodes[node];
                if n.proc.pid().is_some() {
                    n.proc.kill9();
                    n.stopped = None;
                    let id = n.id.clone();
                    self.kills.push((id.clone(), now()));
                    self.open_window(step, id);
                }
            }
            StepKind::RogueDelete { service, instance } => {
                let prefix = format!("/{service}.{instance}.");
                let apps = crate::observe::marathon_app_ids(&self.sim.marathon)
                    .await
                    .unwrap_or_default();
                if let Some(app) = apps.iter().find(|a| a.starts_with(&prefix)) {
                    let r = crate::observe::http()
                        .delete(format!("{}/v2/apps{app}?force=true", self.sim.marathon))
                        .basic_auth("c1", Some("chaos"))
                        .send()
                        .await;
                    eprintln!("chaos: sabotage: DELETE {app}: {:?}", r.map(|r| r.status()));
                }
            }
            StepKind::ClockJump { seconds } => {
                self.open_window(step, String::new());
                self.jumps.push((now(), *seconds as f64));
                self.control(
                    Method::POST,
                    "/_sim/tick",
                    Some(json!({"seconds": seconds})),
                )
                .await;
            }
        }
    }

    async fn undo(&mut self, step: &Step) {
        match &step.kind {
            StepKind::MarathonStatus { .. }
            | StepKind::MarathonSlow { .. }
            | StepKind::MarathonDrop { .. } => {
                self.marathon_faults.retain(|(i, _)| *i != step.index);
                self.control(Method::DELETE, "/_sim/faults", None).await;
                for (_, rule) in self.marathon_faults.clone() {
                    self.control(Method::POST, "/_sim/faults", Some(rule)).await;
                }
            }
            StepKind::MarathonLeaderLoss => {
                let still = self
                    .open
                    .iter()
                    .any(|(i, w)| *i != step.index && w.kind == "marathon_leader_change");
                if !still {
                    self.control(Method::PUT, "/_sim/leader", Some(json!({"leader": true})))
                        .await;
                }
            }
            StepKind::MesosNoLeader => {
                let still = self
                    .open
                    .iter()
                    .any(|(i, w)| *i != step.index && w.kind == "mesos_no_leader");
                if !still {
                    self.control(
                        Method::PUT,
                        "/_sim/mesos-leader",
                        Some(json!({"mode": "leading"})),
                    )
                    .await;
                }
            }
            StepKind::MesosPartial { .. } | StepKind::MesosStale => {
                self.mesos_view(Some(step.index)).await;
            }
            StepKind::DockerErrors { slave, .. } => {
                let k = *slave % self.slaves.len();
                let s = &self.slaves[k];
                let host = s.host.clone();
                let still = self.open.iter().any(|(i, w)| {
                    *i != step.index && w.kind == "docker_errors" && w.subject == host
                });
                if !still {
                    let _ = unix_request(&s.socket, "DELETE", "/_sim/faults", "{}").await;
                }
            }
            StepKind::DockerSlow { slave, .. } => {
                let k = *slave % self.slaves.len();
                let host = self.slaves[k].host.clone();
                let still = self
                    .open
                    .iter()
                    .any(|(i, w)| *i != step.index && w.kind == "docker_slow" && w.subject == host);
                if !still {
                    let body = json!({ "millis": 0 }).to_string();
                    let _ = unix_request(&self.slaves[k].socket, "PUT", "/_sim/delay", &body).await;
                }
            }
            StepKind::AgentStop { slave } => {
                let k = *slave % self.slaves.len();
                let s = &mut self.slaves[k];
                if let Some(pid) = s.stopped.take()
                    && s.agent.pid() == Some(pid)
                {
                    signal("CONT", pid);
                }
            }
            StepKind::AgentKill { slave } => {
                let k = *slave % self.slaves.len();
                let s = &mut self.slaves[k];
                if s.agent.pid().is_none() && self.open.contains_key(&step.index) {
                    s.agent.restart();
                }
            }
            StepKind::GitUnreachable { service } => {
                if let Some(n) = self.away.get_mut(*service) {
                    *n -= 1;
                    if *n == 0 {
                        let here = self.repo_path(service);
                        let _ = std::fs::rename(here.with_extension("away"), &here);
                        self.away.remove(*service);
                    }
                }
            }
            StepKind::ZkSessionLoss { .. } => {
                let Some(&node) = self.resolved.get(&step.index) else {
                    return;
                };
                let n = &mut self.nodes[node];
                if let Some(pid) = n.stopped.take()
                    && n.proc.pid() == Some(pid)
                {
                    signal("CONT", pid);
                }
            }
            StepKind::CoordinatorKill { .. } => {
                let Some(&node) = self.resolved.get(&step.index) else {
                    return;
                };
                let n = &mut self.nodes[node];
                if n.proc.pid().is_none() && self.open.contains_key(&step.index) {
                    n.proc.restart();
                }
            }
            _ => {}
        }
        self.close_window(step);
    }

    /// Undoes every fault still active and starts every process again (the end of a
    /// schedule; also a safety net).
    pub(super) async fn clear_all(&mut self) {
        self.marathon_faults.clear();
        self.control(Method::DELETE, "/_sim/faults", None).await;
        self.control(Method::PUT, "/_sim/leader", Some(json!({"leader": true})))
            .await;
        self.control(
            Method::PUT,
            "/_sim/mesos-leader",
            Some(json!({"mode": "leading"})),
        )
        .await;
        self.control(Method::DELETE, "/_sim/mesos-view", None).await;
        for s in &mut self.slaves {
            let _ = unix_request(&s.socket, "DELETE", "/_sim/faults", "{}").await;
            if let Some(pid) = s.stopped.take() {
                signal("CONT", pid);
            }
            if s.agent.pid().is_none() {
                s.agent.restart();
            }
        }
        for n in &mut self.nodes {
            if let Some(pid) = n.stopped.take() {
                signal("CONT", pid);
            }
            if n.proc.pid().is_none() {
                n.proc.restart();
            }
        }
        for service in std::mem::take(&mut self.away).into_keys() {
            let here = self.repo_path(&service);
            let _ = std::fs::rename(here.with_extension("away"), &here);
        }
        let end = now();
        for (_, mut w) in std::mem::take(&mut self.open) {
            w.end = end;
            self.windows.push(w);
        }
    }

    /// The coordinator a step hits: `node`, or for [`LEADER`] the one whose
    /// `galley_leader_term` is set now (`None`: nobody leads). Remembered for the undo.
    async fn resolve(&mut self, step: &Step, node: usize) -> Option<usize> {
        let mut found = (node != LEADER).then_some(node);
        if found.is_none() {
            for (i, n) in self.nodes.iter().enumerate() {
                if n.proc.pid().is_some()
                    && n.stopped.is_none()
                    && crate::observe::metric(n.metrics, "galley_leader_term")
                        .await
                        .is_some_and(|t| t > 0.0)
                {
                    found = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = found {
            self.resolved.insert(step.index, i);
        }
        found
    }

    /// Sets the Mesos master's distortion from the open partial and stale windows, but for
    /// step `ending`.
    async fn mesos_view(&self, ending: Option<usize>) {
        let open = self
            .open
            .iter()
            .filter(|(i, _)| Some(**i) != ending)
            .map(|(_, w)| w);
        let (mut hide, mut freeze) = (Vec::new(), false);
        for w in open {
            match w.kind.as_str() {
                "mesos_partial" => hide.push(w.subject.clone()),
                "mesos_stale" => freeze = true,
                _ => {}
            }
        }
        self.control(
            Method::PUT,
            "/_sim/mesos-view",
            Some(json!({"hide": hide, "freeze": freeze})),
        )
        .await;
    }

    async fn add_marathon_fault(&mut self, step: &Step, rule: serde_json::Value) {
        self.open_window(step, String::new());
        self.marathon_faults.push((step.index, rule.clone()));
        self.control(Method::POST, "/_sim/faults", Some(rule)).await;
    }

    fn repo_path(&self, service: &str) -> std::path::PathBuf {
        self.c.root.join("repos").join(format!("{service}.git"))
    }

    /// The service's repository, wherever it is (a push reaches the git server even while
    /// the coordinators cannot).
    fn repo(&self, service: &str) -> Repo {
        let here = self.repo_path(service);
        if self.away.contains_key(service) {
            Repo::open(&here.with_extension("away"))
        } else {
            Repo::open(&here)
        }
    }

    /// Writes the service's `marathon-<cluster>.yaml` to every coordinator's soa dir.
    fn write_config(&self, service: &str) {
        let text = self.model.render(service);
        for n in &self.nodes {
            let path = n.soa.join(service).join(format!("marathon-{CLUSTER}.yaml"));
            let tmp = path.with_extension("chaos-tmp");
            std::fs::write(&tmp, &text).expect("write soa file");
            std::fs::rename(&tmp, &path).expect("rename soa file");
        }
    }
}

fn signal(sig: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// One HTTP/1.1 request on a unix socket (the Docker emulator's `/_sim/*` routes); its status.
pub async fn unix_request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: &str,
) -> Result<u16, String> {
    let mut s = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .map_err(|_| "timeout".to_owned())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad answer: {text}"))
}
