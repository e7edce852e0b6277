//! What the decision needs of a pass: per planned instance, its deploy group and policy (from
//! the soa-config the pass read), the happy tasks of its desired app and of its older apps,
//! and — for instances whose new version has no happy task — Marathon's launch delay and the
//! evidence. No I/O: the launch queue is read by the caller and passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use galley_common::observed::{ObservedApp, prefix_range};
use galley_common::replication::{EvidenceConfig, QueueSignal, gather_evidence};

use super::decide::{InstanceKey, InstanceObservation, RollbackState};
use super::policy::RollbackPolicy;
use crate::desired::LastDesired;
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
    /// Healthy instances that matter only as their deploy group's news (not in `instances`).
    pub news: Vec<HealthyNews>,
}

/// A deploy group's last healthy instance of a pass, whose sha the decision has not recorded
/// for the group, and which matters for nothing else: all the decision does with it is
/// remember the sha ([`RollbackState::record_news`]). While 50,000 instances converge (or on
/// the first pass after a restart) every group has news at once, and full observations of
/// them all took ~440 bytes an instance.
#[derive(Debug, Clone)]
pub struct HealthyNews {
    /// The instance (shared with the pass's desired state).
    pub instance: Arc<DesiredInstance>,
    /// Its deploy group.
    pub deploy_group: String,
}

impl HealthyNews {
    /// The full sha its desired app runs.
    pub fn sha(&self) -> &str {
        self.instance.app.git_sha().unwrap_or_default()
    }
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

/// What the decision and the alerts remember, which decides the instances a pass observes in
/// full: every instance whose policy rolls back, every instance the decision watches or
/// reported, every instance of a service with a raised rollback alert (a healthy one may
/// resolve it), and (as [`HealthyNews`] only) the last healthy instance of each deploy group
/// whose sha is news. Any
/// other instance's observation would change nothing, so at 50,000 instances a pass builds a
/// handful of observations instead of one (six allocations) per instance.
#[derive(Debug)]
pub struct Interest<'a> {
    /// The decision's memory.
    pub state: &'a RollbackState,
    /// Instances watched, reported, or with a raised alert.
    pub instances: BTreeSet<(&'a str, &'a str)>,
    /// Services with a raised alert.
    pub alerted: BTreeSet<&'a str>,
}

/// What each desired instance's soa-config says for the decision (deploy group, policy),
/// worked out once per desired instance: a new desired state carries an unchanged service's
/// desired instances over (the same `Arc`s), and with them their entries here.
#[derive(Debug, Default)]
pub struct ConfigCache {
    /// The desired state the entries were worked out from (weak: never keeps it alive).
    of: LastDesired,
    /// By position in that desired state's instances, with the instance they were worked out
    /// for (weak: its address is not reused while held).
    entries: Vec<(Weak<DesiredInstance>, Cached)>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// `None` when the config cannot say (the error is in `bad`).
    group_policy: Option<(String, RollbackPolicy)>,
    bad: Option<String>,
}

impl ConfigCache {
    /// The entries of `snapshot`'s desired state: those of desired instances carried over from
    /// the cached one are moved, the others worked out.
    fn for_snapshot(
        &mut self,
        snapshot: &PassSnapshot,
        inputs: &ObserveInputs<'_>,
    ) -> &[(Weak<DesiredInstance>, Cached)] {
        if self.of.changed_to(&snapshot.desired) {
            let mut old: HashMap<*const DesiredInstance, Cached> =
                std::mem::take(&mut self.entries)
                    .into_iter()
                    .map(|(w, c)| (w.as_ptr(), c))
                    .collect();
            self.entries = (snapshot.desired.desired.instances.iter())
                .map(|d| {
                    let cached = old
                        .remove(&Arc::as_ptr(d))
                        .unwrap_or_else(|| config_of(snapshot, d, inputs));
                    (Arc::downgrade(d), cached)
                })
                .collect();
        }
        &self.entries
    }
}

