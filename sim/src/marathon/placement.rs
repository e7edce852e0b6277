//! Offer matching: resources, host ports and constraints (LIKE, UNLIKE, UNIQUE, CLUSTER,
//! GROUP_BY, MAX_PER on `hostname` or attributes), and turning queued launches into tasks.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::ids::safe_path;
use super::model::{AppSpec, Constraint};
use super::script::HistoryKind;
use super::state::{Agent, App, Cluster, Task, TaskState};

/// Resources an agent still has free.
#[derive(Debug)]
struct Free {
    cpus: f64,
    mem: f64,
    disk: f64,
    ports_used: BTreeSet<u16>,
}

fn field_value<'a>(agent: &'a Agent, field: &str) -> Option<&'a str> {
    if field == "hostname" {
        Some(agent.spec.hostname.as_str())
    } else {
        agent.spec.attributes.get(field).map(String::as_str)
    }
}

/// LIKE/UNLIKE full-match; compiled patterns are cached (placement evaluates the same few
/// patterns against every agent for every launch).
fn full_match(pattern: &str, value: &str) -> bool {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(value))
    })
}

/// Whether placing one more task on `agent` keeps constraint `c`, given the agents of the app's
/// current tasks (`placed`) and every agent (for GROUP_BY's set of groups).
fn satisfies(c: &Constraint, agent: &Agent, placed: &[&Agent], all: &[Agent]) -> bool {
    let value = field_value(agent, &c.field);
    let count_of = |v: &str| {
        placed
            .iter()
            .filter(|a| field_value(a, &c.field) == Some(v))
            .count()
    };
    match c.op.as_str() {
        "LIKE" => value.is_some_and(|v| full_match(c.value.as_deref().unwrap_or(""), v)),
        "UNLIKE" => value.is_none_or(|v| !full_match(c.value.as_deref().unwrap_or(""), v)),
        "UNIQUE" => value.is_some_and(|v| count_of(v) == 0),
        "CLUSTER" => match (value, c.value.as_deref().filter(|s| !s.is_empty())) {
            (Some(v), Some(want)) => v == want,
            (Some(v), None) => placed
                .iter()
                .find_map(|a| field_value(a, &c.field))
                .is_none_or(|first| first == v),
            (None, _) => false,
        },
        "GROUP_BY" => {
            let Some(v) = value else { return false };
            let groups: BTreeSet<&str> = all
                .iter()
                .filter_map(|a| field_value(a, &c.field))
                .collect();
            let min = groups.iter().map(|g| count_of(g)).min().unwrap_or(0);
            count_of(v) <= min
        }
        "MAX_PER" => {
            let max = c
                .value
                .as_deref()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            value.is_some_and(|v| count_of(v) < max)
        }
        _ => true,
    }
}

/// Free resources by agent id, recomputed (exactly as before, in task order) only for agents
/// whose tasks or capacity changed.
#[derive(Debug, Default)]
pub struct FreeCache(RefCell<HashMap<String, Arc<Free>>>);

impl FreeCache {
    /// Forgets every cached entry (agents or capacities changed).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

impl Cluster {
    /// Forgets the cached free resources of one agent (a task was added or removed there).
    pub fn free_changed(&self, agent_id: &str) {
        self.free_cache.0.borrow_mut().remove(agent_id);
    }

    fn free(&self, agent: &Agent) -> Arc<Free> {
        if let Some(f) = self.free_cache.0.borrow().get(&agent.id) {
            return f.clone();
        }
        let free = Arc::new(self.compute_free(agent));
        self.free_cache
            .0
            .borrow_mut()
            .insert(agent.id.clone(), free.clone());
        free
    }

    fn compute_free(&self, agent: &Agent) -> Free {
        let mut free = Free {
            cpus: agent.spec.cpus,
            mem: agent.spec.mem,
            disk: agent.spec.disk,
            ports_used: BTreeSet::new(),
        };
        for t in self.tasks.values().filter(|t| t.slave_id == agent.id) {
            free.cpus -= t.cpus;
            free.mem -= t.mem;
            free.disk -= t.disk;
            free.ports_used.extend(t.ports.iter().copied());
        }
        free
    }

    /// Picks an agent and host ports for one more task of `spec`, if any offer fits.
    fn place(&self, spec: &AppSpec) -> Option<(usize, Vec<u16>)> {
        let placed: Vec<&Agent> = self
            .app_tasks(&spec.id)
            .into_iter()
            .filter(|t| t.kill_at.is_none())
            .filter_map(|t| self.agents.iter().find(|a| a.id == t.slave_id))
            .collect();
        let mut best: Option<(usize, (usize, i64), Vec<u16>)> = None;
        for (i, agent) in self.agents.iter().enumerate() {
            let free = self.free(agent);
            const EPS: f64 = 1e-9;
            if free.cpus + EPS < spec.cpus
                || free.mem + EPS < spec.mem
                || free.disk + EPS < spec.disk
            {
                continue;
            }
            if !spec
                .constraints
                .iter()
                .all(|c| satisfies(c, agent, &placed, &self.agents))
            {
                continue;
            }
            let Some(ports) = pick_ports(spec, agent, &free.ports_used) else {
                continue;
            };
            let same_app = placed.iter().filter(|a| a.id == agent.id).count();
            let key = (same_app, -((free.cpus * 1000.0) as i64));
            if best.as_ref().is_none_or(|(_, k, _)| key < *k) {
                best = Some((i, key, ports));
            }
        }
        best.map(|(i, _, ports)| (i, ports))
    }

