//! `/master/state` as it comes off the wire (only what Galley reads).

use std::collections::BTreeMap;

use galley_common::observed::{MesosSlave, MesosState, MesosTask};
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
    id: String,
    #[serde(default)]
    tasks: Vec<Task>,
}

#[derive(Debug, Deserialize)]
struct Task {
    id: String,
    #[serde(default)]
    slave_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    container_status: Option<ContainerStatus>,
}

#[derive(Debug, Deserialize)]
struct ContainerStatus {
    #[serde(default)]
    container_id: Option<ContainerId>,
}

#[derive(Debug, Deserialize)]
struct ContainerId {
    value: String,
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
            .flat_map(|f| {
                let fid = f.id;
                f.tasks.into_iter().map(move |t| MesosTask {
                    container_id: t.statuses.iter().rev().find_map(|st| {
                        st.container_status
                            .as_ref()?
                            .container_id
                            .as_ref()
                            .map(|c| c.value.clone())
                    }),
                    id: t.id,
                    framework_id: fid.clone(),
                    slave_id: t.slave_id,
                    state: t.state,
                })
            })
            .collect();
        MesosState { slaves, tasks }
    }
}
