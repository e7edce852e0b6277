//! The Marathon app definition PaaSTA v0.19.9's `format_marathon_app_dict` builds for one
//! instance (spec §3.3–§3.4), its config hash and app id.
//!
//! [`render`] is pure: the deployment state, the system settings and the Mesos slaves'
//! attributes arrive as data. The app dict uses PaaSTA's own key names (snake_case at the top,
//! camelCase inside `container` and `health_checks`); [`MarathonApp::to_wire_json`] renames
//! the top-level keys as marathon-python did for the HTTP body.

use serde_json::{Map, Value};

use crate::app_id::{self, InvalidJobNameError};
use crate::branch_state::BranchState;
use crate::constraints::{self, CalculateError, ConstraintInputs, SlaveAttributes};
use crate::marathon_config::HealthcheckMode;
use crate::smartstack::ServiceNamespaceConfig;
use crate::soa::{ConfigError, InstanceConfig};
use crate::system_config::SystemConfigError;

/// The container port every PaaSTA service listens on.
pub const CONTAINER_PORT: i64 = 8888;

/// Top-level keys left out of the config hash: Marathon can change them without a bounce.
pub const CONFIG_HASH_BLACKLIST: &[&str] = &[
    "instances",
    "backoff_seconds",
    "min_instances",
    "max_instances",
];

/// Default `dockercfg_location` of the system config.
pub const DEFAULT_DOCKERCFG_LOCATION: &str = "file:///root/.dockercfg";

/// The system-config values the app definition needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSettings {
    /// `docker_registry`, e.g. `docker-paasta.yelpcorp.com:443`.
    pub docker_registry: String,
    /// `volumes`: `{containerPath, hostPath, mode}` mappings mounted into every container.
    pub volumes: Vec<Value>,
    /// `dockercfg_location`, fetched by Mesos as the app's only URI.
    pub dockercfg_location: String,
}

impl SystemSettings {
    /// Reads the settings from the merged system config; `dir` names it in errors.
    /// `docker_registry` and `volumes` are required, as in PaaSTA.
    pub fn from_system_config(
        config: &Map<String, Value>,
        dir: &str,
    ) -> Result<Self, SystemConfigError> {
        let missing = |key: &str| SystemConfigError::Missing {
            dir: dir.to_string(),
            key: key.to_string(),
        };
        let docker_registry = match config.get("docker_registry") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(missing("docker_registry")),
        };
        let volumes = match config.get("volumes") {
            Some(Value::Array(v)) => v.clone(),
            _ => return Err(missing("volumes")),
        };
        let dockercfg_location = match config.get("dockercfg_location") {
            Some(Value::String(s)) => s.clone(),
            _ => DEFAULT_DOCKERCFG_LOCATION.to_string(),
        };
        Ok(Self {
            docker_registry,
            volumes,
            dockercfg_location,
        })
    }
}

/// Everything [`render`] reads.
#[derive(Debug, Clone, Copy)]
pub struct AppInputs<'a> {
    /// The instance's merged config.
    pub instance: &'a InstanceConfig,
    /// The smartstack namespace of the instance's `nerve_ns`.
    pub namespace: &'a ServiceNamespaceConfig,
    /// What deployments.json says to run.
    pub deployment: &'a BranchState,
    /// System config values.
    pub system: &'a SystemSettings,
    /// Attributes of every Mesos slave (consulted only without explicit `constraints`).
    pub slaves: &'a [SlaveAttributes],
    /// The autoscaler's instance count (PaaSTA's ZooKeeper node), used with `max_instances`.
    pub autoscaled_instances: Option<i64>,
}

/// A rendered app.
#[derive(Debug, Clone, PartialEq)]
pub struct MarathonApp {
    /// `<svc>.<inst>.git<sha8>.config<hash8>`, formatted.
    pub id: String,
    /// `git<sha8>`.
    pub code_sha: String,
    /// `config<hash8>`.
    pub config_hash: String,
    /// The exact text that was md5-hashed.
    pub hash_input: String,
    /// PaaSTA's app dict, `id` included (added last, as PaaSTA did).
    pub dict: Map<String, Value>,
}

