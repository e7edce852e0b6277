//! Alerts to Sensu: [`SensuClient`] writes one event per TCP connection to the Sensu client
//! socket (`sensu_host:sensu_port`, default `localhost:3030`) as `pysensu_yelp` did — the JSON
//! object, a newline, then close — under a short timeout. [`QueuedSink`] moves the writes to a
//! background task so a reconcile pass never waits on Sensu, and [`AlertTracker`] remembers the
//! last status per check so an instance that recovers or is removed gets its OK events.
//!
//! Guarantees: a send never takes longer than the client's timeout; a failed send is returned
//! (and counted by the tracker), never retried here — the next pass sends again, as PaaSTA's
//! cron did.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use galley_common::monitoring::{
    BadSettingError, CheckKind, MonitoringSources, SensuEvent, SensuSettings, Status,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::error_chain::ErrorChain;

/// Default Sensu client socket host (`sensu_host`).
pub const DEFAULT_SENSU_HOST: &str = "localhost";
/// Default Sensu client socket port (`sensu_port`).
pub const DEFAULT_SENSU_PORT: u16 = 3030;
/// The output of the OK events sent for a removed instance (spec §4 step 5).
pub const REMOVED_OUTPUT: &str = "This instance was removed and is no longer running";

/// A failed delivery to Sensu.
#[derive(Debug, thiserror::Error)]
pub enum SensuError {
    /// Could not connect.
    #[error("sensu client socket {addr}: connect failed")]
    Connect {
        /// `host:port`.
        addr: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Connected, but the write failed.
    #[error("sensu client socket {addr}: write of {check} failed")]
    Write {
        /// `host:port`.
        addr: String,
        /// Check name.
        check: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Connect and write took longer than the timeout.
    #[error("sensu client socket {addr}: no answer within {timeout:?}")]
    Timeout {
        /// `host:port`.
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// The background sender's queue is full or gone; the event was dropped.
    #[error("sensu queue full or closed: dropped {check}")]
    Dropped {
        /// Check name.
        check: String,
    },
    /// The monitoring settings could not be turned into an event.
    #[error("event {check} not built")]
    Settings {
        /// Check name.
        check: String,
        /// The bad setting.
        #[source]
        source: BadSettingError,
    },
}

/// Somewhere Sensu events go.
pub trait SensuSink: Send + Sync + 'static {
    /// Delivers one event.
    fn send(&self, event: &SensuEvent) -> impl Future<Output = Result<(), SensuError>> + Send;
}

/// Delivers only while this coordinator leads (`acting` is `Some`); followers drop their
/// events, so a cluster's coordinators alert once. Every pass re-sends every check, so a new
/// leader's first pass brings Sensu up to date.
pub struct LeaderOnly<S> {
    /// Where events go while leading.
    pub inner: S,
    /// The acting leader term.
    pub acting: tokio::sync::watch::Receiver<Option<u64>>,
}

impl<S: SensuSink> SensuSink for LeaderOnly<S> {
    async fn send(&self, event: &SensuEvent) -> Result<(), SensuError> {
        if self.acting.borrow().is_none() {
            return Ok(());
        }
        self.inner.send(event).await
    }
}

/// The Sensu client socket over TCP.
#[derive(Debug, Clone)]
pub struct SensuClient {
    host: String,
    port: u16,
    timeout: Duration,
}

impl SensuClient {
    /// A client for `host:port`, each send limited to `timeout` (connect + write).
    pub fn new(host: impl Into<String>, port: u16, timeout: Duration) -> Self {
        Self {
            host: host.into(),
            port,
            timeout,
        }
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    async fn write(&self, line: &[u8], check: &str) -> Result<(), SensuError> {
        let addr = self.addr();
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| SensuError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let write_err = |source| SensuError::Write {
            addr: addr.clone(),
            check: check.to_string(),
            source,
        };
        stream.write_all(line).await.map_err(write_err)?;
        stream.shutdown().await.map_err(write_err)
    }
}

impl SensuSink for SensuClient {
    async fn send(&self, event: &SensuEvent) -> Result<(), SensuError> {
        let mut line = serde_json::to_vec(event).expect("a SensuEvent always serialises");
        line.push(b'\n');
        tokio::time::timeout(self.timeout, self.write(&line, &event.name))
            .await
            .map_err(|_| SensuError::Timeout {
                addr: self.addr(),
                timeout: self.timeout,
            })?
    }
}

/// Delivery counters shared by a [`QueuedSink`] and its background task.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events whose delivery failed (logged).
    pub failed: AtomicU64,
}

/// A sink that queues events for a background task delivering them through `S`, so `send`
/// returns at once. A full queue drops the event ([`SensuError::Dropped`]).
#[derive(Debug, Clone)]
pub struct QueuedSink {
    tx: mpsc::Sender<SensuEvent>,
    stats: Arc<DeliveryStats>,
}

impl QueuedSink {
    /// Spawns the delivery task (it ends when every `QueuedSink` clone is dropped).
    pub fn spawn<S: SensuSink>(inner: S, capacity: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<SensuEvent>(capacity.max(1));
        let stats = Arc::new(DeliveryStats::default());
        let task_stats = stats.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                match inner.send(&event).await {
                    Ok(()) => task_stats.sent.fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        tracing::warn!(check = %event.name, error = %ErrorChain(&err), "sensu event not delivered");
                        task_stats.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
        Self { tx, stats }
    }

    /// Delivery counters of the background task.
    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }
}

impl SensuSink for QueuedSink {
    async fn send(&self, event: &SensuEvent) -> Result<(), SensuError> {
        self.tx
            .try_send(event.clone())
            .map_err(|_| SensuError::Dropped {
                check: event.name.clone(),
            })
    }
}

/// How a check's status moved with one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// First report of this check.
    First,
    /// Same status as last time.
    Unchanged,
    /// From OK to not OK.
    Raised,
    /// From not OK to OK.
    Recovered,
    /// From one non-OK status to another.
    Changed,
    /// Same status and output as the event sent less than the check's `check_every` ago:
    /// not sent again.
    Quiet,
}

/// What is remembered of one check: small, since there are three per instance (at 50,000
/// instances an inline envelope of about 1 KB per check was the coordinator's largest map,
/// and then a map entry per check with its name and the instance's two names was the
/// monitor's).
#[derive(Debug, Clone)]
struct Remembered {
    status: Status,
    /// `None` for a check no team resolves for: nothing is sent, but its status and output
    /// are remembered so that an unchanged one stays quiet between rounds. The caller's shared
    /// envelope (the monitor resolves one per service and check kind).
    settings: Option<Arc<SensuSettings>>,
    /// A hash of what was last sent (only compared: a collision at worst delays a changed
    /// output to the next round), and whether it was delivered.
    output_hash: u64,
    delivered: bool,
}

/// One instance's remembered checks, by [`CheckKind::index`].
type Checks = [Option<Remembered>; CheckKind::ALL.len()];

/// Remembers the last status and envelope of every check it reported, so that recovery and
/// removal send OK events to the same team.
///
/// Each pass the reconciler calls [`AlertTracker::report`] for every check it evaluates. On a
/// *round* (the periodic pass: the cadence of PaaSTA's crons, which Sensu's `alert_after`
/// counts occurrences against) every event goes out; on other passes (driven by Marathon's
/// events, soa-dir changes, operators — far more often) only events whose status or output
/// changed, or whose last delivery failed. Then
/// [`AlertTracker::retain_instances`] with the instances still configured, which sends the three
/// removal OKs for the others.
#[derive(Debug)]
pub struct AlertTracker<S: SensuSink> {
    sink: S,
    /// Per instance, its checks' last reports in [`CheckKind::ALL`] order (keyed by the
    /// monitor's shared keys: no copy of the names per instance).
    last: BTreeMap<Arc<(String, String)>, Checks>,
    sent: u64,
    failed: u64,
}

impl<S: SensuSink> AlertTracker<S> {
    /// A tracker delivering through `sink`.
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            last: BTreeMap::new(),
            sent: 0,
            failed: 0,
        }
    }

    /// Events delivered and failed so far (a [`QueuedSink`] counts its own deliveries).
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.failed)
    }

    /// The last status reported for `kind`'s check of `service.instance`.
    pub fn last_status(&self, kind: CheckKind, service: &str, instance: &str) -> Option<Status> {
        self.remembered(kind, &(service.to_owned(), instance.to_owned()))
            .map(|r| r.status)
    }

    /// Keyed by owned pairs: a lookup takes one (the monitor's shared keys are such pairs).
    fn remembered(&self, kind: CheckKind, key: &(String, String)) -> Option<&Remembered> {
        self.last.get(key)?[kind.index()].as_ref()
    }

    /// Instances with at least one remembered check.
    pub fn tracked_instances(&self) -> BTreeSet<(String, String)> {
        self.last.keys().map(|k| (**k).clone()).collect()
    }

    /// Sends `kind`'s event for `service.instance` and remembers it; an unchanged event is
    /// sent again only when `round` is set ([`Transition::Quiet`] otherwise). `settings` is
    /// `None` when no team resolves: nothing is sent, and the transition is reported as if it
    /// had been (so callers log changes and rounds alike, and stay quiet otherwise). A failed
    /// send is logged, counted and returned; the status is remembered either way.
    #[allow(clippy::too_many_arguments)]
    pub async fn report(
        &mut self,
        kind: CheckKind,
        service: &str,
        instance: &str,
        status: Status,
        output: &str,
        settings: Option<&Arc<SensuSettings>>,
        round: bool,
    ) -> Result<Transition, SensuError> {
        let key = Arc::new((service.to_owned(), instance.to_owned()));
        self.report_keyed(kind, &key, status, output, settings, round)
            .await
    }

    /// [`Self::report`] for the instance `key` (`(service, instance)`, shared with the caller).
    pub async fn report_keyed(
        &mut self,
        kind: CheckKind,
        key: &Arc<(String, String)>,
        status: Status,
        output: &str,
        settings: Option<&Arc<SensuSettings>>,
        round: bool,
    ) -> Result<Transition, SensuError> {
        let (service, instance) = (&key.0, &key.1);
        let last = self.remembered(kind, key);
        let transition = match last.map(|r| r.status) {
            None => Transition::First,
            Some(old) if old == status => Transition::Unchanged,
            Some(Status::Ok) => Transition::Raised,
            Some(_) if status == Status::Ok => Transition::Recovered,
            Some(_) => Transition::Changed,
        };
        let output_hash = super::text_hash(&output);
        let same_settings = |r: &Remembered| match (&r.settings, settings) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (a, b) => a.is_none() && b.is_none(),
        };
        let same =
            last.is_some_and(|r| r.delivered && r.output_hash == output_hash && same_settings(r));
        if transition == Transition::Unchanged && same && !round {
            return Ok(Transition::Quiet);
        }
        let delivered = match settings {
            Some(settings) => {
                let check = kind.check_name(service, instance);
                self.deliver(&check, status, output, settings).await
            }
            None => Ok(()),
        };
        let checks = match self.last.get_mut(&**key) {
            Some(checks) => checks,
            None => self.last.entry(Arc::clone(key)).or_default(),
        };
        checks[kind.index()] = Some(Remembered {
            status,
            settings: settings.cloned(),
            output_hash,
            delivered: delivered.is_ok(),
        });
        delivered?;
        Ok(transition)
    }

    /// Sends the three removal OK events (spec §4 step 5) for `service.instance` as PaaSTA's
    /// cleanup did, with no overrides ([`galley_common::monitoring::as_removal`]): the team and
    /// contacts from `sources` (the service's monitoring without instance overrides), else from
    /// the envelope last used for that check, else skipped; then forgets the instance. Returns
    /// the first delivery error after trying all three.
    pub async fn removed(
        &mut self,
        service: &str,
        instance: &str,
        sources: Option<&MonitoringSources>,
        cluster: &str,
    ) -> Result<(), SensuError> {
        let mut first_err = None;
        let mut checks = self
            .last
            .remove(&(service.to_owned(), instance.to_owned()))
            .unwrap_or_default();
        for kind in CheckKind::ALL {
            let check = kind.check_name(service, instance);
            let remembered = checks[kind.index()]
                .take()
                .and_then(|r| r.settings)
                .map(Arc::unwrap_or_clone);
            let settings = sources
                .and_then(|s| s.resolve_removal(cluster))
                .or_else(|| remembered.map(galley_common::monitoring::as_removal));
            let Some(settings) = settings else { continue };
            if let Err(err) = self
                .deliver(&check, Status::Ok, REMOVED_OUTPUT, &settings)
                .await
            {
                first_err.get_or_insert(err);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Sends removal OKs for every tracked instance of `services` not in `live` (see
    /// [`Self::removed`]; `sources_of` gives a service's monitoring sources when known). Only
    /// the services whose config changed can have lost instances, so a change to one service
    /// looks at that service's instances, not at every tracked one.
    pub async fn retain_instances(
        &mut self,
        services: &BTreeSet<String>,
        live: &BTreeSet<(String, String)>,
        sources_of: impl Fn(&str) -> Option<MonitoringSources>,
        cluster: &str,
    ) {
        let mut gone = Vec::new();
        for service in services {
            let from = (service.clone(), String::new());
            let tracked = self.last.range(from..).map(|(k, _)| k);
            gone.extend(
                tracked
                    .take_while(|k| &k.0 == service)
                    .filter(|k| !live.contains(*k))
                    .cloned(),
            );
        }
        for key in gone {
            let (service, instance): &(String, String) = &key;
            let sources = sources_of(service);
            // Failures are logged and counted in `deliver`.
            let _ = self
                .removed(service, instance, sources.as_ref(), cluster)
                .await;
        }
    }

    async fn deliver(
        &mut self,
        check: &str,
        status: Status,
        output: &str,
        settings: &SensuSettings,
    ) -> Result<(), SensuError> {
        let result = match SensuEvent::new(check, status, output, settings) {
            Ok(event) => self.sink.send(&event).await,
            Err(source) => Err(SensuError::Settings {
                check: check.to_string(),
                source,
            }),
        };
        match &result {
            Ok(()) => self.sent += 1,
            Err(err) => {
                self.failed += 1;
                tracing::warn!(check, error = %ErrorChain(err), "sensu event not sent");
            }
        }
        result
    }
}

#[cfg(test)]
mod tests;
