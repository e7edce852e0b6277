//! Typed accessors over a Marathon instance's merged config dict (spec §1.3), with PaaSTA's
//! defaults. Each returns [`ConfigError::BadValue`] naming the file and key when the value has
//! the wrong type or an invalid value.
//!
//! A key set to `null` reads as absent (PaaSTA mostly crashed with a TypeError there), except
//! `args`, whose explicit `null` PaaSTA passed on (and hashed) as `null`.
//!
//! Keys PaaSTA only checked at setup time (`bounce_method`, `drain_method`) are returned raw;
//! see [`crate::bounce_methods`].

use serde_json::{Map, Number, Value};

use crate::constraints::DeployWhitelist;
use crate::refs::DesiredState;
use crate::smartstack::{ServiceNamespaceConfig, SmartstackMode};
use crate::soa::{ConfigError, InstanceConfig, type_name};

/// The Marathon health check an instance gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthcheckMode {
    /// HTTP GET of `healthcheck_uri` on the first port.
    Http,
    /// TCP connect to the first port.
    Tcp,
    /// `healthcheck_cmd` run in the container.
    Cmd,
}

impl From<SmartstackMode> for HealthcheckMode {
    fn from(mode: SmartstackMode) -> Self {
        match mode {
            SmartstackMode::Http => HealthcheckMode::Http,
            SmartstackMode::Tcp => HealthcheckMode::Tcp,
        }
    }
}

impl InstanceConfig {
    fn value(&self, key: &str) -> Option<&Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> ConfigError {
        self.bad(
            key,
            format!("must be {expected}, found {}", type_name(found)),
        )
    }

    fn number(&self, key: &str, default: i64) -> Result<Number, ConfigError> {
        match self.value(key) {
            None => Ok(Number::from(default)),
            Some(Value::Number(n)) => Ok(n.clone()),
            Some(other) => Err(self.wrong_type(key, "a number", other)),
        }
    }

