//! `/master/state` as it comes off the wire (only what Galley reads).

use std::collections::BTreeMap;

use galley_common::observed::{MesosSlave, MesosState, MesosTask, task_state};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct State {
    #[serde(default)]
    slaves: Vec<Slave>,
    #[serde(default)]
    frameworks: Vec<Framework>,
}

/// `/master/slaves`.
#[derive(Debug, Deserialize)]
pub(super) struct Slaves {
    #[serde(default)]
    slaves: Vec<Slave>,
}

impl From<Slaves> for Vec<MesosSlave> {
    fn from(s: Slaves) -> Self {
        s.slaves.into_iter().map(Slave::into_observed).collect()
    }
}

impl Slave {
    fn into_observed(self) -> MesosSlave {
        MesosSlave {
            id: self.id,
            hostname: self.hostname,
            attributes: self
                .attributes
                .into_iter()
                .map(|(k, v)| (k, attribute_text(v)))
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Slave {
    id: String,
    hostname: String,
    #[serde(default)]
    attributes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Framework {
    #[serde(default)]
    tasks: Vec<Task>,
}

/// Only what the orphan reaper reads: at 50,000 tasks each field kept per task is ~2 MB
/// for the length of a read (statuses and the rest are skipped while parsing).
#[derive(Debug, Deserialize)]
struct Task {
    id: String,
    #[serde(default)]
    slave_id: String,
    #[serde(default)]
    state: String,
}

/// Attribute values are text or scalars; Galley compares them as text.
fn attribute_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

impl From<State> for MesosState {
    fn from(s: State) -> Self {
        let slaves = s
            .slaves
            .into_iter()
            .map(|sl| MesosSlave {
                id: sl.id,
                hostname: sl.hostname,
                attributes: sl
                    .attributes
                    .into_iter()
                    .map(|(k, v)| (k, attribute_text(v)))
                    .collect(),
            })
            .collect();
        let tasks = s
            .frameworks
            .into_iter()
            .flat_map(|f| f.tasks)
            .map(|t| MesosTask {
                id: t.id,
                slave_id: t.slave_id,
                state: task_state(t.state),
            })
            .collect();
        MesosState { slaves, tasks }
    }
}
