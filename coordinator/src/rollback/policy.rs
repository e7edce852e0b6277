//! The rollback policy of one instance: its own `bounce_failure` / `bounce_timeout` keys over
//! the coordinator config's `rollback:` defaults.

use std::fmt;
use std::time::Duration;

use galley_common::bounce_failure::BounceFailure;
use galley_common::soa::{ConfigError, InstanceConfig};

use crate::desired::RollbackKeys;

/// What the leader does when a new version of an instance cannot become healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackPolicy {
    /// `wait` or `rollback`.
    pub on_failure: BounceFailure,
    /// How long a new app may run without a happy task.
    pub timeout: Duration,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        Self {
            on_failure: BounceFailure::Wait,
            timeout: Duration::from_secs(600),
        }
    }
}

impl RollbackPolicy {
    /// Whether a failed bounce is rolled back.
    pub fn rolls_back(&self) -> bool {
        self.on_failure == BounceFailure::Rollback
    }

    /// The instance's policy: each key it sets over `default`. A bad value is an error naming
    /// the file and key (the caller treats the instance as `wait`).
    pub fn for_instance(
        config: &InstanceConfig,
        default: RollbackPolicy,
    ) -> Result<RollbackPolicy, ConfigError> {
        Ok(Self::with_keys(RollbackKeys::of(config)?, default))
    }

    /// The policy of an instance that sets `keys`: each one it sets over `default`.
    pub fn with_keys(keys: RollbackKeys, default: RollbackPolicy) -> RollbackPolicy {
        RollbackPolicy {
            on_failure: keys.bounce_failure.unwrap_or(default.on_failure),
            timeout: keys
                .bounce_timeout
                .map(Duration::from_secs_f64)
                .unwrap_or(default.timeout),
        }
    }
}

/// `wait`, or `rollback after 600s without a happy new task`.
impl fmt::Display for RollbackPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.on_failure {
            BounceFailure::Wait => f.write_str("wait"),
            BounceFailure::Rollback => write!(
                f,
                "rollback after {}s without a happy new task",
                self.timeout.as_secs_f64()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use galley_common::bounce_failure::BounceFailure;
    use galley_common::soa::{InstanceConfig, InstanceKind};
    use serde_json::{Value, json};

    use super::RollbackPolicy;

    fn instance(config: Value) -> InstanceConfig {
        InstanceConfig {
            service: "web".into(),
            cluster: "prod".into(),
            instance: "main".into(),
            kind: InstanceKind::Marathon,
            config: config.as_object().cloned().expect("mapping"),
            file: "web/marathon-prod.yaml".into(),
        }
    }

    #[test]
    fn instance_keys_override_the_coordinator_default_one_by_one() {
        let default = RollbackPolicy {
            on_failure: BounceFailure::Rollback,
            timeout: Duration::from_secs(600),
        };
        let cases = [
            (json!({}), BounceFailure::Rollback, 600.0),
            (json!({"bounce_timeout": 30}), BounceFailure::Rollback, 30.0),
            (
                json!({"bounce_failure": "wait"}),
                BounceFailure::Wait,
                600.0,
            ),
        ];
        for (config, on_failure, secs) in cases {
            let p = RollbackPolicy::for_instance(&instance(config.clone()), default).unwrap();
            assert_eq!(p.on_failure, on_failure, "{config}");
            assert_eq!(p.timeout.as_secs_f64(), secs, "{config}");
        }
        let bad = RollbackPolicy::for_instance(&instance(json!({"bounce_failure": 1})), default);
        assert!(bad.is_err());
    }

    #[test]
    fn the_policy_reads_as_operators_write_it() {
        assert_eq!(RollbackPolicy::default().to_string(), "wait");
        let p = RollbackPolicy {
            on_failure: BounceFailure::Rollback,
            timeout: Duration::from_secs(90),
        };
        assert_eq!(p.to_string(), "rollback after 90s without a happy new task");
    }
}
