//! Marathon's JSON as it comes off the wire (only the fields Galley reads), and its conversion
//! into `galley_common::observed` types.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use galley_common::observed::{AppSnapshot, ObservedApp, ObservedTask, TaskFailure, reuse_held};
use galley_common::replication::QueueSignal;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `{"apps": [...]}` decoded straight into shared observed apps: each app's DTO is converted
/// as soon as it is parsed, so the DTOs of the whole list never exist at once (at 20,000 apps
/// they were about 50 MB on top of the body), and an app equal to one in `held` is that same
/// `Arc` ([`reuse_held`]): a resync of an unchanged cluster allocates no app that outlives
/// its comparison.
#[derive(Debug, Default)]
pub(super) struct ListSeed {
    /// The apps held before, sorted by id.
    pub(super) held: AppSnapshot,
}

impl<'de> DeserializeSeed<'de> for ListSeed {
    type Value = Vec<Arc<ObservedApp>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed {
    type Value = Vec<Arc<ObservedApp>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(r#"an object with "apps""#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut apps = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "apps" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if apps.is_some() {
                return Err(serde::de::Error::duplicate_field("apps"));
            }
            apps = Some(map.next_value_seed(AppsSeed(&self.held))?);
        }
        apps.ok_or_else(|| serde::de::Error::missing_field("apps"))
    }
}

/// The `apps` array of a [`ListSeed`].
struct AppsSeed<'a>(&'a [Arc<ObservedApp>]);

impl<'de> DeserializeSeed<'de> for AppsSeed<'_> {
    type Value = Vec<Arc<ObservedApp>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AppsSeed<'_> {
    type Value = Vec<Arc<ObservedApp>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of apps")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(app) = seq.next_element::<App>()? {
            out.push(reuse_held(self.0, app.into()));
        }
        Ok(out)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct App {
    id: String,
    #[serde(default)]
    instances: u32,
    #[serde(default)]
    health_checks: Vec<serde_json::Value>,
    #[serde(default)]
    deployments: Vec<DeploymentRef>,
    #[serde(default)]
    tasks: Vec<Task>,
    #[serde(default)]
    last_task_failure: Option<LastTaskFailure>,
    #[serde(default)]
    tasks_staged: u32,
    #[serde(default)]
    tasks_running: u32,
    #[serde(default)]
    tasks_healthy: u32,
    #[serde(default)]
    tasks_unhealthy: u32,
}

#[derive(Debug, Deserialize)]
struct DeploymentRef {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    id: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    staged_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    health_check_results: Vec<HealthResult>,
}

#[derive(Debug, Deserialize)]
struct HealthResult {
    #[serde(default)]
    alive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LastTaskFailure {
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    timestamp: String,
}

/// Locked-409 body.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) deployments: Option<Vec<DeploymentRefPub>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DeploymentRefPub {
    pub(super) id: String,
}

