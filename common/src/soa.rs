//! soa-configs: one service directory of yelpsoa-configs, parsed the way PaaSTA (v0.19) and
//! service_configuration_lib read it.
//!
//! The caller reads the files (see [`SERVICE_FILES`] and [`is_instance_file`]) and hands their
//! text here as a [`ServiceSource`]; everything below is pure. Errors name the file (relative
//! to the soa dir) and, where there is one, the key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::merge::{deep_merge, format_placeholders};
use crate::yaml;

/// Files of a service directory that feed "read service configuration", besides the
/// `marathon-*.yaml`/`chronos-*.yaml` instance files.
pub const SERVICE_FILES: &[&str] = &[
    "service.yaml",
    "smartstack.yaml",
    "monitoring.yaml",
    "deploy.yaml",
    "data.yaml",
    "lb.yaml",
    "port",
    "vip",
];

/// Default git URL of a service when service.yaml has no `git_url`.
pub fn default_git_url(service: &str) -> String {
    format!("git@git.yelpcorp.com:services/{service}.git")
}

/// The scheduler an instance file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceKind {
    /// `marathon-<cluster>.yaml`: long-running services.
    Marathon,
    /// `chronos-<cluster>.yaml`: scheduled jobs (they take part in deploy-group discovery).
    Chronos,
}

impl InstanceKind {
    /// File-name prefix, e.g. `marathon`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceKind::Marathon => "marathon",
            InstanceKind::Chronos => "chronos",
        }
    }

    /// The instance file of this kind for `cluster`.
    pub fn file_name(self, cluster: &str) -> String {
        format!("{}-{cluster}.yaml", self.as_str())
    }
}

/// If `file_name` is an instance file (`^(marathon|chronos)-([0-9a-z-_]*)\.yaml$`, so
/// upper-case names such as `marathon-SHARED.yaml` never match), its kind and cluster.
pub fn is_instance_file(file_name: &str) -> Option<(InstanceKind, &str)> {
    let stem = file_name.strip_suffix(".yaml")?;
    let (kind, cluster) = if let Some(c) = stem.strip_prefix("marathon-") {
        (InstanceKind::Marathon, c)
    } else if let Some(c) = stem.strip_prefix("chronos-") {
        (InstanceKind::Chronos, c)
    } else {
        return None;
    };
    cluster
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-' || b == b'_')
        .then_some((kind, cluster))
}

/// A configuration problem, naming the file (relative to the soa dir) and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid YAML (PaaSTA: "Failed to parse YAML from <file>").
    #[error("failed to parse YAML from {file}")]
    Yaml {
        /// File, relative to the soa dir.
        file: String,
        /// The parser's complaint.
        #[source]
        source: yaml::YamlError,
    },
    /// A value has the wrong type or content.
    #[error("{file}: key `{key}`: {message}")]
    BadValue {
        /// File, relative to the soa dir.
        file: String,
        /// Dotted key path.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An instance that is not in its instance file.
    #[error("{instance} not found in config file {file}")]
    NoSuchInstance {
        /// File, relative to the soa dir.
        file: String,
        /// Instance name.
        instance: String,
    },
}

/// The raw files of one service directory, as read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSource {
    /// Service name (the directory name).
    pub name: String,
    /// File name → contents, for the files that exist.
    pub files: BTreeMap<String, String>,
}

/// One parsed service: its general configuration and its instance files.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Service name.
    pub name: String,
    /// `service.yaml` merged over the generated keys (`port, vip, lb_extras, monitoring, deploy,
    /// data, smartstack`); the defaults of every instance.
    pub general: Map<String, Value>,
    instance_files: BTreeMap<(String, InstanceKind), Map<String, Value>>,
}

/// One instance's effective configuration (instance overrides deep-merged over the service's
/// general configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceConfig {
    /// Service name.
    pub service: String,
    /// Cluster name.
    pub cluster: String,
    /// Instance name.
    pub instance: String,
    /// Scheduler.
    pub kind: InstanceKind,
    /// The merged dict.
    pub config: Map<String, Value>,
    /// File the instance came from, relative to the soa dir.
    pub file: String,
}

impl ServiceConfig {
    /// Parses every file of `source`. Any broken file fails the whole service (as in PaaSTA,
    /// where the exception aborts that service's run).
    pub fn parse(source: &ServiceSource) -> Result<Self, ConfigError> {
        let name = source.name.clone();
        let general = general_config(source)?;
        let mut instance_files = BTreeMap::new();
        for (file_name, text) in &source.files {
            let Some((kind, cluster)) = is_instance_file(file_name) else {
                continue;
            };
            let file = format!("{name}/{file_name}");
            let map = yaml_mapping(&file, text)?;
            instance_files.insert((cluster.to_string(), kind), map);
        }
        Ok(Self {
            name,
            general,
            instance_files,
        })
    }

    /// Clusters that have an instance file of any kind, sorted.
    pub fn clusters(&self) -> BTreeSet<&str> {
        self.instance_files
            .keys()
            .map(|(c, _)| c.as_str())
            .collect()
    }

