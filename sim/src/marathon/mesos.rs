//! The Mesos master's state endpoints over the same simulated cluster (§3.1): `/master/state`
//! (`/master/state.json`, `/state`), `/master/slaves`, `/master/frameworks`, `/master/tasks`,
//! with the non-leader 307 and `jsonp`.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{Value, json};

use super::handle::SimCluster;
use super::ids::Query;
use super::script::MesosLeadership;
use super::state::{Agent, Cluster, Task, TaskState};

/// The Mesos master router.
pub fn router(sim: SimCluster) -> Router {
    Router::new()
        .route("/master/state", get(endpoint))
        .route("/master/state.json", get(endpoint))
        .route("/state", get(endpoint))
        .route("/state.json", get(endpoint))
        .route("/master/slaves", get(endpoint))
        .route("/master/frameworks", get(endpoint))
        .route("/master/tasks", get(endpoint))
        .with_state(sim)
}

/// The body of a master endpoint (`path`), as the cluster is now.
fn body_of(c: &Cluster, path: &str) -> Value {
    match path {
        "/master/slaves" => json!({ "slaves": slaves(c), "recovered_slaves": [] }),
        "/master/frameworks" => {
            json!({ "frameworks": frameworks(c), "completed_frameworks": [], "unregistered_frameworks": [] })
        }
        "/master/tasks" => {
            let tasks: Vec<Value> = c.tasks.values().map(|t| mesos_task(c, t, None)).collect();
            json!({ "tasks": tasks })
        }
        _ => state(c),
    }
}

/// The endpoints' keys in a frozen snapshot (`state` for every state path).
fn view_key(path: &str) -> &str {
    match path {
        "/master/slaves" | "/master/frameworks" | "/master/tasks" => path,
        _ => "state",
    }
}

/// Every endpoint's body as the cluster is now (a stale master answers these).
pub(super) fn snapshot(c: &Cluster) -> std::collections::BTreeMap<String, Value> {
    [
        "state",
        "/master/slaves",
        "/master/frameworks",
        "/master/tasks",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), body_of(c, p)))
    .collect()
}

/// Leaves out the slaves in `hidden` (slave ids) and their tasks: a partial answer, as a
/// master gives before every agent re-registered after a fail-over.
fn hide_slaves(body: &mut Value, hidden: &std::collections::BTreeSet<String>) {
    let gone = |v: &Value, key: &str| v[key].as_str().is_some_and(|id| hidden.contains(id));
    if let Some(list) = body["slaves"].as_array_mut() {
        list.retain(|s| !gone(s, "id"));
        let n = list.len();
        if body.get("activated_slaves").is_some() {
            body["activated_slaves"] = json!(n);
        }
    }
    if let Some(list) = body["tasks"].as_array_mut() {
        list.retain(|t| !gone(t, "slave_id"));
    }
    for f in body["frameworks"].as_array_mut().into_iter().flatten() {
        if let Some(list) = f["tasks"].as_array_mut() {
            list.retain(|t| !gone(t, "slave_id"));
        }
    }
}

async fn endpoint(State(sim): State<SimCluster>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let path = uri.path().to_string();
    let view = sim.mesos_view();
    let (leadership, body) = sim.with(|c| {
        let mut body = match view.frozen.as_ref().and_then(|f| f.get(view_key(&path))) {
            Some(frozen) => frozen.clone(),
            None => body_of(c, &path),
        };
        if !view.hidden.is_empty() {
            let ids = c
                .agents
                .iter()
                .filter(|a| view.hidden.contains(&a.spec.hostname))
                .map(|a| a.id.clone())
                .collect();
            hide_slaves(&mut body, &ids);
        }
        (c.mesos_leadership.clone(), body)
    });
    match leadership {
        MesosLeadership::Leading => {}
        MesosLeadership::Follower { host, port } => {
            let target = if path.starts_with("/master/") {
                path.clone()
            } else {
                "/master/state".to_string()
            };
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            if let Ok(v) = HeaderValue::from_str(&format!("//{host}:{port}{target}")) {
                resp.headers_mut().insert(http::header::LOCATION, v);
            }
            return resp;
        }
        MesosLeadership::NoLeader => {
            let mut resp = Response::new(Body::from("No leader elected"));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return resp;
        }
    }
    let q = Query::parse(q.as_deref());
    let (text, content_type) = match q.get("jsonp") {
        Some(cb) => (format!("{cb}({body});"), "text/javascript"),
        None => (body.to_string(), "application/json"),
    };
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp
}