    fn float(&self, key: &str, default: f64) -> Result<f64, ConfigError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(default)),
            Some(other) => Err(self.wrong_type(key, "a number", other)),
        }
    }

    fn count(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if i >= 0 => Ok(Some(i)),
                _ => Err(self.bad(key, format!("must be a non-negative integer, found {n}"))),
            },
            Some(other) => Err(self.wrong_type(key, "a non-negative integer", other)),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<Value>, ConfigError> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(other) => Err(self.wrong_type(key, "a list", other)),
        }
    }

    fn mapping(
        &self,
        key: &str,
        default: Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(self.wrong_type(key, "a mapping", other)),
        }
    }

    fn string_list(&self, key: &str, items: &[Value]) -> Result<Vec<String>, ConfigError> {
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.wrong_type(key, "a list of strings", other)),
            })
            .collect()
    }

    /// `instances` as configured, default 1.
    pub fn configured_instances(&self) -> Result<i64, ConfigError> {
        Ok(self.count("instances")?.unwrap_or(1))
    }

    /// `min_instances`, default 1.
    pub fn min_instances(&self) -> Result<i64, ConfigError> {
        Ok(self.count("min_instances")?.unwrap_or(1))
    }

    /// `max_instances`; set means autoscaled.
    pub fn max_instances(&self) -> Result<Option<i64>, ConfigError> {
        self.count("max_instances")
    }

    /// `get_instances`: without `max_instances`, `instances`; with it, `autoscaled` (PaaSTA's
    /// ZooKeeper `/autoscaling/<svc>/<inst>/instances`, missing → `max_instances`) clamped to
    /// `[min_instances, max_instances]`.
    pub fn instances(&self, autoscaled: Option<i64>) -> Result<i64, ConfigError> {
        match self.max_instances()? {
            None => self.configured_instances(),
            Some(max) => {
                let wanted = autoscaled.unwrap_or(max);
                Ok(self.min_instances()?.max(max.min(wanted)))
            }
        }
    }

    /// `get_desired_instances`: [`Self::instances`] when `start`, 0 when `stop`.
    pub fn desired_instances(
        &self,
        state: DesiredState,
        autoscaled: Option<i64>,
    ) -> Result<i64, ConfigError> {
        match state {
            DesiredState::Start => self.instances(autoscaled),
            DesiredState::Stop => Ok(0),
        }
    }

    /// `get_backoff_seconds`: `ceil(10 / n)` with n = `max_instances` if set, else the
    /// instances PaaSTA 0.19.9's `get_instances` returned — 0 when the desired state is
    /// `stop` — and 1 when n is 0. So a stopped instance is sent `backoffSeconds: 1` (checked
    /// against paasta-tools 0.19.9; the config hash leaves `backoff_seconds` out, so the app
    /// id does not depend on it).
    pub fn backoff_seconds(
        &self,
        state: DesiredState,
        autoscaled: Option<i64>,
    ) -> Result<i64, ConfigError> {
        let n = match (self.max_instances()?, state) {
            (_, DesiredState::Stop) => 0,
            (Some(max), DesiredState::Start) => max,
            (None, DesiredState::Start) => self.instances(autoscaled)?,
        };
        Ok(if n == 0 { 1 } else { (10 + n - 1) / n })
    }

    /// `backoff_factor`, default 2 (read from config from v0.34; v0.19.9 always sent 2).
    pub fn backoff_factor(&self) -> Result<Number, ConfigError> {
        self.number("backoff_factor", 2)
    }

    /// `max_launch_delay_seconds`, default 300 (v0.34; v0.19.9 did not send it).
    pub fn max_launch_delay_seconds(&self) -> Result<Number, ConfigError> {
        self.number("max_launch_delay_seconds", 300)
    }

    /// `cpus`, default 0.25.
    pub fn cpus(&self) -> Result<f64, ConfigError> {
        self.float("cpus", 0.25)
    }

    /// `mem` in MB, default 1024.
    pub fn mem(&self) -> Result<f64, ConfigError> {
        self.float("mem", 1024.0)
    }

    /// `disk` in MB, default 1024.
    pub fn disk(&self) -> Result<f64, ConfigError> {
        self.float("disk", 1024.0)
    }

    /// The docker `memory-swap` parameter: `"<ceil(mem)>m"`, so the container cannot swap.
    pub fn mem_swap(&self) -> Result<String, ConfigError> {
        Ok(format!("{}m", self.mem()?.ceil() as i64))
    }

    /// `cmd`, default none.
    pub fn cmd(&self) -> Result<Option<String>, ConfigError> {
        self.string("cmd")
    }

    /// `args`: default `[]` without `cmd`, none with it; both set is an error.
    pub fn args(&self) -> Result<Option<Vec<String>>, ConfigError> {
        let raw = self.config.get("args");
        if self.cmd()?.is_some() {
            return match raw {
                None | Some(Value::Null) => Ok(None),
                Some(_) => Err(self.bad(
                    "args",
                    "Instance configuration can specify cmd or args, but not both.",
                )),
            };
        }
        match raw {
            None => Ok(Some(Vec::new())),
            Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(self.string_list("args", items)?)),
            Some(other) => Err(self.wrong_type("args", "a list of strings", other)),
        }
    }

    /// `PAASTA_SERVICE`, `PAASTA_INSTANCE`, `PAASTA_CLUSTER`, then `env` (which may override
    /// them). Values must be strings.
    pub fn env(&self) -> Result<Map<String, Value>, ConfigError> {
        let mut env = Map::new();
        env.insert("PAASTA_SERVICE".into(), self.service.clone().into());
        env.insert("PAASTA_INSTANCE".into(), self.instance.clone().into());
        env.insert("PAASTA_CLUSTER".into(), self.cluster.clone().into());
        for (k, v) in self.mapping("env", Map::new())? {
            match v {
                Value::String(_) => env.insert(k, v),
                other => return Err(self.wrong_type(&format!("env.{k}"), "a string", &other)),
            };
        }
        Ok(env)
    }

    /// Explicit `constraints`, verbatim (a list of lists, not stringified).
    pub fn constraints(&self) -> Result<Option<Vec<Value>>, ConfigError> {
        match self.value("constraints") {
            None => Ok(None),
            Some(Value::Array(items)) if items.iter().all(Value::is_array) => {
                Ok(Some(items.clone()))
            }
            Some(other) => Err(self.wrong_type("constraints", "a list of lists", other)),
        }
    }

    /// `extra_constraints`, default `[]`; each a list of scalars.
    pub fn extra_constraints(&self) -> Result<Vec<Vec<Value>>, ConfigError> {
        self.list("extra_constraints")?
            .into_iter()
            .map(|c| match c {
                Value::Array(items) => Ok(items),
                other => Err(self.wrong_type("extra_constraints", "a list of lists", &other)),
            })
            .collect()
    }

    /// `pool`, default `default`.
    pub fn pool(&self) -> Result<String, ConfigError> {
        Ok(self.string("pool")?.unwrap_or_else(|| "default".into()))
    }

    /// `deploy_blacklist`, default `[]`: `[location_type, location]` pairs.
    pub fn deploy_blacklist(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.location_pairs("deploy_blacklist")
    }

    /// `monitoring_blacklist`, default the deploy blacklist.
    pub fn monitoring_blacklist(&self) -> Result<Vec<(String, String)>, ConfigError> {
        match self.value("monitoring_blacklist") {
            None => self.deploy_blacklist(),
            Some(_) => self.location_pairs("monitoring_blacklist"),
        }
    }

    fn location_pairs(&self, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
        self.list(key)?
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(t), Value::String(v)]) => Ok((t.clone(), v.clone())),
                _ => Err(self.bad(
                    key,
                    format!(
                        "entries must be [location_type, location] pairs of strings, found {pair}"
                    ),
                )),
            })
            .collect()
    }

    /// `deploy_whitelist`: `[location_type, [location, …]]`; `[]`/absent = no whitelist.
    pub fn deploy_whitelist(&self) -> Result<Option<DeployWhitelist>, ConfigError> {
        let raw = self.list("deploy_whitelist")?;
        match raw.as_slice() {
            [] => Ok(None),
            [Value::String(t), Value::Array(locations)] => Ok(Some(DeployWhitelist {
                location_type: t.clone(),
                locations: self.string_list("deploy_whitelist", locations)?,
            })),
            _ => Err(self.bad(
                "deploy_whitelist",
                "must be [location_type, [location, ...]]",
            )),
        }
    }

    /// `bounce_method` as written, default `crossover` (validated at setup time).
    pub fn bounce_method(&self) -> Result<String, ConfigError> {
        Ok(self
            .string("bounce_method")?
            .unwrap_or_else(|| "crossover".into()))
    }

    /// `bounce_health_params`, default `{}`, or `{check_haproxy: true}` in smartstack.
    pub fn bounce_health_params(
        &self,
        ns: &ServiceNamespaceConfig,
    ) -> Result<Map<String, Value>, ConfigError> {
        let mut default = Map::new();
        if ns.is_in_smartstack() {
            default.insert("check_haproxy".into(), true.into());
        }
        self.mapping("bounce_health_params", default)
    }

    /// `bounce_margin_factor`, default 1.0, must be in (0, 1].
    pub fn bounce_margin_factor(&self) -> Result<f64, ConfigError> {
        let f = self.float("bounce_margin_factor", 1.0)?;
        if f > 0.0 && f <= 1.0 {
            Ok(f)
        } else {
            Err(self.bad(
                "bounce_margin_factor",
                format!("must be in (0, 1], found {f}"),
            ))
        }
    }

    /// `drain_method` as written, default `noop`, or `hacheck` in smartstack.
    pub fn drain_method(&self, ns: &ServiceNamespaceConfig) -> Result<String, ConfigError> {
        let default = if ns.is_in_smartstack() {
            "hacheck"
        } else {
            "noop"
        };
        Ok(self
            .string("drain_method")?
            .unwrap_or_else(|| default.into()))
    }

    /// `drain_method_params`, default `{}`, or `{delay: 60}` in smartstack.
    pub fn drain_method_params(
        &self,
        ns: &ServiceNamespaceConfig,
    ) -> Result<Map<String, Value>, ConfigError> {
        let mut default = Map::new();
        if ns.is_in_smartstack() {
            default.insert("delay".into(), 60.into());
        }
        self.mapping("drain_method_params", default)
    }

    /// `nerve_ns`: the smartstack namespace this instance registers under, default its name.
    pub fn nerve_ns(&self) -> Result<String, ConfigError> {
        Ok(self
            .string("nerve_ns")?
            .unwrap_or_else(|| self.instance.clone()))
    }

    /// `healthcheck_mode` (http, tcp or cmd), else the namespace's smartstack mode.
    pub fn healthcheck_mode(
        &self,
        ns: &ServiceNamespaceConfig,
    ) -> Result<Option<HealthcheckMode>, ConfigError> {
        match self.string("healthcheck_mode")?.as_deref() {
            None => Ok(ns.mode.map(Into::into)),
            Some("http") => Ok(Some(HealthcheckMode::Http)),
            Some("tcp") => Ok(Some(HealthcheckMode::Tcp)),
            Some("cmd") => Ok(Some(HealthcheckMode::Cmd)),
            Some(other) => Err(self.bad(
                "healthcheck_mode",
                format!(
                    "Unknown mode: {other}. Only acceptable healthcheck modes are http/tcp/cmd"
                ),
            )),
        }
    }

    /// `healthcheck_uri`, else the namespace's (default `/status`).
    pub fn healthcheck_uri(&self, ns: &ServiceNamespaceConfig) -> Result<String, ConfigError> {
        Ok(self
            .string("healthcheck_uri")?
            .unwrap_or_else(|| ns.healthcheck_uri().into()))
    }

    /// `healthcheck_cmd`, required when the mode is `cmd`.
    pub fn healthcheck_cmd(&self) -> Result<String, ConfigError> {
        self.string("healthcheck_cmd")?.ok_or_else(|| {
            self.bad(
                "healthcheck_cmd",
                "healthcheck mode 'cmd' requires a healthcheck_cmd to run",
            )
        })
    }

    /// `healthcheck_grace_period_seconds`, default 60.
    pub fn healthcheck_grace_period_seconds(&self) -> Result<Number, ConfigError> {
        self.number("healthcheck_grace_period_seconds", 60)
    }

    /// `healthcheck_interval_seconds`, default 10.
    pub fn healthcheck_interval_seconds(&self) -> Result<Number, ConfigError> {
        self.number("healthcheck_interval_seconds", 10)
    }

    /// `healthcheck_timeout_seconds`, default 10.
    pub fn healthcheck_timeout_seconds(&self) -> Result<Number, ConfigError> {
        self.number("healthcheck_timeout_seconds", 10)
    }

    /// `healthcheck_max_consecutive_failures`, default 30 (the docs of the time said 6).
    pub fn healthcheck_max_consecutive_failures(&self) -> Result<Number, ConfigError> {
        self.number("healthcheck_max_consecutive_failures", 30)
    }

    /// `net`, default `bridge`.
    pub fn net(&self) -> Result<String, ConfigError> {
        Ok(self.string("net")?.unwrap_or_else(|| "bridge".into()))
    }

    /// The docker network Marathon gets: bridge→BRIDGE, host→HOST, none→NONE; anything else
    /// passes through unchanged (`get_mesos_network_for_net`), for Marathon to reject.
    pub fn mesos_network(&self) -> Result<String, ConfigError> {
        let net = self.net()?;
        Ok(match net.as_str() {
            "bridge" => "BRIDGE".into(),
            "host" => "HOST".into(),
            "none" => "NONE".into(),
            _ => net,
        })
    }

    /// `extra_volumes`, default `[]`: `{containerPath, hostPath, mode}` mappings, verbatim.
    pub fn extra_volumes(&self) -> Result<Vec<Value>, ConfigError> {
        let volumes = self.list("extra_volumes")?;
        match volumes.iter().find(|v| !v.is_object()) {
            Some(bad) => Err(self.wrong_type("extra_volumes", "a list of mappings", bad)),
            None => Ok(volumes),
        }
    }

    /// `accepted_resource_roles`, when set: a list of strings.
    pub fn accepted_resource_roles(&self) -> Result<Option<Vec<String>>, ConfigError> {
        match self.value("accepted_resource_roles") {
            None => Ok(None),
            Some(Value::Array(items)) => {
                Ok(Some(self.string_list("accepted_resource_roles", items)?))
            }
            Some(other) => {
                Err(self.wrong_type("accepted_resource_roles", "a list of strings", other))
            }
        }
    }

    /// `replication_threshold` (percent), default 50.
    pub fn replication_threshold(&self) -> Result<f64, ConfigError> {
        self.float("replication_threshold", 50.0)
    }
}