impl MarathonApp {
    /// `instances` of the dict.
    pub fn instances(&self) -> i64 {
        self.dict
            .get("instances")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// The HTTP body marathon-python sent: top-level keys camel-cased (`health_checks` →
    /// `healthChecks`), and, as its `to_json(minimal=True)`, top-level values that are null or
    /// empty dropped (false and 0 kept). Nested values are left as PaaSTA built them.
    ///
    /// One deliberate difference: constraint values are sent as strings (`["pool", "LIKE",
    /// 2]` goes as `["pool", "LIKE", "2"]`, Python's `str()` of the value), because Marathon
    /// refuses any other type ("Constraint definition must be an array of strings") where
    /// PaaSTA sent the YAML's type and failed. The config hash is PaaSTA's, over the values as
    /// written.
    pub fn to_wire_json(&self) -> Value {
        let mut entries: Vec<(String, Value)> = self
            .dict
            .iter()
            .filter(|(_, v)| !is_python_falsy(v))
            .map(|(k, v)| {
                let v = match (k.as_str(), v) {
                    ("constraints", Value::Array(list)) => Value::Array(
                        list.iter()
                            .map(|c| match wire_constraint(c) {
                                Ok(fields) => fields.into_iter().map(Value::String).collect(),
                                Err(_) => c.clone(),
                            })
                            .collect(),
                    ),
                    _ => v.clone(),
                };
                (to_camel_case(k), v)
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Object(entries.into_iter().collect())
    }
}

/// A constraint's fields as Marathon takes them: strings, scalars as Python's `str()`.
fn wire_constraint(c: &Value) -> Result<Vec<String>, String> {
    match c {
        Value::Array(fields) => fields.iter().map(constraints::py2_str).collect(),
        other => Err(format!("must be a list, found {other}")),
    }
}

/// marathon-python's `to_camel_case`: every `_x` after the first character becomes `X`.
pub fn to_camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars().peekable();
    if let Some(first) = chars.next() {
        out.push(first);
    }
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(next) if c == '_' && next.is_ascii_alphabetic() => {
                out.push(next.to_ascii_uppercase());
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_python_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Why an app definition could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarathonAppError {
    /// A bad instance setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// deployments.json has no image for the instance (PaaSTA's `NoDockerImageError`).
    #[error("Docker url not available because there is no docker_image")]
    NoDockerImage {
        /// Service name.
        service: String,
        /// Instance name.
        instance: String,
    },
    /// No Mesos slaves to count discover locations over.
    #[error(transparent)]
    NoSlavesAvailable(#[from] constraints::NoSlavesAvailable),
    /// The app id could not be composed (cannot happen with a well-formed image).
    #[error(transparent)]
    InvalidJobName(#[from] InvalidJobNameError),
}

impl MarathonAppError {
    /// The message setup_marathon_job reported for this error, where it had a special one.
    pub fn setup_message(&self) -> Option<String> {
        match self {
            MarathonAppError::NoDockerImage { service, instance } => {
                Some(no_docker_image_message(service, instance))
            }
            _ => None,
        }
    }
}

/// setup_marathon_job's status message when deployments.json has no image for `S.I`
/// (PaaSTA appended a newline, dropped here).
pub fn no_docker_image_message(service: &str, instance: &str) -> String {
    format!(
        "Docker image for {service}.{instance} not in deployments.json. Exiting. Has Jenkins deployed it?"
    )
}

/// `get_docker_url`: `<registry>/<image>`; an empty image is an error.
pub fn docker_url(registry: &str, docker_image: &str) -> Option<String> {
    (!docker_image.is_empty()).then(|| format!("{registry}/{docker_image}"))
}

/// `format_marathon_app_dict` of v0.19.9, plus the config hash and id.
pub fn render(inputs: &AppInputs<'_>) -> Result<MarathonApp, MarathonAppError> {
    let inst = inputs.instance;
    let docker_url = docker_url(
        &inputs.system.docker_registry,
        &inputs.deployment.docker_image,
    )
    .ok_or_else(|| MarathonAppError::NoDockerImage {
        service: inst.service.clone(),
        instance: inst.instance.clone(),
    })?;
    let mut dict = Map::new();
    dict.insert("container".into(), container(inputs, &docker_url)?);
    dict.insert(
        "uris".into(),
        Value::Array(vec![inputs.system.dockercfg_location.clone().into()]),
    );
    let autoscaled = inputs.autoscaled_instances;
    dict.insert(
        "backoff_seconds".into(),
        inst.backoff_seconds(inputs.deployment.desired_state, autoscaled)?
            .into(),
    );
    dict.insert("backoff_factor".into(), 2.into());
    dict.insert(
        "health_checks".into(),
        health_checks(inst, inputs.namespace)?,
    );
    dict.insert("env".into(), Value::Object(inst.env()?));
    dict.insert("mem".into(), inst.mem()?.into());
    dict.insert("cpus".into(), inst.cpus()?.into());
    dict.insert("disk".into(), inst.disk()?.into());
    dict.insert("constraints".into(), constraints(inputs)?);
    let instances = inst.desired_instances(inputs.deployment.desired_state, autoscaled)?;
    dict.insert("instances".into(), instances.into());
    dict.insert("cmd".into(), inst.cmd()?.map_or(Value::Null, Value::from));
    dict.insert("args".into(), inst.args()?.map_or(Value::Null, Value::from));
    if let Some(roles) = inst.accepted_resource_roles()? {
        dict.insert("accepted_resource_roles".into(), roles.into());
    }

    let code_sha = app_id::code_sha_from_docker_url(&docker_url);
    let hashed: Map<String, Value> = dict
        .iter()
        .filter(|(k, _)| !CONFIG_HASH_BLACKLIST.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let force_bounce = inputs.deployment.force_bounce.as_deref();
    let hashed = Value::Object(hashed);
    let hash_input = app_id::config_hash_input(&hashed, force_bounce);
    let config_hash = app_id::config_hash_of_input(&hash_input);
    let id = app_id::format_job_id(
        &inst.service,
        &inst.instance,
        Some(&code_sha),
        Some(&config_hash),
    )?;
    dict.insert("id".into(), id.clone().into());
    Ok(MarathonApp {
        id,
        code_sha,
        config_hash,
        hash_input,
        dict,
    })
}

fn container(inputs: &AppInputs<'_>, docker_url: &str) -> Result<Value, MarathonAppError> {
    let inst = inputs.instance;
    let network = inst.mesos_network()?;
    let mut docker = Map::new();
    docker.insert("image".into(), docker_url.into());
    docker.insert("network".into(), network.clone().into());
    let mut swap = Map::new();
    swap.insert("key".into(), "memory-swap".into());
    swap.insert("value".into(), inst.mem_swap()?.into());
    docker.insert("parameters".into(), Value::Array(vec![Value::Object(swap)]));
    if network == "BRIDGE" {
        let mut mapping = Map::new();
        mapping.insert("containerPort".into(), CONTAINER_PORT.into());
        mapping.insert("hostPort".into(), 0.into());
        mapping.insert("protocol".into(), "tcp".into());
        docker.insert(
            "portMappings".into(),
            Value::Array(vec![Value::Object(mapping)]),
        );
    }
    let mut volumes = inputs.system.volumes.clone();
    volumes.extend(inst.extra_volumes()?);
    let mut container = Map::new();
    container.insert("docker".into(), Value::Object(docker));
    container.insert("type".into(), "DOCKER".into());
    container.insert("volumes".into(), Value::Array(volumes));
    Ok(Value::Object(container))
}

/// `get_healthchecks`: one Marathon health check per mode, none without a mode.
pub fn health_checks(
    inst: &InstanceConfig,
    ns: &ServiceNamespaceConfig,
) -> Result<Value, ConfigError> {
    let Some(mode) = inst.healthcheck_mode(ns)? else {
        return Ok(Value::Array(Vec::new()));
    };
    let mut check = Map::new();
    match mode {
        HealthcheckMode::Http => {
            check.insert("protocol".into(), "HTTP".into());
            check.insert("path".into(), inst.healthcheck_uri(ns)?.into());
        }
        HealthcheckMode::Tcp => {
            check.insert("protocol".into(), "TCP".into());
        }
        HealthcheckMode::Cmd => {
            check.insert("protocol".into(), "COMMAND".into());
            let mut command = Map::new();
            command.insert("value".into(), inst.healthcheck_cmd()?.into());
            check.insert("command".into(), Value::Object(command));
        }
    }
    let grace = inst.healthcheck_grace_period_seconds()?;
    check.insert("gracePeriodSeconds".into(), grace.into());
    check.insert(
        "intervalSeconds".into(),
        inst.healthcheck_interval_seconds()?.into(),
    );
    if mode != HealthcheckMode::Cmd {
        check.insert("portIndex".into(), 0.into());
    }
    check.insert(
        "timeoutSeconds".into(),
        inst.healthcheck_timeout_seconds()?.into(),
    );
    let failures = inst.healthcheck_max_consecutive_failures()?;
    check.insert("maxConsecutiveFailures".into(), failures.into());
    Ok(Value::Array(vec![Value::Object(check)]))
}

/// Marathon 1.4's constraint operators (`mesosphere.marathon.api.v2.Validation`,
/// `Protos.Constraint.Operator`).
const CONSTRAINT_OPERATORS: &[&str] =
    &["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER"];

/// `get_calculated_constraints`: explicit `constraints` verbatim (slaves not consulted; the
/// config hash sees them as PaaSTA did, e.g. `["pool", "LIKE", 2]`), else computed. An explicit
/// constraint Marathon would refuse whatever its values' types — not 2 or 3 fields, an unknown
/// operator, a list or mapping inside — is refused here, naming the key.
fn constraints(inputs: &AppInputs<'_>) -> Result<Value, MarathonAppError> {
    let inst = inputs.instance;
    if let Some(explicit) = inst.constraints()? {
        for (i, c) in explicit.iter().enumerate() {
            let key = format!("constraints[{i}]");
            let fields =
                wire_constraint(c).map_err(|m| MarathonAppError::Config(inst.bad(&key, m)))?;
            if !(2..=3).contains(&fields.len()) {
                return Err(MarathonAppError::Config(inst.bad(
                    &key,
                    format!(
                        "must have 2 or 3 fields (field, operator[, value]), found {}",
                        fields.len()
                    ),
                )));
            }
            if !CONSTRAINT_OPERATORS.contains(&fields[1].as_str()) {
                return Err(MarathonAppError::Config(inst.bad(
                    &key,
                    format!(
                        "operator {:?} is not one of {}",
                        fields[1],
                        CONSTRAINT_OPERATORS.join(", ")
                    ),
                )));
            }
        }
        return Ok(Value::Array(explicit));
    }
    let extra = inst.extra_constraints()?;
    let blacklist = inst.deploy_blacklist()?;
    let whitelist = inst.deploy_whitelist()?;
    let pool = inst.pool()?;
    let computed = constraints::calculated_constraints(
        &ConstraintInputs {
            extra_constraints: &extra,
            discover: inputs.namespace.discover(),
            blacklist: &blacklist,
            whitelist: whitelist.as_ref(),
            pool: &pool,
        },
        inputs.slaves,
    )
    .map_err(|e| match e {
        CalculateError::BadExtraConstraint(message) => {
            MarathonAppError::Config(inst.bad("extra_constraints", message))
        }
        CalculateError::NoSlaves(e) => MarathonAppError::NoSlavesAvailable(e),
    })?;
    Ok(computed.into_iter().map(Value::from).collect())
}

#[cfg(test)]
mod tests;