/// What a pass sees of one instance without allocating.
#[derive(Debug, Clone)]
struct Glance {
    /// Its apps: a range of the pass's apps sorted by id.
    apps: Range<usize>,
    /// Its desired app's position in the pass's apps, when Marathon has it.
    new_app: Option<usize>,
    new_app_happy: Option<u32>,
}

impl Glance {
    fn of(d: &DesiredInstance, all_apps: &[Arc<ObservedApp>], now: DateTime<Utc>) -> Self {
        let apps = prefix_range(all_apps, &d.apps_prefix());
        let new_app = apps.clone().find(|&i| all_apps[i].id == d.app_id);
        let new_app_happy = new_app.map(|i| happy(&all_apps[i], d, now));
        Self {
            apps,
            new_app,
            new_app_happy,
        }
    }

    fn only_app(&self) -> bool {
        self.apps.len() == 1 && self.new_app.is_some()
    }

    /// The decision's healthy: the only app, every wanted task happy.
    fn healthy(&self, d: &DesiredInstance) -> bool {
        super::decide::healthy(d.instances, self.only_app(), self.new_app_happy)
    }
}

fn happy(app: &ObservedApp, d: &DesiredInstance, now: DateTime<Utc>) -> u32 {
    app.tasks
        .iter()
        .filter(|t| is_happy(app, t, d.happy, now))
        .count() as u32
}

/// Observes the planned instances of `snapshot` that `interest` says matter (all of them for
/// the bad policies).
pub fn observe(
    snapshot: &PassSnapshot,
    inputs: ObserveInputs<'_>,
    cache: &mut ConfigCache,
    interest: &Interest<'_>,
) -> Observations {
    let mut out = Observations::default();
    let cached = cache.for_snapshot(snapshot, &inputs);
    let all_apps = &snapshot.apps[..];
    let instances = &snapshot.desired.desired.instances;
    let mut start = 0;
    let mut glances: Vec<Option<Glance>> = Vec::new();
    // Per deploy group of the service: its last healthy instance in this pass.
    let mut last_healthy: Vec<(&str, usize)> = Vec::new();
    // A desired state lists each service's instances together: the decision records the last
    // healthy sha of a group, so only its last healthy instance of the pass can be news.
    for chunk in instances.chunk_by(|a, b| a.service == b.service) {
        let cached = &cached[start..start + chunk.len()];
        start += chunk.len();
        glances.clear();
        last_healthy.clear();
        for (i, (d, (_, c))) in chunk.iter().zip(cached).enumerate() {
            if let Some(bad) = &c.bad {
                let key = (d.service.clone(), d.instance.clone());
                out.bad_policies.push((key, bad.clone()));
            }
            let Some((group, _)) = &c.group_policy else {
                glances.push(None);
                continue;
            };
            let glance = Glance::of(d, all_apps, inputs.now);
            if glance.healthy(d) {
                match last_healthy.iter_mut().find(|(g, _)| g == group) {
                    Some(last) => last.1 = i,
                    None => last_healthy.push((group, i)),
                }
            }
            glances.push(Some(glance));
        }
        for (i, (d, (_, c))) in chunk.iter().zip(cached).enumerate() {
            let (Some(glance), Some((group, policy))) = (&glances[i], &c.group_policy) else {
                continue;
            };
            let sha = d.app.git_sha().unwrap_or_default();
            let news = last_healthy.contains(&(group.as_str(), i))
                && interest.state.last_healthy_of(&d.service, group) != Some(sha);
            let relevant = policy.rolls_back()
                || interest.alerted.contains(d.service.as_str())
                || (interest.instances).contains(&(d.service.as_str(), d.instance.as_str()));
            if relevant {
                out.instances
                    .push(observation(d, group, *policy, glance, all_apps, &inputs));
            } else if news {
                out.news.push(HealthyNews {
                    instance: Arc::clone(d),
                    deploy_group: group.clone(),
                });
            }
        }
    }
    out
}

