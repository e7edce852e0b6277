//! `GET /v2/queue` as Marathon 1.4.13 answers it (`api/v2/QueueResource.scala`,
//! `raml/QueueInfoConversion.scala`): one item per app whose launcher has launches waiting,
//! with `count`, `delay`, `since`, `processedOffersSummary`, `lastUnusedOffers` (only with
//! `embed=lastUnusedOffers`, with each agent's offer as it stands, `OfferConversion`) and the
//! trimmed RAML app.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::ids::ts;
use super::offers::{Launcher, NoMatch};
use super::placement::UNRESERVED;
use super::raml_app::queue_app;
use super::state::{App, Cluster};

impl Cluster {
    /// The queue; `embed_last_unused` adds each item's `lastUnusedOffers`.
    pub fn queue_json(&self, embed_last_unused: bool) -> Value {
        let items: Vec<Value> = self
            .apps
            .values()
            .filter(|a| a.queued > 0)
            .filter_map(|a| Some(self.queue_item(a, a.launcher.as_ref()?, embed_last_unused)))
            .collect();
        json!({ "queue": items })
    }

    fn queue_item(&self, app: &App, launcher: &Launcher, embed_last_unused: bool) -> Value {
        let mut out = Map::new();
        out.insert("count".into(), json!(app.queued));
        out.insert("delay".into(), self.queue_delay(app, launcher));
        out.insert("since".into(), json!(ts(launcher.since)));
        out.insert(
            "processedOffersSummary".into(),
            launcher.stats.summary_json(),
        );
        if embed_last_unused {
            let offers: Vec<Value> = launcher
                .stats
                .last_no_matches
                .values()
                .map(|nm| self.unused_offer_json(nm))
                .collect();
            out.insert("lastUnusedOffers".into(), Value::Array(offers));
        }
        out.insert("app".into(), queue_app(&app.def));
        Value::Object(out)
    }

    /// `QueueDelay`: the launcher's backoff deadline (the moment it started when no delay was
    /// ever set) minus now, in whole seconds truncated toward zero; `overdue` once that is
    /// negative, i.e. a second or more past the deadline.
    fn queue_delay(&self, app: &App, launcher: &Launcher) -> Value {
        let until = app.backoff.until.unwrap_or(launcher.since);
        let left = (until - self.now()).num_milliseconds() / 1000;
        json!({ "timeLeftSeconds": left.max(0), "overdue": left < 0 })
    }

    /// `UnusedOffer`: the offer (as it is now), its reasons and when it was declined.
    fn unused_offer_json(&self, nm: &NoMatch) -> Value {
        let reasons: Vec<&str> = nm.reasons.iter().map(|r| r.name()).collect();
        json!({
            "offer": self.offer_json(&nm.agent_id, nm.at),
            "reason": reasons,
            "timestamp": ts(nm.at),
        })
    }
    /// An agent's offer as it stands (`OfferConversion.offerWrites`): the free resources of
    /// the roles Marathon is offered, free port ranges, and the agent's attributes.
    pub fn offer_json(&self, agent_id: &str, at: DateTime<Utc>) -> Value {
        let Some((i, agent)) = self
            .agents
            .iter()
            .enumerate()
            .find(|(_, a)| a.id == agent_id)
        else {
            return json!({ "id": "", "hostname": "", "agentId": agent_id, "resources": [], "attributes": [] });
        };
        let free = self.free(agent);
        let mut resources = Vec::new();
        for (role, pool) in free
            .pools
            .iter()
            .filter(|(r, _)| *r == UNRESERVED || self.mesos_role.as_ref() == Some(*r))
        {
            for (name, value) in [("cpus", pool.cpus), ("mem", pool.mem), ("disk", pool.disk)] {
                resources.push(json!({ "name": name, "role": role, "scalar": value.max(0.0) }));
            }
        }
        let ranges = free_ranges(agent.spec.ports, &free.ports_used);
        resources.push(json!({ "name": "ports", "role": UNRESERVED, "ranges": ranges }));
        let attributes: Vec<Value> = agent
            .spec
            .attributes
            .iter()
            .map(|(k, v)| match v.parse::<f64>() {
                Ok(x) => json!({ "name": k, "scalar": x }),
                Err(_) => json!({ "name": k, "text": v }),
            })
            .collect();
        let id = format!(
            "{}-O{}",
            self.master_id,
            at.timestamp_millis() * 100 + i as i64
        );
        json!({
            "id": id, "hostname": agent.spec.hostname, "agentId": agent.id,
            "resources": resources, "attributes": attributes,
        })
    }
}

/// The free parts of an agent's port range, as `{begin, end}` ranges.
fn free_ranges(range: (u16, u16), used: &BTreeSet<u16>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start: Option<u16> = None;
    for p in range.0..=range.1 {
        match (used.contains(&p), start) {
            (false, None) => start = Some(p),
            (true, Some(b)) => {
                out.push(json!({ "begin": b, "end": p - 1 }));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push(json!({ "begin": b, "end": range.1 }));
    }
    out
}
