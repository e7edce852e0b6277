//! Every Marathon and Mesos call counted and timed by operation
//! (`galley_call_duration_seconds{target,op}`, `galley_call_errors_total{target,op}`): the
//! clients `serve` shares are wrapped in [`Metered`], so list calls, app fetches and Mesos
//! reads are all visible (the histogram's `_count` is the number of calls).

use std::sync::Arc;

use futures::stream::BoxStream;
use galley_common::observed::{MesosSlave, MesosState, ObservedApp};
use galley_common::replication::QueueSignal;

use super::marathon::{MarathonApi, MarathonError, MarathonEvent};
use super::mesos::{MesosApi, MesosError};
use crate::metrics::Metrics;

/// A client whose every call is recorded in `metrics`.
#[derive(Debug)]
pub struct Metered<C> {
    inner: C,
    metrics: Arc<Metrics>,
}

impl<C> Metered<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

const MARATHON: &str = "marathon";

impl<M: MarathonApi> MarathonApi for Metered<M> {
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        self.metrics
            .time_call(MARATHON, "list_apps", self.inner.list_apps())
            .await
    }
    async fn list_apps_reusing(
        &self,
        held: galley_common::observed::AppSnapshot,
    ) -> Result<Vec<Arc<ObservedApp>>, MarathonError> {
        self.metrics
            .time_call(MARATHON, "list_apps", self.inner.list_apps_reusing(held))
            .await
    }
    async fn get_app(&self, app_id: &str) -> Result<Option<ObservedApp>, MarathonError> {
        self.metrics
            .time_call(MARATHON, "get_app", self.inner.get_app(app_id))
            .await
    }
    fn events(&self) -> BoxStream<'static, Result<MarathonEvent, MarathonError>> {
        self.metrics
            .observe_call(MARATHON, "events_connect", std::time::Duration::ZERO, true);
        self.inner.events()
    }
    async fn create_app(&self, app: &serde_json::Value) -> Result<(), MarathonError> {
        self.metrics
            .time_call(MARATHON, "create_app", self.inner.create_app(app))
            .await
    }
    async fn scale_app(&self, app_id: &str, n: u32, force: bool) -> Result<(), MarathonError> {
        self.metrics
            .time_call(
                MARATHON,
                "scale_app",
                self.inner.scale_app(app_id, n, force),
            )
            .await
    }
    async fn kill_tasks(
        &self,
        task_ids: &[String],
        scale: bool,
        force: bool,
    ) -> Result<(), MarathonError> {
        let call = self.inner.kill_tasks(task_ids, scale, force);
        self.metrics.time_call(MARATHON, "kill_tasks", call).await
    }
    async fn delete_app(&self, app_id: &str) -> Result<(), MarathonError> {
        self.metrics
            .time_call(MARATHON, "delete_app", self.inner.delete_app(app_id))
            .await
    }
    async fn queue(&self) -> Result<Vec<QueueSignal>, MarathonError> {
        // The monitor times its queue reads itself (op `queue`).
        self.inner.queue().await
    }
}

impl<S: MesosApi> MesosApi for Metered<S> {
    async fn state(&self) -> Result<MesosState, MesosError> {
        self.metrics
            .time_call("mesos", "state", self.inner.state())
            .await
    }
    async fn slaves(&self) -> Result<Vec<MesosSlave>, MesosError> {
        self.metrics
            .time_call("mesos", "slaves", self.inner.slaves())
            .await
    }
}
