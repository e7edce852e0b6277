//! Service ports as Marathon 1.4.13 assigns and writes them: `AppDefinition.servicePorts` (the
//! port mappings' service ports when there are mappings, else the port definitions' ports),
//! `GroupManagerActor.assignDynamicServicePorts` (each 0 becomes a port of the old definition
//! that the new one no longer uses, else the lowest free port of `[local_port_min,
//! local_port_max)`, and the port definitions take the service ports) and `AppDefWrites`
//! (`ports` lists the service ports; `portDefinitions` are zipped with them, so a BRIDGE app
//! keeps its port definitions, carrying its port mappings' service ports).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Map, Value, json};

use super::state::Cluster;

/// `--local_port_min`.
pub const LOCAL_PORT_MIN: u64 = 10000;
/// `--local_port_max` (exclusive, as Scala's `Range`).
pub const LOCAL_PORT_MAX: u64 = 20000;

fn mappings(def: &Map<String, Value>) -> Option<&Vec<Value>> {
    def.get("container")?
        .get("docker")?
        .get("portMappings")?
        .as_array()
        .filter(|m| !m.is_empty())
}

/// `AppDefinition.servicePorts`.
pub fn service_ports(def: &Map<String, Value>) -> Vec<u64> {
    let port = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    match mappings(def) {
        Some(m) => m.iter().map(|pm| port(pm, "servicePort")).collect(),
        None => def
            .get("portDefinitions")
            .and_then(Value::as_array)
            .map(|pds| pds.iter().map(|pd| port(pd, "port")).collect())
            .unwrap_or_default(),
    }
}

/// `portDefinitions.zipAll(servicePorts, PortDefinition(0), 0)` with each port replaced; no
/// port definitions stay none (`mergeServicePortsAndPortDefinitions`).
fn merged_definitions(defs: &[Value], ports: &[u64]) -> Vec<Value> {
    if defs.is_empty() {
        return Vec::new();
    }
    let random = json!({ "port": 0, "protocol": "tcp", "labels": {} });
    (0..defs.len().max(ports.len()))
        .map(|i| {
            let mut pd = defs.get(i).cloned().unwrap_or_else(|| random.clone());
            pd["port"] = json!(ports.get(i).copied().unwrap_or(0));
            pd
        })
        .collect()
}

/// Writes `ports` and `portDefinitions` as `AppDefWrites` does (apps with an `ipAddress`
/// have neither).
pub fn write_service_ports(def: &mut Map<String, Value>) {
    if !def.get("ipAddress").is_none_or(Value::is_null) {
        return;
    }
    let ports = service_ports(def);
    let defs = def
        .get("portDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    def.insert("ports".into(), json!(ports));
    def.insert(
        "portDefinitions".into(),
        Value::Array(merged_definitions(&defs, &ports)),
    );
}

/// The service ports every stored app holds, kept as apps are stored and removed, so giving
/// a new app its ports does not read every other app's definition (it did: at 10,000 apps that
/// was most of the emulator's time).
#[derive(Debug, Default)]
pub struct HeldPorts {
    by_port: BTreeMap<u64, u32>,
    by_app: HashMap<String, Vec<u64>>,
    /// Every port of `[LOCAL_PORT_MIN, LOCAL_PORT_MIN + skip)` is held: the search for the
    /// lowest free port starts after them (it scanned the held ports one by one, quadratic
    /// in apps when thousands of apps are created).
    skip: u64,
}

impl HeldPorts {
    /// `app` now holds `ports` (its stored definition's `servicePorts`).
    pub fn set(&mut self, app: &str, ports: Vec<u64>) {
        self.release(app);
        for p in &ports {
            *self.by_port.entry(*p).or_default() += 1;
        }
        self.by_app.insert(app.to_owned(), ports);
        while self.by_port.contains_key(&(LOCAL_PORT_MIN + self.skip)) {
            self.skip += 1;
        }
    }

    /// The lowest port of the local range not known to be held.
    fn first_maybe_free(&self) -> u64 {
        LOCAL_PORT_MIN + self.skip
    }

    /// `app` is gone.
    pub fn release(&mut self, app: &str) {
        for p in self.by_app.remove(app).unwrap_or_default() {
            if let Some(n) = self.by_port.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.by_port.remove(&p);
                    if (LOCAL_PORT_MIN..self.first_maybe_free()).contains(&p) {
                        self.skip = p - LOCAL_PORT_MIN;
                    }
                }
            }
        }
    }

    /// Whether an app other than `except` holds `port`.
    fn held_by_other(&self, port: u64, except: &str) -> bool {
        let all = self.by_port.get(&port).copied().unwrap_or(0) as usize;
        let own = self
            .by_app
            .get(except)
            .map_or(0, |ps| ps.iter().filter(|p| **p == port).count());
        all > own
    }

    /// Every port held by an app other than `except`.
    #[cfg(debug_assertions)]
    fn in_use_except(&self, except: &str) -> BTreeSet<u64> {
        self.by_port
            .keys()
            .copied()
            .filter(|p| self.held_by_other(*p, except))
            .collect()
    }
}

