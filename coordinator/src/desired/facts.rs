//! What the per-pass readers of a service's config need, worked out once when the service is
//! read: its deploy group, its rollback keys and its desired state per configured Marathon
//! instance. A parsed config is a tree of small maps (with its deployments.json about 2 KB per
//! instance, a third of the coordinator's memory at 50,000 instances); these facts are a few
//! strings. The rare readers that need a whole config (monitoring inputs, a rollback's Sensu
//! envelope) parse the raw files again ([`super::ServiceEntry::config`]), once per change of
//! the service.

use galley_common::bounce_failure::BounceFailure;
use galley_common::branch_state::branch_state;
use galley_common::deployments::Deployments;
use galley_common::refs::DesiredState;
use galley_common::soa::{ConfigError, InstanceConfig, InstanceKind, ServiceConfig};

/// One configured Marathon instance's facts (`Err`: its config could not be merged; the text
/// names the file and key).
pub type FactsOf = Result<InstanceFacts, String>;

/// What a configured instance's config says, for the readers that run every pass.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    /// `deploy_group` (its control branch when unset), or why it is invalid.
    pub deploy_group: Result<String, String>,
    /// The rollback keys it sets, or why one is invalid.
    pub rollback: Result<RollbackKeys, String>,
    /// `start` / `stop` as deployments.json says (`start` when it has no control entry for
    /// it); `None` when the service has no deployments.json or the lookup key is invalid.
    pub desired_state: Option<DesiredState>,
}

/// The instance's own `bounce_failure` and `bounce_timeout` (unset: the coordinator's
/// defaults apply).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RollbackKeys {
    /// `bounce_failure`.
    pub bounce_failure: Option<BounceFailure>,
    /// `bounce_timeout`, seconds.
    pub bounce_timeout: Option<f64>,
}

impl RollbackKeys {
    /// The keys `config` sets (the first invalid one is the error).
    pub fn of(config: &InstanceConfig) -> Result<Self, galley_common::soa::ConfigError> {
        Ok(Self {
            bounce_failure: config.bounce_failure()?,
            bounce_timeout: config.bounce_timeout()?,
        })
    }
}

/// One configured Marathon instance as a service read merges it: its name, its merged config
/// (merged once, for its desired app too) and its facts.
pub(super) type Merged = (String, Result<InstanceConfig, ConfigError>, FactsOf);

/// Every configured Marathon instance of `config` in `cluster`, sorted by name, merged once.
pub(super) fn merge_instances(
    config: &ServiceConfig,
    deployments: Option<&Deployments>,
    cluster: &str,
) -> Vec<Merged> {
    let mut out: Vec<Merged> = config
        .instance_names(cluster, InstanceKind::Marathon)
        .into_iter()
        .map(|name| {
            let merged = config.instance(cluster, InstanceKind::Marathon, name);
            let facts = match &merged {
                Ok(inst) => Ok(instance_facts(inst, deployments)),
                Err(e) => Err(e.to_string()),
            };
            (name.to_owned(), merged, facts)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn instance_facts(inst: &InstanceConfig, deployments: Option<&Deployments>) -> InstanceFacts {
    InstanceFacts {
        deploy_group: inst.deploy_group().map_err(|e| e.to_string()),
        rollback: RollbackKeys::of(inst).map_err(|e| e.to_string()),
        desired_state: branch_state(deployments, inst)
            .ok()
            .map(|s| s.desired_state),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use galley_common::soa::ServiceSource;

    use super::*;

    fn service(marathon_yaml: &str) -> ServiceConfig {
        let files = BTreeMap::from([
            ("service.yaml".to_owned(), "description: t\n".to_owned()),
            ("marathon-c1.yaml".to_owned(), marathon_yaml.to_owned()),
            ("marathon-c2.yaml".to_owned(), "other: {}\n".to_owned()),
        ]);
        ServiceConfig::parse(&ServiceSource {
            name: "svc".into(),
            files,
        })
        .unwrap()
    }

    #[test]
    fn facts_cover_each_instance_of_the_cluster_with_its_own_errors() {
        let config = service(concat!(
            "web:\n  deploy_group: prod.everything\n  bounce_failure: rollback\n",
            "  bounce_timeout: 30\n",
            "api: {}\n",
            "bad:\n  bounce_timeout: soon\n",
        ));
        let deployments = Deployments::parse(
            r#"{"v1": {}, "v2": {"deployments": {"c1.api": {"docker_image": "services-svc:paasta-abc", "git_sha": "abc"}},
                "controls": {"svc:c1.api": {"desired_state": "stop", "force_bounce": null}}}}"#,
        )
        .unwrap();
        let facts: Vec<(String, FactsOf)> = merge_instances(&config, Some(&deployments), "c1")
            .into_iter()
            .map(|(name, _, facts)| (name, facts))
            .collect();
        let names: Vec<&str> = facts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["api", "bad", "web"],
            "sorted; c2's instance left out"
        );

        let web = facts[2].1.as_ref().unwrap();
        assert_eq!(web.deploy_group.as_deref(), Ok("prod.everything"));
        assert_eq!(
            web.rollback,
            Ok(RollbackKeys {
                bounce_failure: Some(BounceFailure::Rollback),
                bounce_timeout: Some(30.0),
            })
        );
        assert_eq!(
            web.desired_state,
            Some(DesiredState::Start),
            "no control entry: start"
        );

        let api = facts[0].1.as_ref().unwrap();
        assert_eq!(api.deploy_group.as_deref(), Ok("c1.api"));
        assert_eq!(api.rollback, Ok(RollbackKeys::default()));
        assert_eq!(api.desired_state, Some(DesiredState::Stop));

        let bad = facts[1].1.as_ref().unwrap();
        let err = bad.rollback.as_ref().unwrap_err();
        assert!(
            err.contains("marathon-c1.yaml") && err.contains("bounce_timeout"),
            "{err}"
        );
        assert!(
            bad.deploy_group.is_ok(),
            "one bad key spoils only its own fact"
        );
    }
}