    /// Places queued launches of every app whose backoff has expired.
    pub fn launch_queued(&mut self) {
        let now = self.now();
        let ids: Vec<String> = self
            .apps
            .iter()
            .filter(|(_, a)| a.queued > 0)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let Some(app) = self.apps.get(&id) else {
                continue;
            };
            if app.backoff.until.is_some_and(|u| u > now) {
                continue;
            }
            let spec = app.spec.clone();
            while self.apps.get(&id).is_some_and(|a| a.queued > 0) {
                match self.place(&spec) {
                    Some((agent, ports)) => self.launch_on(&id, agent, ports),
                    None => {
                        let offers = self.agents.len() as u64;
                        if let Some(app) = self.apps.get_mut(&id) {
                            app.unused_offers += offers;
                        }
                        break;
                    }
                }
            }
        }
    }

    fn launch_on(&mut self, app_id: &str, agent_ix: usize, ports: Vec<u16>) {
        let now = self.now();
        let uuid = self.task_uuid();
        let seq = self.next_seq;
        self.next_seq += 1;
        let agent = self.agents[agent_ix].clone();
        let Some(app) = self.apps.get_mut(app_id) else {
            return;
        };
        app.queued -= 1;
        if app.queued == 0 {
            app.queue_since = None;
        }
        let safe = safe_path(app_id);
        let task = Task {
            id: format!("{safe}.{uuid}"),
            instance_id: format!("{safe}.marathon-{uuid}"),
            app_id: app_id.to_string(),
            seq,
            slave_id: agent.id.clone(),
            host: agent.spec.hostname.clone(),
            ip: agent.ip.clone(),
            container_id: uuid::Uuid::new_v4().to_string(),
            state: TaskState::Staging,
            staged_at: now,
            started_at: None,
            ports,
            service_ports: app.spec.ports.iter().map(|p| p.service_port).collect(),
            version: app.version.clone(),
            config_version: app.config_version.clone(),
            cpus: app.spec.cpus,
            mem: app.spec.mem,
            disk: app.spec.disk,
            health: None,
            kill_at: None,
            launch: None,
        };
        let record = HistoryKind::TaskLaunched {
            app_id: app_id.to_string(),
            task_id: task.id.clone(),
            host: task.host.clone(),
            version: task.version.clone(),
        };
        self.emit_status(&task, "TASK_STAGING", "");
        self.touch(app_id);
        self.free_changed(&task.slave_id);
        self.tasks.insert(task.id.clone(), task);
        self.record(record);
    }

    /// Emits `status_update_event` and `instance_changed_event` for a task.
    pub fn emit_status(&mut self, task: &Task, status: &str, message: &str) {
        let condition = match status {
            "TASK_STAGING" => "Staging",
            "TASK_RUNNING" => "Running",
            "TASK_KILLED" => "Killed",
            "TASK_FAILED" => "Failed",
            "TASK_LOST" => "Unreachable",
            _ => "Unknown",
        };
        self.emit(
            "status_update_event",
            json!({
                "slaveId": task.slave_id, "taskId": task.id, "taskStatus": status, "message": message,
                "appId": task.app_id, "host": task.host,
                "ipAddresses": [{ "ipAddress": task.ip, "protocol": "IPv4" }],
                "ports": task.ports, "version": task.version,
            }),
        );
        self.emit(
            "instance_changed_event",
            json!({
                "instanceId": task.instance_id, "condition": condition, "runSpecId": task.app_id,
                "agentId": task.slave_id, "host": task.host, "runSpecVersion": task.version,
            }),
        );
    }

    /// Allocates a service port (10000+) not used by any app.
    pub fn allocate_service_port(&mut self, taken: &BTreeSet<u16>) -> u16 {
        let used: BTreeSet<u16> = self
            .apps
            .values()
            .flat_map(|a| a.spec.ports.iter().map(|p| p.service_port))
            .collect();
        loop {
            let p = self.next_service_port;
            self.next_service_port = if p >= 20000 { 10000 } else { p + 1 };
            if !used.contains(&p) && !taken.contains(&p) {
                return p;
            }
        }
    }

    /// Queue entries' launch counts (for scale checks).
    pub fn queued(&self, app_id: &str) -> u32 {
        self.apps.get(app_id).map_or(0, |a: &App| a.queued)
    }
}

/// Host ports for a task: fixed ones as requested, the rest from the agent's range.
fn pick_ports(spec: &AppSpec, agent: &Agent, used: &BTreeSet<u16>) -> Option<Vec<u16>> {
    let mut taken: BTreeSet<u16> = used.clone();
    let mut out = Vec::with_capacity(spec.ports.len());
    let mut next = agent.spec.ports.0;
    let wanted: BTreeMap<usize, u16> = spec
        .ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.host_port != 0)
        .map(|(i, p)| (i, p.host_port))
        .collect();
    for (i, _) in spec.ports.iter().enumerate() {
        if let Some(&fixed) = wanted.get(&i) {
            if fixed < agent.spec.ports.0 || fixed > agent.spec.ports.1 || !taken.insert(fixed) {
                return None;
            }
            out.push(fixed);
            continue;
        }
        while taken.contains(&next) || wanted.values().any(|&w| w == next) {
            next = next.checked_add(1)?;
        }
        if next > agent.spec.ports.1 {
            return None;
        }
        taken.insert(next);
        out.push(next);
    }
    Some(out)
}