impl Cluster {
    /// Every service port some app (other than `except`) holds, read from every definition:
    /// what [`HeldPorts`] must always equal (checked in debug builds).
    #[cfg(debug_assertions)]
    fn service_ports_in_use(&self, except: &str) -> BTreeSet<u64> {
        self.apps
            .iter()
            .filter(|(id, _)| id.as_str() != except)
            .flat_map(|(_, a)| service_ports(&a.def))
            .collect()
    }

    /// Gives a new or changed definition its service ports (`assignDynamicServicePorts`);
    /// `taken` holds the ports already given in the same change.
    pub fn assign_service_ports(
        &self,
        app_id: &str,
        target: &mut Map<String, Value>,
        original: Option<&Map<String, Value>>,
        taken: &mut BTreeSet<u64>,
    ) {
        let wanted = service_ports(target);
        #[cfg(debug_assertions)]
        debug_assert_eq!(
            self.held_ports.in_use_except(app_id),
            self.service_ports_in_use(app_id),
            "the held service ports index drifted from the stored apps"
        );
        taken.extend(wanted.iter().copied().filter(|p| *p != 0));
        let held = &self.held_ports;
        let range = LOCAL_PORT_MIN..LOCAL_PORT_MAX;
        // Ports below `first_maybe_free` are all held; those held by this app itself are in
        // `wanted` (taken) or `reusable` (used first), so the search may start there.
        let search = held.first_maybe_free().min(LOCAL_PORT_MAX)..LOCAL_PORT_MAX;
        let mut reusable: VecDeque<u64> = original
            .map(service_ports)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| range.contains(p) && !wanted.contains(p))
            .collect();
        let assigned: Vec<u64> = wanted
            .iter()
            .map(|&p| {
                if p != 0 {
                    return p;
                }
                let port = reusable
                    .pop_front()
                    .or_else(|| {
                        search
                            .clone()
                            .find(|c| !taken.contains(c) && !held.held_by_other(*c, app_id))
                    })
                    .unwrap_or(0);
                taken.insert(port);
                port
            })
            .collect();
        if let Some(list) = target
            .get_mut("container")
            .and_then(|c| c.get_mut("docker"))
            .and_then(|d| d.get_mut("portMappings"))
            .and_then(Value::as_array_mut)
        {
            for (pm, port) in list.iter_mut().zip(&assigned) {
                pm["servicePort"] = json!(port);
            }
        }
        let defs = target
            .get("portDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if target.contains_key("portDefinitions") {
            target.insert(
                "portDefinitions".into(),
                Value::Array(merged_definitions(&defs, &assigned)),
            );
        }
        write_service_ports(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_apps_keep_port_definitions_with_mapping_service_ports() {
        let mut def = json!({
            "container": { "docker": { "portMappings": [
                { "containerPort": 8888, "servicePort": 10005 },
                { "containerPort": 9999, "servicePort": 10006 },
            ] } },
            "ipAddress": null,
            "portDefinitions": [{ "port": 0, "protocol": "tcp", "name": "default", "labels": {} }],
        });
        let def = def.as_object_mut().expect("object");
        write_service_ports(def);
        assert_eq!(def["ports"], json!([10005, 10006]));
        assert_eq!(
            def["portDefinitions"],
            json!([
                { "port": 10005, "protocol": "tcp", "name": "default", "labels": {} },
                { "port": 10006, "protocol": "tcp", "labels": {} },
            ])
        );
    }
}