/// The full observation of one instance.
fn observation(
    d: &DesiredInstance,
    deploy_group: &str,
    policy: RollbackPolicy,
    glance: &Glance,
    all_apps: &[Arc<ObservedApp>],
    inputs: &ObserveInputs<'_>,
) -> InstanceObservation {
    let key = (d.service.clone(), d.instance.clone());
    let apps: Vec<&ObservedApp> = all_apps[glance.apps.clone()].iter().map(|a| &**a).collect();
    let healthy_old_shas = apps
        .iter()
        .filter(|a| a.id != d.app_id && happy(a, d, inputs.now) > 0)
        .filter_map(|a| sha8_of(&a.id))
        .collect();
    let candidate = policy.rolls_back() && glance.new_app_happy == Some(0);
    InstanceObservation {
        paused: inputs.paused.contains_key(&key),
        key,
        deploy_group: deploy_group.to_owned(),
        policy,
        desired_app: d.app_id.clone(),
        desired_sha: d.app.git_sha().unwrap_or_default().to_owned(),
        desired_instances: d.instances,
        new_app_happy: glance.new_app_happy,
        only_app: glance.only_app(),
        healthy_old_shas,
        launch_delay: candidate
            .then(|| launch_delay(inputs.queue, &d.app_id))
            .flatten(),
        evidence: if candidate {
            evidence(&apps, inputs)
        } else {
            Vec::new()
        },
    }
}

