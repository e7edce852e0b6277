//! Marathon 1.4's internal instance JSON (`core/instance/Instance.scala`,
//! `instanceJsonWrites`, with `Task.TaskFormat`, `Task.Status.statusFormat`, `Condition`'s
//! `Json.format` and `Formats.TaskStatusNetworkInfoWrites`), which 1.4.x answers
//! `DELETE /v2/apps/{id}/tasks[/{taskId}]` without `scale` with (`AppTasksResource`). Mesos
//! protobufs inside it (the task's last status, the agent's attributes) are base64 of their
//! wire encoding, as Marathon stores them.

use serde_json::{Map, Value, json};

use super::ids::{base64, ts};
use super::state::{Cluster, Task, TaskState};

/// Minimal protobuf wire encoding for the few Mesos messages the instance JSON embeds.
struct Proto(Vec<u8>);

impl Proto {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint((field << 3) | wire);
    }

    fn uint(mut self, field: u64, v: u64) -> Self {
        self.key(field, 0);
        self.varint(v);
        self
    }

    fn double(mut self, field: u64, v: f64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes(mut self, field: u64, v: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    fn string(self, field: u64, v: &str) -> Self {
        self.bytes(field, v.as_bytes())
    }

    /// A message holding one string in field 1 (`TaskID`, `SlaveID`, `Value.Text`).
    fn wrapped(self, field: u64, v: &str) -> Self {
        let inner = Proto::new().string(1, v);
        self.bytes(field, &inner.0)
    }
}

/// `mesos.TaskState` numbers.
fn mesos_state(state: TaskState) -> u64 {
    match state {
        TaskState::Staging => 6,
        TaskState::Running => 1,
    }
}

/// A Mesos `Attribute`: SCALAR when the value is a number, else TEXT (as the agent parses
/// `--attributes`).
fn attribute(name: &str, value: &str) -> String {
    let p = Proto::new().string(1, name);
    let p = match value.parse::<f64>() {
        Ok(x) => {
            let scalar = Proto::new().double(1, x);
            p.uint(2, 0).bytes(3, &scalar.0)
        }
        Err(_) => p.uint(2, 3).wrapped(5, value),
    };
    base64(&p.0)
}

/// `Condition` as `Json.format[Condition]` writes it: `{"str": "<lowercase name>"}`.
fn condition(state: TaskState) -> Value {
    let name = match state {
        TaskState::Staging => "staging",
        TaskState::Running => "running",
    };
    json!({ "str": name })
}

impl Cluster {
    /// The task's last Mesos `TaskStatus`, base64 (`task_id`, `state`, `slave_id`, `timestamp`).
    fn mesos_status(&self, t: &Task) -> String {
        let at = t.started_at.unwrap_or(t.staged_at);
        let p = Proto::new()
            .wrapped(1, &t.id)
            .uint(2, mesos_state(t.state))
            .wrapped(5, &t.slave_id)
            .double(6, at.timestamp_millis() as f64 / 1000.0);
        base64(&p.0)
    }

    /// `Task.LaunchedEphemeral` (`Json.format`: `None` options left out).
    fn internal_task_json(&self, t: &Task) -> Value {
        let mut status = Map::new();
        status.insert("stagedAt".into(), json!(ts(t.staged_at)));
        if let Some(s) = t.started_at {
            status.insert("startedAt".into(), json!(ts(s)));
        }
        status.insert("mesosStatus".into(), json!(self.mesos_status(t)));
        status.insert("condition".into(), condition(t.state));
        status.insert(
            "networkInfo".into(),
            json!({
                "hostName": t.host, "hostPorts": t.ports,
                "ipAddresses": [{ "ipAddress": t.ip, "protocol": "IPv4" }],
            }),
        );
        json!({ "taskId": t.id, "runSpecVersion": t.version, "status": status })
    }

    /// One task's instance (`instanceJsonWrites`): id, agent, tasks by id, version, state
    /// (condition since its last change, `activeSince` once started; `healthy` only comes
    /// from Mesos health checks, which the emulator does not run) and the app's
    /// unreachable strategy.
    pub fn instance_json(&self, t: &Task) -> Value {
        let attributes: Vec<String> = self
            .agents
            .iter()
            .find(|a| a.id == t.slave_id)
            .map(|a| {
                a.spec
                    .attributes
                    .iter()
                    .map(|(k, v)| attribute(k, v))
                    .collect()
            })
            .unwrap_or_default();
        let mut state = Map::new();
        state.insert("condition".into(), condition(t.state));
        state.insert(
            "since".into(),
            json!(ts(t.started_at.unwrap_or(t.staged_at))),
        );
        if let Some(s) = t.started_at {
            state.insert("activeSince".into(), json!(ts(s)));
        }
        let unreachable = self
            .apps
            .get(&t.app_id)
            .and_then(|a| a.def.get("unreachableStrategy").cloned())
            .unwrap_or_else(|| json!({ "inactiveAfterSeconds": 0, "expungeAfterSeconds": 0 }));
        let mut tasks = Map::new();
        tasks.insert(t.id.clone(), self.internal_task_json(t));
        json!({
            "instanceId": { "idString": t.instance_id },
            "agentInfo": { "host": t.host, "agentId": t.slave_id, "attributes": attributes },
            "tasksMap": tasks,
            "runSpecVersion": t.version,
            "state": state,
            "unreachableStrategy": unreachable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_encode_as_mesos_protobufs() {
        // name "a", type TEXT (3), text { value "b" }
        assert_eq!(
            attribute("a", "b"),
            base64(&[0x0a, 1, b'a', 0x10, 3, 0x2a, 3, 0x0a, 1, b'b'])
        );
        let scalar = attribute("n", "2");
        assert_eq!(
            scalar,
            base64(&[
                0x0a, 1, b'n', 0x10, 0, 0x1a, 9, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40
            ])
        );
    }
}
