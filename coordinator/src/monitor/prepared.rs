//! What a service's checks need from its config, worked out once per service entry instead of
//! every pass: the desired state shares an unchanged service's entry (the same `Arc`) between
//! passes, so a pass merges no instance config, resolves no Sensu envelope and loads no
//! namespace again unless the service's files changed. At 50,000 instances these merges were
//! the monitor's largest cost after each pass.

use std::collections::HashMap;
use std::sync::Arc;

use galley_common::monitoring::{CheckKind, MonitoringSources, SensuSettings};
use galley_common::replication::{CheckTarget, NamespaceMember, expected_count};
use galley_common::smartstack::ServiceNamespaceConfig;
use galley_common::soa::InstanceKind;

use crate::desired::ServiceEntry;

/// One instance's check inputs from its service's config. Names are held once, in the shared
/// key: at 50,000 instances each copy of them here cost about 6 MB.
#[derive(Debug)]
pub(super) struct Prepared {
    /// (service, instance), shared with the results of every pass.
    pub(super) key: Arc<(String, String)>,
    /// `replication_threshold`, percent.
    threshold: f64,
    /// Its `nerve_ns` when not its own name.
    nerve_ns: Option<String>,
    /// Its namespace's smartstack config, when the namespace is in smartstack.
    pub(super) namespace: Option<Box<ServiceNamespaceConfig>>,
    /// `monitoring_blacklist` (its deploy blacklist unless set; empty when invalid).
    pub(super) blacklist: Vec<(String, String)>,
    /// Expected tasks, summed over the instances sharing its nerve_ns.
    pub(super) expected: u64,
    /// The Sensu envelope per check kind (`None`: no team resolves), by [`CheckKind::index`];
    /// shared between instances with equal envelopes.
    settings: [Option<Arc<SensuSettings>>; CheckKind::ALL.len()],
}

impl Prepared {
    /// Writes `/<svc>.<inst>` (as in app ids, `_` → `--`) into `buf`: the prefix of the apps
    /// whose tasks its replication counts (PaaSTA's, without the dot). `&buf[1..]` is the
    /// instance's short id.
    pub(super) fn write_count_prefix(&self, buf: &mut String) {
        buf.clear();
        buf.push('/');
        galley_common::app_id::push_short_id(buf, &self.key.0, &self.key.1);
    }

    /// Its nerve namespace.
    pub(super) fn nerve_ns(&self) -> &str {
        self.nerve_ns.as_deref().unwrap_or(&self.key.1)
    }

    /// What its replication check reports on (built when a check runs).
    pub(super) fn target(&self, cluster: &str) -> CheckTarget {
        CheckTarget {
            service: self.key.0.clone(),
            instance: self.key.1.clone(),
            cluster: cluster.to_owned(),
            threshold: self.threshold,
        }
    }

    /// The envelope of `kind`'s check.
    pub(super) fn settings(&self, kind: CheckKind) -> Option<&Arc<SensuSettings>> {
        self.settings.get(kind.index())?.as_ref()
    }
}

/// Per service: the entry the instances were prepared from, and them.
#[derive(Debug, Default)]
pub(super) struct PreparedCache {
    services: HashMap<String, (Arc<ServiceEntry>, Arc<[Prepared]>)>,
}

impl PreparedCache {
    /// The prepared instances of `service` (worked out again when its entry is a new one).
    pub(super) fn get(
        &mut self,
        service: &str,
        entry: &Arc<ServiceEntry>,
        cluster: &str,
    ) -> Arc<[Prepared]> {
        if let Some((at, prepared)) = self.services.get(service)
            && Arc::ptr_eq(at, entry)
        {
            return Arc::clone(prepared);
        }
        let prepared: Arc<[Prepared]> = prepare(entry, cluster).into();
        self.services.insert(
            service.to_owned(),
            (Arc::clone(entry), Arc::clone(&prepared)),
        );
        prepared
    }

    /// Forgets services no longer in the desired state.
    pub(super) fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.services.retain(|s, _| live(s));
    }
}

/// Works out every monitored Marathon instance of a deployed service (none without
/// deployments: PaaSTA skips those silently). An instance whose config is invalid for the
/// checks is left out, as before.
fn prepare(entry: &ServiceEntry, cluster: &str) -> Vec<Prepared> {
    if !entry.deployed {
        return Vec::new();
    }
    let Some(parsed) = entry.config() else {
        return Vec::new();
    };
    let configs: Vec<_> = entry
        .instances()
        .filter_map(|(i, _)| parsed.instance(cluster, InstanceKind::Marathon, i).ok())
        .collect();
    let members: Vec<NamespaceMember> = configs
        .iter()
        .filter_map(|c| {
            let state = entry.facts(&c.instance)?.as_ref().ok()?.desired_state?;
            NamespaceMember::from_config(c, state, None).ok()
        })
        .collect();
    let mut last: [Option<Arc<SensuSettings>>; CheckKind::ALL.len()] = Default::default();
    let mut out = Vec::with_capacity(configs.len());
    for config in &configs {
        let Ok(threshold) = config.replication_threshold() else {
            continue;
        };
        let Ok(nerve_ns) = config.nerve_ns() else {
            continue;
        };
        let sources = MonitoringSources::for_instance(config, &entry.source, &parsed.general).ok();
        let mut settings: [Option<Arc<SensuSettings>>; CheckKind::ALL.len()] = Default::default();
        for ((kind, last), setting) in CheckKind::ALL.iter().zip(&mut last).zip(&mut settings) {
            let Some(s) = sources.as_ref().and_then(|s| s.resolve(*kind, cluster)) else {
                continue;
            };
            *setting = Some(match last {
                Some(shared) if **shared == s => Arc::clone(shared),
                _ => Arc::clone(last.insert(Arc::new(s))),
            });
        }
        let namespace = ServiceNamespaceConfig::load(&parsed, &nerve_ns)
            .ok()
            .filter(ServiceNamespaceConfig::is_in_smartstack)
            .map(Box::new);
        out.push(Prepared {
            key: Arc::new((config.service.clone(), config.instance.clone())),
            expected: expected_count(&members, &nerve_ns),
            namespace,
            blacklist: config.monitoring_blacklist().unwrap_or_default(),
            nerve_ns: (nerve_ns != config.instance).then_some(nerve_ns),
            threshold,
            settings,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Prepared;

    #[test]
    fn the_count_prefix_is_the_short_app_id_with_a_slash() {
        for (service, instance) in [("web", "main"), ("a_b__c", "_x_"), ("é_", "i")] {
            let p = Prepared {
                key: Arc::new((service.to_owned(), instance.to_owned())),
                threshold: 50.0,
                nerve_ns: None,
                namespace: None,
                blacklist: Vec::new(),
                expected: 1,
                settings: Default::default(),
            };
            let mut buf = "stale".to_owned();
            p.write_count_prefix(&mut buf);
            let short = galley_common::app_id::short_id(service, instance);
            assert_eq!(buf, format!("/{short}"));
            if service == "a_b__c" {
                assert_eq!(buf, "/a--b----c.--x--", "`_` → `--`, literally");
            }
            assert_eq!(p.nerve_ns(), instance, "defaults to the instance");
            assert_eq!(p.target("c1").short_app_id(), short);
        }
    }
}
