//! What the decision needs of a pass: per planned instance, its deploy group and policy (from
//! the soa-config the pass read), the happy tasks of its desired app and of its older apps,
//! and — for instances whose new version has no happy task — Marathon's launch delay and the
//! evidence. No I/O: the launch queue is read by the caller and passed in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use galley_common::observed::{ObservedApp, prefix_range};
use galley_common::replication::{EvidenceConfig, QueueSignal, gather_evidence};

use super::decide::{InstanceKey, InstanceObservation};
use super::policy::RollbackPolicy;
use crate::desired::{DesiredReport, LastDesired};
use crate::plan::{DesiredInstance, is_happy};
use crate::reconciler::PassSnapshot;

/// Everything besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct ObserveInputs<'a> {
    /// The coordinator config's `rollback:` default.
    pub default: RollbackPolicy,
    /// Marathon's launch queue, when it was read.
    pub queue: &'a [QueueSignal],
    /// Paused instances.
    pub paused: &'a BTreeMap<InstanceKey, String>,
    /// When the pass observed Marathon.
    pub now: DateTime<Utc>,
}

/// The observations of one pass, and the instances whose rollback keys are invalid (they are
/// treated as `wait`).
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// One per planned instance.
    pub instances: Vec<InstanceObservation>,
    /// `(instance, error naming the file and key)`.
    pub bad_policies: Vec<(InstanceKey, String)>,
}

impl Observations {
    /// Whether an instance whose new version has no happy task may be rolled back (then the
    /// launch queue is worth reading).
    pub fn has_candidates(&self) -> bool {
        self.instances
            .iter()
            .any(|o| o.policy.rolls_back() && o.new_app_happy == Some(0))
    }
}

/// What each desired instance's soa-config says for the decision (deploy group, policy, full
/// sha), worked out once per desired state: passes that re-use the reconciler's desired-state
/// cache (the same `Arc`) re-use it, so a pass does not merge every instance's config again.
#[derive(Debug, Default)]
pub struct ConfigCache {
    /// The desired state the entries were worked out from (weak: never keeps it alive).
    of: LastDesired,
    /// By position in that desired state's instances.
    entries: Vec<Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// `None` when the config cannot say (the error is in `bad`).
    group_policy: Option<(String, RollbackPolicy)>,
    bad: Option<String>,
    sha: String,
}

impl ConfigCache {
    fn for_desired(&mut self, desired: &Arc<DesiredReport>) {
        if self.of.changed_to(desired) {
            self.entries.clear();
        }
    }

    /// The entries of `snapshot`'s desired state, worked out when it is not the cached one.
    fn for_snapshot(&mut self, snapshot: &PassSnapshot, inputs: &ObserveInputs<'_>) -> &[Cached] {
        self.for_desired(&snapshot.desired);
        if self.entries.is_empty() {
            self.entries = (snapshot.desired.desired.instances.iter())
                .map(|d| config_of(snapshot, d, inputs))
                .collect();
        }
        &self.entries
    }
}

/// Observes every planned instance of `snapshot`.
pub fn observe(
    snapshot: &PassSnapshot,
    inputs: ObserveInputs<'_>,
    cache: &mut ConfigCache,
) -> Observations {
    let mut out = Observations::default();
    let cached = cache.for_snapshot(snapshot, &inputs);
    let all_apps = &snapshot.apps[..];
    for (d, cached) in snapshot.desired.desired.instances.iter().zip(cached) {
        let key = (d.service.clone(), d.instance.clone());
        if let Some(bad) = &cached.bad {
            out.bad_policies.push((key.clone(), bad.clone()));
        }
        let Some((deploy_group, policy)) = cached.group_policy.clone() else {
            continue;
        };
        // A pass's apps are sorted by id: the instance's apps are one range.
        let apps: Vec<&ObservedApp> = all_apps
            [prefix_range(all_apps, &format!("/{}.", d.short_id()))]
        .iter()
        .map(|a| &**a)
        .collect();
        let apps = &apps[..];
        let happy = |app: &ObservedApp| {
            app.tasks
                .iter()
                .filter(|t| is_happy(app, t, d.happy, inputs.now))
                .count() as u32
        };
        let new_app = apps.iter().find(|a| a.id == d.app_id);
        let new_app_happy = new_app.map(|a| happy(a));
        let healthy_old_shas = apps
            .iter()
            .filter(|a| a.id != d.app_id && happy(a) > 0)
            .filter_map(|a| sha8_of(&a.id))
            .collect();
        let candidate = policy.rolls_back() && new_app_happy == Some(0);
        out.instances.push(InstanceObservation {
            paused: inputs.paused.contains_key(&key),
            key,
            deploy_group,
            policy,
            desired_app: d.app_id.clone(),
            desired_sha: cached.sha.clone(),
            desired_instances: d.instances,
            new_app_happy,
            only_app: apps.len() == 1 && new_app.is_some(),
            healthy_old_shas,
            launch_delay: candidate
                .then(|| launch_delay(inputs.queue, &d.app_id))
                .flatten(),
            evidence: if candidate {
                evidence(apps, &inputs)
            } else {
                Vec::new()
            },
        });
    }
    out
}