/// The instance's deploy group and policy; no group and policy (and the error in `bad`) when
/// its config cannot say.
fn config_of(snapshot: &PassSnapshot, d: &DesiredInstance, inputs: &ObserveInputs<'_>) -> Cached {
    let Some(entry) = snapshot.desired.services.get(&d.service) else {
        return Cached {
            group_policy: None,
            bad: None,
        };
    };
    let bad = |e: String| Cached {
        group_policy: None,
        bad: Some(e),
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
        },
        Err(e) => Cached {
            group_policy: Some((group, RollbackPolicy::default())),
            bad: Some(e.clone()),
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

    mod interest {
        use std::collections::{BTreeMap, BTreeSet};
        use std::sync::Arc;

        use chrono::{DateTime, TimeDelta, Utc};
        use galley_common::marathon_app::SystemSettings;
        use galley_common::observed::{ObservedApp, ObservedTask};

        use super::super::{ConfigCache, Interest, ObserveInputs, observe};
        use crate::desired::{DesiredContext, DesiredReport, read_desired};
        use crate::reconciler::PassSnapshot;
        use crate::rollback::{PassContext, RollbackPolicy, RollbackState, decide};

        const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

        /// `web` with `main` and `canary` (each its own deploy group), deployed at [`SHA`].
        fn desired() -> Arc<DesiredReport> {
            let soa = tempfile::tempdir().expect("tempdir");
            let dir = soa.path().join("web");
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("service.yaml"), "description: x\n").expect("write");
            let marathon = "main:\n  instances: 1\ncanary:\n  instances: 1\n";
            std::fs::write(dir.join("marathon-c1.yaml"), marathon).expect("write");
            let image = format!("services-web:paasta-{SHA}");
            let v1 = |i: &str| {
                format!(
                    r#""web:paasta-c1.{i}": {{"docker_image": "{image}", "desired_state": "start", "force_bounce": null}}"#
                )
            };
            let v2 =
                |i: &str| format!(r#""c1.{i}": {{"docker_image": "{image}", "git_sha": "{SHA}"}}"#);
            let c = |i: &str| {
                format!(r#""web:c1.{i}": {{"desired_state": "start", "force_bounce": null}}"#)
            };
            let deployments = format!(
                r#"{{"v1": {{{}, {}}}, "v2": {{"deployments": {{{}, {}}}, "controls": {{{}, {}}}}}}}"#,
                v1("main"),
                v1("canary"),
                v2("main"),
                v2("canary"),
                c("main"),
                c("canary")
            );
            std::fs::write(dir.join("deployments.json"), deployments).expect("write");
            let ctx = DesiredContext {
                cluster: "c1".into(),
                system: SystemSettings {
                    docker_registry: "registry:443".into(),
                    volumes: vec![],
                    dockercfg_location: String::new(),
                },
                slaves: vec![[("region".to_owned(), "r1".to_owned())].into()],
            };
            let report = read_desired(soa.path(), &ctx);
            assert_eq!(report.desired.instances.len(), 2, "{report:?}");
            Arc::new(report)
        }

        /// Each desired app with one task, happy when `happy`.
        fn snapshot(desired: &Arc<DesiredReport>, now: DateTime<Utc>) -> PassSnapshot {
            let mut apps: Vec<Arc<ObservedApp>> = (desired.desired.instances.iter())
                .map(|d| {
                    Arc::new(ObservedApp {
                        id: d.app_id.clone(),
                        instances: 1,
                        tasks: vec![ObservedTask {
                            id: "t".into(),
                            started_at: Some(now - TimeDelta::minutes(10)),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                })
                .collect();
            apps.sort_by(|a, b| a.id.cmp(&b.id));
            PassSnapshot {
                desired: Arc::clone(desired),
                apps: Arc::new(apps),
                ..Default::default()
            }
        }

        fn observed(
            snapshot: &PassSnapshot,
            cache: &mut ConfigCache,
            state: &RollbackState,
            instances: &[(&str, &str)],
            now: DateTime<Utc>,
        ) -> Vec<String> {
            let obs = observations(snapshot, cache, state, instances, now);
            let news = obs.news.iter().map(|n| n.instance.instance.clone());
            let mut seen: Vec<String> = obs.instances.iter().map(|o| o.key.1.clone()).collect();
            seen.extend(news);
            seen.sort();
            seen
        }

        fn observations(
            snapshot: &PassSnapshot,
            cache: &mut ConfigCache,
            state: &RollbackState,
            instances: &[(&str, &str)],
            now: DateTime<Utc>,
        ) -> super::super::Observations {
            let paused = BTreeMap::new();
            let inputs = ObserveInputs {
                default: RollbackPolicy::default(),
                queue: &[],
                paused: &paused,
                now,
            };
            let interest = Interest {
                state,
                instances: instances.iter().copied().collect(),
                alerted: BTreeSet::new(),
            };
            observe(snapshot, inputs, cache, &interest)
        }

        #[test]
        fn only_observations_that_change_something_are_built() {
            let now = Utc::now();
            let desired = desired();
            let snapshot = snapshot(&desired, now);
            let mut cache = ConfigCache::default();
            let mut state = RollbackState::default();
            let seen = observed(&snapshot, &mut cache, &state, &[], now);
            assert_eq!(
                seen,
                ["canary", "main"],
                "both healthy: news for their groups"
            );
            let obs = observations(&snapshot, &mut cache, &RollbackState::default(), &[], now);
            assert!(obs.instances.is_empty(), "news only: no full observation");
            let ctx = PassContext {
                now,
                frozen: false,
                leading: true,
                dry_run: false,
            };
            state.record_news(&obs.news);
            decide(&mut state, ctx, &obs.instances);
            assert_eq!(state.last_healthy_of("web", "c1.main"), Some(SHA));
            assert_eq!(state.last_healthy_of("web", "c1.canary"), Some(SHA));

            let seen = observed(&snapshot, &mut cache, &state, &[], now);
            assert!(seen.is_empty(), "nothing is news: {seen:?}");
            let seen = observed(&snapshot, &mut cache, &state, &[("web", "canary")], now);
            assert_eq!(seen, ["canary"], "remembered by the decision");
        }

        #[test]
        fn configs_are_carried_over_with_their_desired_instances() {
            let now = Utc::now();
            let first = desired();
            let mut cache = ConfigCache::default();
            let state = RollbackState::default();
            let snap = snapshot(&first, now);
            assert_eq!(observed(&snap, &mut cache, &state, &[], now).len(), 2);

            // A new desired state sharing `main`'s desired instance, with a new `canary` one,
            // and without the service entries (a config worked out again has no group).
            let mut second = (*first).clone();
            second.services.clear();
            let canary = Arc::make_mut(&mut second.desired.instances[0]);
            assert_eq!(canary.instance, "canary");
            let second = Arc::new(second);
            let snap = snapshot(&second, now);
            let seen = observed(&snap, &mut cache, &state, &[], now);
            assert_eq!(
                seen,
                ["main"],
                "main's config carried over, canary's worked out"
            );
        }
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
