//! What the monitor reads beyond the pass snapshot, each at most once per round and only when
//! an instance needs it: Marathon's launch queue (evidence for under-replicated or bouncing
//! instances), the Mesos slaves and synapse's haproxy stats (the smartstack path). A failed
//! read is logged and counted (`galley_call_errors_total`), never fails the round.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use galley_common::observed::MesosSlave;
use galley_common::replication::{QueueSignal, SmartstackLocations, first_slave_per_location};

use crate::error_chain::ErrorChain;
use crate::haproxy::HaproxyClient;
use crate::marathon::{MarathonApi, MarathonError};
use crate::mesos::{MesosApi, MesosError};
use crate::metrics::Metrics;

/// Marathon's launch queue, object-safe (every [`MarathonApi`] is one).
pub trait LaunchQueue: Send + Sync + 'static {
    /// `GET /v2/queue`.
    fn launch_queue(&self) -> BoxFuture<'_, Result<Vec<QueueSignal>, MarathonError>>;
}

impl<M: MarathonApi> LaunchQueue for M {
    fn launch_queue(&self) -> BoxFuture<'_, Result<Vec<QueueSignal>, MarathonError>> {
        Box::pin(self.queue())
    }
}

/// The Mesos slaves, object-safe (every [`MesosApi`] is one).
pub trait SlaveList: Send + Sync + 'static {
    /// `GET /master/slaves`.
    fn slave_list(&self) -> BoxFuture<'_, Result<Vec<MesosSlave>, MesosError>>;
}

impl<M: MesosApi> SlaveList for M {
    fn slave_list(&self) -> BoxFuture<'_, Result<Vec<MesosSlave>, MesosError>> {
        Box::pin(self.slaves())
    }
}

/// The smartstack path's inputs: where the slaves are, and how to read their haproxy.
#[derive(Clone)]
pub struct SmartstackSources {
    /// The Mesos master.
    pub slaves: Arc<dyn SlaveList>,
    /// Synapse's haproxy on each slave.
    pub haproxy: HaproxyClient,
}

/// The reads of one monitor round, memoised (a failure is memoised too: no retry per round).
#[derive(Default)]
pub(super) struct Round {
    queue: Option<Vec<QueueSignal>>,
    slaves: Option<Option<Vec<MesosSlave>>>,
    haproxy: BTreeMap<String, Option<BTreeMap<String, u64>>>,
}

impl Round {
    /// The launch queue (empty without a source or after a failed read).
    pub(super) async fn queue(
        &mut self,
        source: Option<&dyn LaunchQueue>,
        metrics: &Metrics,
    ) -> &[QueueSignal] {
        if self.queue.is_none() {
            let fetched = match source {
                None => Vec::new(),
                Some(source) => {
                    let call = source.launch_queue();
                    match metrics.time_call("marathon", "queue", call).await {
                        Ok(q) => q,
                        Err(e) => {
                            tracing::warn!(error = %ErrorChain(&e), "marathon launch queue unreadable; evidence without it");
                            Vec::new()
                        }
                    }
                }
            };
            self.queue = Some(fetched);
        }
        self.queue.as_deref().unwrap_or_default()
    }

    /// UP backends per discover location for a namespace (`discover` attribute, minus the
    /// instance's `monitoring_blacklist`), asking the first slave of each location. `None`
    /// when the slaves or any location's haproxy could not be read: no fresh view, no verdict.
    pub(super) async fn locations(
        &mut self,
        sources: &SmartstackSources,
        metrics: &Metrics,
        discover: &str,
        blacklist: &[(String, String)],
    ) -> Option<SmartstackLocations> {
        if self.slaves.is_none() {
            let call = sources.slaves.slave_list();
            let slaves = match metrics.time_call("mesos", "slaves", call).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "mesos slaves unreadable; smartstack checks skipped this round");
                    None
                }
            };
            self.slaves = Some(slaves);
        }
        let slaves = self.slaves.as_ref().and_then(Option::as_deref)?;
        let hosts = first_slave_per_location(slaves, discover, blacklist);
        let mut out = SmartstackLocations::new();
        for (location, host) in hosts {
            if !self.haproxy.contains_key(&host) {
                let call = sources.haproxy.up_backends(&host);
                let read = match metrics.time_call("haproxy", "stats", call).await {
                    Ok(b) => Some(b),
                    Err(e) => {
                        tracing::warn!(%host, error = %ErrorChain(&e), "haproxy stats unreadable");
                        None
                    }
                };
                self.haproxy.insert(host.clone(), read);
            }
            let backends = self.haproxy.get(&host).cloned().flatten()?;
            out.insert(location, backends);
        }
        Some(out)
    }
}
