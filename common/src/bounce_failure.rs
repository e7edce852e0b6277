//! Galley's automatic-rollback keys of a Marathon instance (no PaaSTA counterpart; they do not
//! enter the rendered app, so they never change its config hash): `bounce_failure` says what
//! the leader does when a new app version cannot become healthy, `bounce_timeout` how long it
//! waits for a happy new task first. Unset keys fall back to the coordinator config's
//! `rollback:` defaults.

use std::fmt;

use serde_json::Value;

use crate::soa::{ConfigError, InstanceConfig, type_name};

/// What to do about a bounce whose new version cannot become healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BounceFailure {
    /// Keep waiting, as PaaSTA did (the default).
    #[default]
    Wait,
    /// Push a deploy tag for the last sha that was healthy on the deploy group.
    Rollback,
}

impl BounceFailure {
    /// The name in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            BounceFailure::Wait => "wait",
            BounceFailure::Rollback => "rollback",
        }
    }

    /// Parses a YAML name (`wait` or `rollback`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "wait" => Some(BounceFailure::Wait),
            "rollback" => Some(BounceFailure::Rollback),
            _ => None,
        }
    }
}

impl fmt::Display for BounceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest `bounce_timeout` accepted (a day), in seconds.
pub const MAX_BOUNCE_TIMEOUT_SECONDS: f64 = 86_400.0;

impl InstanceConfig {
    /// `bounce_failure`, when set: `wait` or `rollback`.
    pub fn bounce_failure(&self) -> Result<Option<BounceFailure>, ConfigError> {
        match self.config.get("bounce_failure") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => BounceFailure::parse(s).map(Some).ok_or_else(|| {
                self.bad(
                    "bounce_failure",
                    format!("must be `wait` or `rollback`, found {s:?}"),
                )
            }),
            Some(other) => Err(self.bad(
                "bounce_failure",
                format!("must be `wait` or `rollback`, found {}", type_name(other)),
            )),
        }
    }

    /// `bounce_timeout` in seconds, when set: a number within (0, 86400].
    pub fn bounce_timeout(&self) -> Result<Option<f64>, ConfigError> {
        match self.config.get("bounce_timeout") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(s) if s > 0.0 && s <= MAX_BOUNCE_TIMEOUT_SECONDS => Ok(Some(s)),
                _ => Err(self.bad(
                    "bounce_timeout",
                    format!("must be seconds within (0, 86400], found {n}"),
                )),
            },
            Some(other) => Err(self.bad(
                "bounce_timeout",
                format!("must be a number of seconds, found {}", type_name(other)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::BounceFailure;
    use crate::soa::{InstanceConfig, InstanceKind};

    fn instance(config: Value) -> InstanceConfig {
        let Value::Object(config) = config else {
            panic!("a mapping")
        };
        InstanceConfig {
            service: "web".into(),
            cluster: "prod".into(),
            instance: "main".into(),
            kind: InstanceKind::Marathon,
            config,
            file: "web/marathon-prod.yaml".into(),
        }
    }

    #[test]
    fn unset_keys_are_none() {
        let i = instance(Value::Object(Map::new()));
        assert_eq!(i.bounce_failure().unwrap(), None);
        assert_eq!(i.bounce_timeout().unwrap(), None);
        let i = instance(json!({"bounce_failure": null, "bounce_timeout": null}));
        assert_eq!(i.bounce_failure().unwrap(), None);
        assert_eq!(i.bounce_timeout().unwrap(), None);
    }

    #[test]
    fn valid_values_are_read() {
        let i = instance(json!({"bounce_failure": "rollback", "bounce_timeout": 300}));
        assert_eq!(i.bounce_failure().unwrap(), Some(BounceFailure::Rollback));
        assert_eq!(i.bounce_timeout().unwrap(), Some(300.0));
        let i = instance(json!({"bounce_failure": "wait", "bounce_timeout": 0.5}));
        assert_eq!(i.bounce_failure().unwrap(), Some(BounceFailure::Wait));
        assert_eq!(i.bounce_timeout().unwrap(), Some(0.5));
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        for (config, needle) in [
            (json!({"bounce_failure": "revert"}), "\"revert\""),
            (json!({"bounce_failure": true}), "a boolean"),
            (json!({"bounce_timeout": 0}), "found 0"),
            (json!({"bounce_timeout": -5}), "found -5"),
            (json!({"bounce_timeout": 100000}), "found 100000"),
            (json!({"bounce_timeout": "5m"}), "a string"),
        ] {
            let i = instance(config.clone());
            let err = i
                .bounce_failure()
                .err()
                .or_else(|| i.bounce_timeout().err())
                .unwrap_or_else(|| panic!("{config} is accepted"))
                .to_string();
            assert!(err.contains("web/marathon-prod.yaml"), "{err}");
            assert!(err.contains("main.bounce_"), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }
}
