//! What synapse's haproxy on a slave would list for the simulated cluster: one server row per
//! running task, grouped into proxies named `service.instance`, seen from one host's location.
//! Served by [`crate::haproxy::HaproxySim`].

use super::handle::SimCluster;
use super::state::{Health, TaskState};

/// One haproxy server row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynapseRow {
    /// `service.instance` (the app id's first two parts, `--` read back as `_`).
    pub pxname: String,
    /// `ip:port_hostname`, as synapse names nerve-registered backends.
    pub svname: String,
    /// `UP` when the task runs and passes its health checks (or the app has none), else `DOWN`.
    pub status: String,
}

impl SimCluster {
    /// The rows `host`'s haproxy would show: tasks on every agent sharing `host`'s value of
    /// `attribute` (e.g. `region`, as `discover: region` does); every running task when
    /// `attribute` is `None` or `host` is not an agent. Staging tasks are not registered.
    pub fn synapse_rows(&self, attribute: Option<&str>, host: &str) -> Vec<SynapseRow> {
        self.with(|c| {
            let location = |h: &str| {
                attribute.and_then(|a| {
                    c.agents
                        .iter()
                        .find(|ag| ag.spec.hostname == h)
                        .and_then(|ag| ag.spec.attributes.get(a).cloned())
                })
            };
            let here = location(host);
            let mut rows: Vec<SynapseRow> = c
                .tasks
                .values()
                .filter(|t| t.state == TaskState::Running)
                .filter(|t| here.is_none() || location(&t.host) == here)
                .map(|t| {
                    let has_health = c
                        .apps
                        .get(&t.app_id)
                        .is_some_and(|a| a.spec.health.is_some());
                    let up = !has_health || t.health.as_ref().is_some_and(Health::alive);
                    let mut parts = t.app_id.trim_start_matches('/').split('.');
                    let service = parts.next().unwrap_or_default().replace("--", "_");
                    let instance = parts.next().unwrap_or_default().replace("--", "_");
                    let port = t.ports.first().copied().unwrap_or_default();
                    SynapseRow {
                        pxname: format!("{service}.{instance}"),
                        svname: format!("{}:{port}_{}", t.ip, t.host),
                        status: if up { "UP" } else { "DOWN" }.to_owned(),
                    }
                })
                .collect();
            rows.sort_by(|a, b| (&a.pxname, &a.svname).cmp(&(&b.pxname, &b.svname)));
            rows
        })
    }
}
