//! The typed view of a normalised App JSON that the simulation needs (resources, constraints,
//! health checks, upgrade strategy, backoff, ports, env).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One constraint `[field, OP, value?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// `hostname` or an agent attribute.
    pub field: String,
    /// Operator (`UNIQUE`, `CLUSTER`, `GROUP_BY`, `LIKE`, `UNLIKE`, `MAX_PER`).
    pub op: String,
    /// Operator argument.
    pub value: Option<String>,
}

/// The first health check's timing (Marathon runs every check; one is enough to simulate).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSpec {
    /// `gracePeriodSeconds`.
    pub grace_seconds: f64,
    /// `intervalSeconds`.
    pub interval_seconds: f64,
    /// `maxConsecutiveFailures` (0 = never kill).
    pub max_failures: u64,
}

/// A port the task needs on its agent.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    /// Required host port, or 0 for any from the agent's range.
    pub host_port: u16,
    /// containerPort (port mappings) or declared port (port definitions), for `PORT_<n>`.
    pub key: u16,
    /// Optional name, for `PORT_<NAME>`.
    pub name: Option<String>,
    /// Service port.
    pub service_port: u16,
}

/// What the simulation reads from an App.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub id: String,
    pub instances: u32,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: f64,
    /// `acceptedResourceRoles` (empty: Marathon's default roles).
    pub accepted_roles: Vec<String>,
    pub constraints: Vec<Constraint>,
    pub health: Option<HealthSpec>,
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortSpec>,
    pub oldest_first: bool,
    pub docker_parameters: Vec<(String, String)>,
}

fn f(v: &Value, default: f64) -> f64 {
    v.as_f64().unwrap_or(default)
}

fn port(v: &Value) -> u16 {
    v.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0)
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl AppSpec {
    /// Reads the view from a normalised app (see `validate::normalize_app`).
    pub fn from_app(app: &Map<String, Value>) -> Self {
        let get = |k: &str| app.get(k).unwrap_or(&Value::Null);
        let docker = &get("container")["docker"];
        let constraints = get("constraints")
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| {
                        let c = c.as_array()?;
                        Some(Constraint {
                            field: c.first()?.as_str()?.to_string(),
                            op: c.get(1)?.as_str()?.to_string(),
                            value: c.get(2).and_then(Value::as_str).map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let health = get("healthChecks")
            .as_array()
            .and_then(|h| h.first())
            .map(|hc| HealthSpec {
                grace_seconds: f(&hc["gracePeriodSeconds"], 300.0),
                interval_seconds: f(&hc["intervalSeconds"], 60.0).max(1.0),
                max_failures: hc["maxConsecutiveFailures"].as_u64().unwrap_or(3),
            });
        let require_ports = get("requirePorts").as_bool().unwrap_or(false);
        let mut ports: Vec<PortSpec> = docker["portMappings"]
            .as_array()
            .map(|pms| {
                pms.iter()
                    .map(|pm| PortSpec {
                        host_port: port(&pm["hostPort"]),
                        key: port(&pm["containerPort"]),
                        name: pm["name"].as_str().map(str::to_string),
                        service_port: port(&pm["servicePort"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // `AppDefinition.hostPorts`: the port mappings when there are any, else the port
        // definitions (a BRIDGE app keeps its portDefinitions, which then name no host ports).
        if let Some(defs) = get("portDefinitions")
            .as_array()
            .filter(|_| ports.is_empty())
        {
            ports.extend(defs.iter().map(|pd| PortSpec {
                host_port: if require_ports { port(&pd["port"]) } else { 0 },
                key: port(&pd["port"]),
                name: pd["name"].as_str().map(str::to_string),
                service_port: port(&pd["port"]),
            }));
        }
        let docker_parameters = docker["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        Some((
                            p["key"].as_str()?.to_string(),
                            p["value"].as_str().unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: get("id").as_str().unwrap_or("/").to_string(),
            instances: get("instances")
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            cpus: f(get("cpus"), 1.0),
            mem: f(get("mem"), 128.0),
            disk: f(get("disk"), 0.0),
            gpus: f(get("gpus"), 0.0),
            accepted_roles: get("acceptedResourceRoles")
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            constraints,
            health,
            minimum_health_capacity: f(&get("upgradeStrategy")["minimumHealthCapacity"], 1.0),
            maximum_over_capacity: f(&get("upgradeStrategy")["maximumOverCapacity"], 1.0),
            backoff_seconds: f(get("backoffSeconds"), 1.0),
            backoff_factor: f(get("backoffFactor"), 1.15),
            max_launch_delay_seconds: f(get("maxLaunchDelaySeconds"), 3600.0),
            image: docker["image"].as_str().unwrap_or("").to_string(),
            env: string_map(get("env")),
            labels: string_map(get("labels")),
            ports,
            oldest_first: get("killSelection").as_str() == Some("OLDEST_FIRST"),
            docker_parameters,
        }
    }
}

/// The fields whose change makes a deployment a RestartApplication rather than a
/// ScaleApplication: everything but `instances`, `version` and `versionInfo`.
pub fn config_differs(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let strip = |m: &Map<String, Value>| {
        let mut m = m.clone();
        for k in ["instances", "version", "versionInfo"] {
            m.remove(k);
        }
        m
    };
    strip(a) != strip(b)
}

/// Formats a double the way the JVM does for `MARATHON_APP_RESOURCE_*` (`0.1`, `128.0`).
pub fn jvm_double(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}