fn secs(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn master_host(c: &Cluster) -> (String, u16) {
    match c.mesos_address.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(5050)),
        None => (c.mesos_address.clone(), 5050),
    }
}

fn ports_range(ports: &[u16]) -> String {
    let parts: Vec<String> = ports.iter().map(|p| format!("{p}-{p}")).collect();
    format!("[{}]", parts.join(", "))
}

fn scalars(cpus: f64, mem: f64, disk: f64) -> Value {
    json!({ "cpus": cpus, "gpus": 0.0, "mem": mem, "disk": disk })
}

/// What the tasks of one agent use.
#[derive(Default)]
struct Usage {
    cpus: f64,
    mem: f64,
    disk: f64,
    ports: Vec<u16>,
}

/// Every agent's usage, in one pass over the tasks.
fn usage_by_agent(c: &Cluster) -> std::collections::HashMap<&str, Usage> {
    let mut by: std::collections::HashMap<&str, Usage> = std::collections::HashMap::new();
    for t in c.tasks.values() {
        let u = by.entry(t.slave_id.as_str()).or_default();
        u.cpus += t.cpus;
        u.mem += t.mem;
        u.disk += t.disk;
        u.ports.extend(t.ports.iter().copied());
    }
    by
}

fn slave_json(a: &Agent, usage: Option<&Usage>) -> Value {
    let none = Usage::default();
    let Usage {
        cpus,
        mem,
        disk,
        ports,
    } = usage.unwrap_or(&none);
    let (cpus, mem, disk) = (*cpus, *mem, *disk);
    let spec = &a.spec;
    let port_range = format!("[{}-{}]", spec.ports.0, spec.ports.1);
    let mut unreserved = scalars(spec.cpus, spec.mem, spec.disk);
    unreserved["ports"] = json!(port_range);
    let mut total = unreserved.clone();
    let mut reserved = serde_json::Map::new();
    for (role, r) in &spec.reserved {
        reserved.insert(role.clone(), scalars(r.cpus, r.mem, r.disk));
        for (key, v) in [("cpus", r.cpus), ("mem", r.mem), ("disk", r.disk)] {
            total[key] = json!(total[key].as_f64().unwrap_or(0.0) + v);
        }
    }
    let mut used = scalars(cpus, mem, disk);
    used["ports"] = json!(ports_range(ports));
    json!({
        "id": a.id, "pid": format!("slave(1)@{}:5051", a.ip), "hostname": spec.hostname, "port": 5051,
        "registered_time": secs(a.registered), "resources": total, "used_resources": used,
        "offered_resources": { "cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0 },
        "reserved_resources": reserved, "unreserved_resources": unreserved,
        "attributes": spec.attributes, "active": true, "version": "1.4.3",
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    })
}

fn slaves(c: &Cluster) -> Vec<Value> {
    let usage = usage_by_agent(c);
    c.agents
        .iter()
        .map(|a| slave_json(a, usage.get(a.id.as_str())))
        .collect()
}

/// A task as the master reports it; `ended` gives the terminal state of a completed task.
fn mesos_task(
    c: &Cluster,
    t: &Task,
    ended: Option<(&str, chrono::DateTime<chrono::Utc>)>,
) -> Value {
    let name = t
        .app_id
        .trim_start_matches('/')
        .split('/')
        .rev()
        .collect::<Vec<_>>()
        .join(".");
    let status = |state: &str, at: chrono::DateTime<chrono::Utc>| {
        json!({
            "state": state, "timestamp": secs(at),
            "container_status": {
                "container_id": { "value": t.container_id },
                "network_infos": [{ "ip_addresses": [{ "ip_address": t.ip }] }],
            },
        })
    };
    let (state, statuses) = match (ended, t.state, t.started_at) {
        (Some((s, at)), _, Some(started)) => (
            s.to_string(),
            vec![status("TASK_RUNNING", started), status(s, at)],
        ),
        (Some((s, at)), _, None) => (s.to_string(), vec![status(s, at)]),
        (None, TaskState::Running, Some(started)) => (
            "TASK_RUNNING".to_string(),
            vec![status("TASK_RUNNING", started)],
        ),
        (None, _, _) => ("TASK_STAGING".to_string(), vec![]),
    };
    let labels: Vec<Value> = c
        .apps
        .get(&t.app_id)
        .map(|a| {
            a.spec
                .labels
                .iter()
                .map(|(k, v)| json!({ "key": k, "value": v }))
                .collect()
        })
        .unwrap_or_default();
    let image = c
        .apps
        .get(&t.app_id)
        .map(|a| a.spec.image.clone())
        .unwrap_or_default();
    json!({
        "id": t.id, "name": name, "framework_id": c.framework_id, "executor_id": "", "slave_id": t.slave_id,
        "state": state,
        "resources": { "cpus": t.cpus, "gpus": 0.0, "mem": t.mem, "disk": t.disk, "ports": ports_range(&t.ports) },
        "role": t.role, "statuses": statuses, "labels": labels,
        "container": { "type": "DOCKER", "docker": { "image": image, "network": "BRIDGE", "privileged": false, "force_pull_image": false } },
    })
}

fn foreign_task(t: &super::state::ForeignTask) -> Value {
    json!({
        "id": t.task_id, "name": t.task_id, "framework_id": t.framework_id, "executor_id": "",
        "slave_id": t.slave_id, "state": "TASK_RUNNING",
        "resources": { "cpus": 0.1, "gpus": 0.0, "mem": 32.0, "disk": 0.0 }, "role": "*",
        "statuses": [{ "state": "TASK_RUNNING", "timestamp": secs(t.started), "container_status": { "container_id": { "value": t.container_id } } }],
        "labels": [],
    })
}

fn frameworks(c: &Cluster) -> Vec<Value> {
    let mut tasks: Vec<&Task> = c.tasks.values().collect();
    tasks.sort_by_key(|t| t.seq);
    let mut marathon_tasks: Vec<Value> =
        tasks.into_iter().map(|t| mesos_task(c, t, None)).collect();
    let mut others: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for ft in &c.foreign_tasks {
        if ft.framework_id == c.framework_id {
            marathon_tasks.push(foreign_task(ft));
        } else {
            others
                .entry(ft.framework_id.clone())
                .or_default()
                .push(foreign_task(ft));
        }
    }
    let completed: Vec<Value> = c
        .completed
        .iter()
        .map(|(t, s, at)| mesos_task(c, t, Some((s, *at))))
        .collect();
    let (used_cpus, used_mem) = c
        .tasks
        .values()
        .fold((0.0, 0.0), |(a, b), t| (a + t.cpus, b + t.mem));
    let framework = |id: &str,
                     name: &str,
                     tasks: Vec<Value>,
                     completed: Vec<Value>,
                     used: Value| {
        json!({
            "id": id, "name": name, "pid": format!("scheduler-{id}@{}", c.marathon_address),
            "used_resources": used, "offered_resources": { "cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0 },
            "capabilities": ["PARTITION_AWARE"], "hostname": c.marathon_address.rsplit_once(':').map_or("", |(h, _)| h),
            "webui_url": format!("http://{}", c.marathon_address), "active": true, "connected": true, "recovered": false,
            "user": "root", "failover_timeout": 604800.0, "checkpoint": true, "role": "*",
            "registered_time": secs(c.started), "unregistered_time": 0,
            "tasks": tasks, "unreachable_tasks": [], "completed_tasks": completed, "offers": [], "executors": [],
        })
    };
    let mut out = vec![framework(
        &c.framework_id,
        "marathon",
        marathon_tasks,
        completed,
        json!({ "cpus": used_cpus, "mem": used_mem, "disk": 0.0, "gpus": 0.0 }),
    )];
    for (id, tasks) in others {
        out.push(framework(
            &id,
            "other",
            tasks,
            vec![],
            json!({ "cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0 }),
        ));
    }
    out
}

fn state(c: &Cluster) -> Value {
    let (host, port) = master_host(c);
    let pid = format!("master@{host}:{port}");
    json!({
        "version": "1.4.3", "git_sha": "emulated", "git_tag": "1.4.3", "build_date": "2018-01-01 00:00:00",
        "build_time": 1_514_764_800.0, "build_user": "galley", "start_time": secs(c.started), "elected_time": secs(c.started),
        "id": c.master_id, "pid": pid, "hostname": host, "activated_slaves": c.agents.len(), "deactivated_slaves": 0,
        "unreachable_slaves": 0, "leader": pid,
        "leader_info": { "id": c.master_id, "pid": pid, "port": port, "hostname": host },
        "flags": { "port": port.to_string(), "quorum": "1", "zk_session_timeout": "10secs" },
        "slaves": slaves(c), "recovered_slaves": [], "frameworks": frameworks(c), "completed_frameworks": [],
        "orphan_tasks": [], "unregistered_frameworks": [],
    })
}