/// The instance's deploy group, policy and full sha; no group and policy (and the error in
/// `bad`) when its config cannot say.
fn config_of(snapshot: &PassSnapshot, d: &DesiredInstance, inputs: &ObserveInputs<'_>) -> Cached {
    let sha = d.app.git_sha().unwrap_or_default().to_owned();
    let Some(entry) = snapshot.desired.services.get(&d.service) else {
        return Cached {
            group_policy: None,
            bad: None,
            sha,
        };
    };
    let bad = |e: String| Cached {
        group_policy: None,
        bad: Some(e),
        sha: sha.clone(),
    };
    let facts = match entry.facts(&d.instance) {
        Some(Ok(f)) => f,
        Some(Err(e)) => return bad(e.clone()),
        None => return bad(format!("{}.{} is not configured", d.service, d.instance)),
    };
    let group = match &facts.deploy_group {
        Ok(g) => g.clone(),
        Err(e) => return bad(e.clone()),
    };
    match &facts.rollback {
        Ok(keys) => Cached {
            group_policy: Some((group, RollbackPolicy::with_keys(*keys, inputs.default))),
            bad: None,
            sha,
        },
        Err(e) => Cached {
            group_policy: Some((group, RollbackPolicy::default())),
            bad: Some(e.clone()),
            sha,
        },
    }
}

/// Marathon's remaining launch delay of `app_id`, when it backs off.
fn launch_delay(queue: &[QueueSignal], app_id: &str) -> Option<Duration> {
    queue
        .iter()
        .find(|q| q.app_id == app_id)
        .and_then(|q| q.delay_seconds)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

fn evidence(apps: &[&ObservedApp], inputs: &ObserveInputs<'_>) -> Vec<String> {
    gather_evidence(apps, inputs.now, &EvidenceConfig::default(), inputs.queue)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `<sha8>` of `/<svc>.<inst>.git<sha8>.config<hash8>`.
pub fn sha8_of(app_id: &str) -> Option<String> {
    app_id
        .trim_start_matches('/')
        .split('.')
        .nth(2)?
        .strip_prefix("git")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{launch_delay, sha8_of};
    use crate::plan::AppDefinition;
    use galley_common::replication::QueueSignal;

    #[test]
    fn cached_configs_live_as_long_as_their_desired_state() {
        use std::sync::Arc;

        use super::{Cached, ConfigCache, DesiredReport};
        let cached = || Cached {
            group_policy: None,
            bad: Some("x".into()),
            sha: String::new(),
        };
        let mut cache = ConfigCache::default();
        let first = Arc::new(DesiredReport::default());
        cache.for_desired(&first);
        cache.entries.push(cached());
        cache.for_desired(&first.clone());
        assert_eq!(cache.entries.len(), 1, "the same desired state keeps them");
        let second = Arc::new(DesiredReport::default());
        cache.for_desired(&second);
        assert!(cache.entries.is_empty(), "a new desired state drops them");
        cache.entries.push(cached());
        drop(second);
        let third = Arc::new(DesiredReport::default());
        cache.for_desired(&third);
        assert!(
            cache.entries.is_empty(),
            "a freed desired state never matches a new one at the same address"
        );
    }

    #[test]
    fn shas_come_from_the_image_and_the_app_id() {
        let app = json!({"container": {"docker": {"image": "registry:443/services-web:paasta-0123abcd"}}});
        assert_eq!(AppDefinition::new(&app).git_sha(), Some("0123abcd"));
        assert_eq!(AppDefinition::new(&json!({})).git_sha(), None);
        assert_eq!(
            sha8_of("/web.main.git0123abcd.config89abcdef").as_deref(),
            Some("0123abcd")
        );
        assert_eq!(sha8_of("/web.main"), None);
    }

    #[test]
    fn only_a_positive_delay_of_the_app_is_a_backoff() {
        let q = |app: &str, delay| QueueSignal {
            app_id: app.into(),
            count: 1,
            delay_seconds: delay,
            no_capacity: None,
        };
        let queue = [q("/a", Some(30)), q("/b", Some(0)), q("/c", None)];
        assert_eq!(launch_delay(&queue, "/a").map(|d| d.as_secs()), Some(30));
        assert_eq!(launch_delay(&queue, "/b"), None);
        assert_eq!(launch_delay(&queue, "/c"), None);
        assert_eq!(launch_delay(&queue, "/d"), None);
    }
}