fn timestamp(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Collects into a `Vec` of exactly the items' count. (`collect` reuses the source `Vec`'s
/// allocation when the sizes allow, and serde grows a decoded `Vec` to a capacity of at least
/// four: an app's one task then kept four `Task`s' room, 672 bytes, for as long as the view
/// held it — about 25 MB at 50,000 apps.)
fn exact<T>(items: impl ExactSizeIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    out.extend(items);
    out
}

impl From<App> for ObservedApp {
    fn from(a: App) -> Self {
        ObservedApp {
            id: a.id,
            instances: a.instances,
            has_health_checks: !a.health_checks.is_empty(),
            deployments: exact(a.deployments.into_iter().map(|d| d.id)),
            tasks: exact(a.tasks.into_iter().map(|t| {
                ObservedTask {
                    id: t.id,
                    host: t.host,
                    ports: t.ports,
                    state: t.state.map(galley_common::observed::task_state),
                    staged_at: timestamp(t.staged_at),
                    started_at: timestamp(t.started_at),
                    health_results: t
                        .health_check_results
                        .into_iter()
                        .map(|h| h.alive)
                        .collect(),
                }
            })),
            last_task_failure: a.last_task_failure.map(|f| {
                Box::new(TaskFailure {
                    task_id: f.task_id,
                    state: f.state,
                    message: f.message,
                    host: f.host,
                    timestamp: f.timestamp,
                })
            }),
            tasks_staged: a.tasks_staged,
            tasks_running: a.tasks_running,
            tasks_healthy: a.tasks_healthy,
            tasks_unhealthy: a.tasks_unhealthy,
        }
    }
}

/// `GET /v2/queue` (spec §1.8): only apps with launches waiting or a backoff running.
#[derive(Debug, Deserialize)]
pub(super) struct QueueList {
    #[serde(default)]
    pub(super) queue: Vec<QueueItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueueItem {
    /// Pods (Marathon ≥1.4) carry `pod` instead; they have no app id and are skipped.
    #[serde(default)]
    app: Option<QueueApp>,
    #[serde(default)]
    count: u32,
    #[serde(default)]
    delay: Option<QueueDelay>,
    #[serde(default)]
    processed_offers_summary: Option<OffersSummary>,
}

#[derive(Debug, Deserialize)]
struct QueueApp {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueDelay {
    #[serde(default)]
    time_left_seconds: u64,
    #[serde(default)]
    overdue: bool,
}

/// `processedOffersSummary` as Marathon 1.4 writes it (`raml/QueueInfoConversion.scala`):
/// both reject summaries list every reason of the funnel, most with `declined: 0`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffersSummary {
    #[serde(default)]
    unused_offers_count: u64,
    /// When an offer was last declined (absent before the first).
    #[serde(default)]
    last_unused_offer_at: Option<String>,
    /// When an offer was last used to launch a task (absent before the first).
    #[serde(default)]
    last_used_offer_at: Option<String>,
    /// The last offer of each agent, by the reason it was declined for.
    #[serde(default)]
    reject_summary_last_offers: Vec<RejectSummary>,
}

impl OffersSummary {
    /// The reasons the last offers were declined for, when they are the latest news: the
    /// statistics live as long as the queue entry, so declines followed by a used offer
    /// no longer say the cluster is out of room.
    fn no_capacity(self) -> Option<String> {
        let used = timestamp(self.last_used_offer_at);
        let unused = timestamp(self.last_unused_offer_at);
        if used.is_some_and(|u| unused.is_none_or(|n| u > n)) {
            return None;
        }
        let reasons: Vec<String> = self
            .reject_summary_last_offers
            .into_iter()
            .filter(|r| r.declined > 0 && !r.reason.is_empty())
            .map(|r| r.reason)
            .collect();
        (self.unused_offers_count > 0 && !reasons.is_empty()).then(|| reasons.join(", "))
    }
}

#[derive(Debug, Deserialize)]
struct RejectSummary {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    declined: u64,
}

impl QueueItem {
    /// The signal for this item; `None` for pods.
    pub(super) fn into_signal(self) -> Option<QueueSignal> {
        let app = self.app?;
        // An overdue delay has run out: Marathon is only waiting for an offer.
        let delay_seconds = self
            .delay
            .filter(|d| !d.overdue && d.time_left_seconds > 0)
            .map(|d| d.time_left_seconds);
        // Offers came and none fit: name the reasons Marathon declined them for.
        let no_capacity = self
            .processed_offers_summary
            .and_then(OffersSummary::no_capacity);
        Some(QueueSignal {
            app_id: format!("/{}", app.id.trim_start_matches('/')),
            count: self.count,
            delay_seconds,
            no_capacity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_items_become_signals() {
        let body = serde_json::json!({"queue": [
            {"app": {"id": "/web.main.gitaaaa.configbbbb"}, "count": 2,
             "delay": {"timeLeftSeconds": 7, "overdue": false}, "since": "2017-01-01T00:00:00.000Z"},
            {"app": {"id": "/api.main.gitaaaa.configbbbb"}, "count": 3,
             "delay": {"timeLeftSeconds": 0, "overdue": true},
             "processedOffersSummary": {"processedOffersCount": 9, "unusedOffersCount": 9,
                "rejectSummaryLastOffers": [
                    {"reason": "UnfulfilledRole", "declined": 0, "processed": 9},
                    {"reason": "InsufficientCpus", "declined": 6, "processed": 9},
                    {"reason": "UnfulfilledConstraint", "declined": 3, "processed": 3}]}},
            {"app": {"id": "/old.main.gitaaaa.configbbbb"}, "count": 1,
             "delay": {"timeLeftSeconds": 0, "overdue": true},
             "processedOffersSummary": {"processedOffersCount": 5, "unusedOffersCount": 4,
                "lastUnusedOfferAt": "2017-01-01T00:00:01.000Z",
                "lastUsedOfferAt": "2017-01-01T00:00:02.000Z",
                "rejectSummaryLastOffers": [
                    {"reason": "InsufficientMemory", "declined": 4, "processed": 4}]}},
            {"pod": {"id": "/some-pod"}, "count": 1}
        ]});
        let list: QueueList = serde_json::from_value(body).expect("parses");
        let signals: Vec<QueueSignal> = list
            .queue
            .into_iter()
            .filter_map(QueueItem::into_signal)
            .collect();
        assert_eq!(
            signals,
            [
                QueueSignal {
                    app_id: "/web.main.gitaaaa.configbbbb".into(),
                    count: 2,
                    delay_seconds: Some(7),
                    no_capacity: None,
                },
                QueueSignal {
                    app_id: "/api.main.gitaaaa.configbbbb".into(),
                    count: 3,
                    delay_seconds: None,
                    no_capacity: Some("InsufficientCpus, UnfulfilledConstraint".into()),
                },
                // An offer was used after the last declined one: not out of room.
                QueueSignal {
                    app_id: "/old.main.gitaaaa.configbbbb".into(),
                    count: 1,
                    delay_seconds: None,
                    no_capacity: None,
                },
            ]
        );
    }

    #[test]
    fn an_app_keeps_no_spare_room_for_tasks() {
        let body = serde_json::json!({"id": "/web.main.gitaaaa.configbbbb", "instances": 1,
            "deployments": [{"id": "d1"}],
            "tasks": [{"id": "web.main.t1", "host": "h1", "ports": [31000],
                       "healthCheckResults": [{"alive": true}]}]});
        // As from the wire (a `Value` would tell serde each array's length up front).
        let app: App = serde_json::from_str(&body.to_string()).expect("parses");
        assert!(
            app.tasks.capacity() > 1,
            "serde grows a decoded Vec past its length"
        );
        let app = ObservedApp::from(app);
        assert_eq!((app.tasks.len(), app.tasks.capacity()), (1, 1));
        assert_eq!(app.deployments.capacity(), 1);
        assert_eq!(app.tasks[0].health_results, [true]);
    }
}

/// `GET /v2/apps/{id}`'s body.
#[derive(Debug, serde::Deserialize)]
pub(super) struct AppOne {
    /// The app.
    pub app: App,
}