    /// `service.yaml` `git_url`, or the default.
    pub fn git_url(&self) -> Result<String, ConfigError> {
        match self.general.get("git_url") {
            None | Some(Value::Null) => Ok(default_git_url(&self.name)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(ConfigError::BadValue {
                file: format!("{}/service.yaml", self.name),
                key: "git_url".into(),
                message: format!("must be a string, found {other}"),
            }),
        }
    }

    /// Instance names of `kind` in `cluster`, in file order.
    pub fn instance_names(&self, cluster: &str, kind: InstanceKind) -> Vec<&str> {
        self.instance_files
            .get(&(cluster.to_string(), kind))
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Every instance of every cluster: for each cluster (sorted), marathon instances then
    /// chronos instances, as PaaSTA's generate step enumerates them.
    pub fn all_instances(&self) -> Result<Vec<InstanceConfig>, ConfigError> {
        let mut out = Vec::new();
        for cluster in self.clusters() {
            for kind in [InstanceKind::Marathon, InstanceKind::Chronos] {
                for instance in self.instance_names(cluster, kind) {
                    out.push(self.instance(cluster, kind, instance)?);
                }
            }
        }
        Ok(out)
    }

    /// One instance's effective config.
    pub fn instance(
        &self,
        cluster: &str,
        kind: InstanceKind,
        instance: &str,
    ) -> Result<InstanceConfig, ConfigError> {
        let file = format!("{}/{}", self.name, kind.file_name(cluster));
        let raw = self
            .instance_files
            .get(&(cluster.to_string(), kind))
            .and_then(|m| m.get(instance))
            .ok_or_else(|| ConfigError::NoSuchInstance {
                file: file.clone(),
                instance: instance.to_string(),
            })?;
        let overrides = match raw {
            Value::Object(m) => m.clone(),
            other => {
                return Err(ConfigError::BadValue {
                    file,
                    key: instance.to_string(),
                    message: format!("an instance must be a mapping of settings, found {other}"),
                });
            }
        };
        // PaaSTA 0.19.9 deep-merges a marathon instance over service.yaml
        // (`load_marathon_service_config`), but builds a chronos job from the job's own dict
        // alone (`chronos_tools.load_chronos_job_config`): service.yaml's `deploy_group` is
        // no default for a chronos job, which falls back to `<cluster>.<job>`.
        let config = match kind {
            InstanceKind::Marathon => deep_merge(&overrides, &self.general),
            InstanceKind::Chronos => overrides,
        };
        Ok(InstanceConfig {
            service: self.name.clone(),
            cluster: cluster.to_string(),
            instance: instance.to_string(),
            kind,
            config,
            file,
        })
    }
}

impl InstanceConfig {
    /// `<cluster>.<instance>`: the control branch of start/stop tags and v2 control keys.
    pub fn control_branch(&self) -> String {
        format!("{}.{}", self.cluster, self.instance)
    }

    /// `deploy_group`, `str.format`-interpolated with `{cluster}`, `{instance}`, `{service}`;
    /// default `<cluster>.<instance>`.
    pub fn deploy_group(&self) -> Result<String, ConfigError> {
        let raw = match self.config.get("deploy_group") {
            None | Some(Value::Null) => return Ok(self.control_branch()),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(self.bad("deploy_group", format!("must be a string, found {other}")));
            }
        };
        let vars = [
            ("cluster", self.cluster.as_str()),
            ("instance", self.instance.as_str()),
            ("service", self.service.as_str()),
        ];
        format_placeholders(raw, &vars).map_err(|message| self.bad("deploy_group", message))
    }

    /// The branch whose deployments.json v1 entry this instance reads: `branch` if set, else
    /// `paasta-<cluster>.<instance>`.
    pub fn branch(&self) -> Result<String, ConfigError> {
        match self.config.get("branch") {
            None | Some(Value::Null) => Ok(format!("paasta-{}", self.control_branch())),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.bad("branch", format!("must be a string, found {other}"))),
        }
    }

    /// An error about `key` of this instance.
    pub fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::BadValue {
            file: self.file.clone(),
            key: format!("{}.{key}", self.instance),
            message: message.into(),
        }
    }
}

/// "read service configuration": service.yaml over the generated keys.
fn general_config(source: &ServiceSource) -> Result<Map<String, Value>, ConfigError> {
    let name = &source.name;
    let yaml_of = |file_name: &str| -> Result<Value, ConfigError> {
        match source.files.get(file_name) {
            None => Ok(Value::Object(Map::new())),
            Some(text) => Ok(yaml_mapping(&format!("{name}/{file_name}"), text)?.into()),
        }
    };
    let mut general = Map::new();
    let port = source
        .files
        .get("port")
        .and_then(|t| t.trim().parse::<i64>().ok());
    general.insert("port".into(), port.map(Value::from).unwrap_or(Value::Null));
    let vip = source
        .files
        .get("vip")
        .map(|t| Value::String(t.trim().to_string()));
    general.insert("vip".into(), vip.unwrap_or(Value::Null));
    general.insert("lb_extras".into(), yaml_of("lb.yaml")?);
    general.insert("monitoring".into(), yaml_of("monitoring.yaml")?);
    general.insert("deploy".into(), yaml_of("deploy.yaml")?);
    general.insert("data".into(), yaml_of("data.yaml")?);
    general.insert("smartstack".into(), yaml_of("smartstack.yaml")?);
    if let Some(text) = source.files.get("service.yaml") {
        for (k, v) in yaml_mapping(&format!("{name}/service.yaml"), text)? {
            general.insert(k, v);
        }
    }
    Ok(general)
}

/// Loads a YAML file whose top level must be a mapping; empty reads as `{}`.
pub fn yaml_mapping(file: &str, text: &str) -> Result<Map<String, Value>, ConfigError> {
    match yaml::load(text).map_err(|source| ConfigError::Yaml {
        file: file.to_string(),
        source,
    })? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        other => Err(ConfigError::BadValue {
            file: file.to_string(),
            key: "(top level)".into(),
            message: format!("must be a mapping, found {}", type_name(&other)),
        }),
    }
}

/// A short name of a JSON value's type for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests;
