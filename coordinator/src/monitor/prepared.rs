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

/// One instance's check inputs from its service's config.
#[derive(Debug)]
pub(super) struct Prepared {
    /// (service, instance), shared with the results of every pass.
    pub(super) key: Arc<(String, String)>,
    pub(super) target: CheckTarget,
    /// `/<svc>.<inst>`: the prefix of the apps whose tasks its replication counts (PaaSTA's,
    /// without the dot).
    pub(super) count_prefix: String,
    pub(super) nerve_ns: String,
    /// Its namespace's smartstack config, when the service has one for `nerve_ns`.
    pub(super) namespace: Option<ServiceNamespaceConfig>,
    /// `monitoring_blacklist` (its deploy blacklist unless set; empty when invalid).
    pub(super) blacklist: Vec<(String, String)>,
    /// Expected tasks, summed over the instances sharing its nerve_ns.
    pub(super) expected: u64,
    /// The Sensu envelope per check kind (`None`: no team resolves), in [`CheckKind::ALL`]
    /// order; shared between instances with equal envelopes.
    settings: Vec<Option<Arc<SensuSettings>>>,
}

impl Prepared {
    /// `<svc>.<inst>` as in app ids.
    pub(super) fn short(&self) -> &str {
        &self.count_prefix[1..]
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
    let mut last: Vec<Option<Arc<SensuSettings>>> = vec![None; CheckKind::ALL.len()];
    let mut out = Vec::with_capacity(configs.len());
    for config in &configs {
        let Ok(target) = CheckTarget::from_config(config) else {
            continue;
        };
        let Ok(nerve_ns) = config.nerve_ns() else {
            continue;
        };
        let sources = MonitoringSources::for_instance(config, &entry.source, &parsed.general).ok();
        let settings = CheckKind::ALL
            .iter()
            .zip(&mut last)
            .map(|(kind, last)| {
                let s = sources.as_ref()?.resolve(*kind, cluster)?;
                Some(match last {
                    Some(shared) if **shared == s => Arc::clone(shared),
                    _ => Arc::clone(last.insert(Arc::new(s))),
                })
            })
            .collect();
        let short = target.short_app_id();
        out.push(Prepared {
            key: Arc::new((config.service.clone(), config.instance.clone())),
            count_prefix: format!("/{short}"),
            expected: expected_count(&members, &nerve_ns),
            namespace: ServiceNamespaceConfig::load(&parsed, &nerve_ns).ok(),
            blacklist: config.monitoring_blacklist().unwrap_or_default(),
            nerve_ns,
            target,
            settings,
        });
    }
    out
}
