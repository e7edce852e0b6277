//! Offer statistics of the launch queue, as Marathon 1.4.13 keeps and writes them
//! (`core/launchqueue/impl/OfferMatchStatisticsActor.scala`, `mesos/NoOfferMatchReason.scala`,
//! `raml/QueueInfoConversion.scala`): per app, from the moment its launcher starts until the
//! queue entry is purged, the processed and unused offers, the reason each declined offer was
//! declined for (the first one in Marathon's reason funnel), and the last declined offer of
//! every agent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ids::ts;
use super::state::App;

/// Why an offer did not fit (`NoOfferMatchReason`), in the order of Marathon's funnel: an
/// offer declined for several reasons counts once, for the first of them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The offer has no resource of a role the app accepts.
    UnfulfilledRole,
    /// A constraint does not hold on the agent.
    UnfulfilledConstraint,
    /// Resident tasks only (never produced by the emulator).
    NoCorrespondingReservationFound,
    /// Not enough CPUs.
    InsufficientCpus,
    /// Not enough memory.
    InsufficientMemory,
    /// Not enough disk.
    InsufficientDisk,
    /// Not enough GPUs.
    InsufficientGpus,
    /// The host ports cannot be given.
    InsufficientPorts,
}

impl Reason {
    /// `NoOfferMatchReason.reasonFunnel`.
    pub const FUNNEL: [Reason; 8] = [
        Reason::UnfulfilledRole,
        Reason::UnfulfilledConstraint,
        Reason::NoCorrespondingReservationFound,
        Reason::InsufficientCpus,
        Reason::InsufficientMemory,
        Reason::InsufficientDisk,
        Reason::InsufficientGpus,
        Reason::InsufficientPorts,
    ];

    /// The name Marathon writes (the Scala case object's name).
    pub fn name(self) -> &'static str {
        match self {
            Reason::UnfulfilledRole => "UnfulfilledRole",
            Reason::UnfulfilledConstraint => "UnfulfilledConstraint",
            Reason::NoCorrespondingReservationFound => "NoCorrespondingReservationFound",
            Reason::InsufficientCpus => "InsufficientCpus",
            Reason::InsufficientMemory => "InsufficientMemory",
            Reason::InsufficientDisk => "InsufficientDisk",
            Reason::InsufficientGpus => "InsufficientGpus",
            Reason::InsufficientPorts => "InsufficientPorts",
        }
    }
}

/// One declined offer (`OfferMatchResult.NoMatch`).
#[derive(Debug, Clone, PartialEq)]
pub struct NoMatch {
    /// The agent that made the offer.
    pub agent_id: String,
    /// Every reason found, in the order `ResourceMatcher` finds them (never empty).
    pub reasons: Vec<Reason>,
    /// When the offer was processed.
    pub at: DateTime<Utc>,
}

impl NoMatch {
    /// The reason the offer is counted under (lowest funnel index).
    pub fn funnel_reason(&self) -> Option<Reason> {
        self.reasons.iter().min().copied()
    }
}

/// `RunSpecOfferStatistics` plus the last declined offer per agent.
#[derive(Debug, Clone, Default)]
pub struct OfferStats {
    /// Offers processed for the app.
    pub processed: u64,
    /// Of those, declined.
    pub unused: u64,
    /// Declined offers by funnel reason (`rejectSummaryLaunchAttempt`).
    pub reject_summary: BTreeMap<Reason, u64>,
    /// When an offer was last used.
    pub last_match: Option<DateTime<Utc>>,
    /// When an offer was last declined.
    pub last_no_match: Option<DateTime<Utc>>,
    /// The last declined offer of every agent (`lastNoMatches`).
    pub last_no_matches: BTreeMap<String, NoMatch>,
}

impl OfferStats {
    /// An offer was used to launch a task (`incrementMatched`).
    pub fn record_match(&mut self, at: DateTime<Utc>) {
        self.processed += 1;
        self.last_match = Some(at);
    }

    /// An offer was declined (`incrementUnmatched` and the per-agent last offer).
    pub fn record_no_match(&mut self, no_match: NoMatch) {
        self.processed += 1;
        self.unused += 1;
        self.last_no_match = Some(no_match.at);
        if let Some(reason) = no_match.funnel_reason() {
            *self.reject_summary.entry(reason).or_default() += 1;
        }
        self.last_no_matches
            .insert(no_match.agent_id.clone(), no_match);
    }

    /// `lastOfferSummary`: the last declined offer of each agent, by funnel reason.
    fn last_offers_summary(&self) -> BTreeMap<Reason, u64> {
        let mut out = BTreeMap::new();
        for reason in self
            .last_no_matches
            .values()
            .filter_map(NoMatch::funnel_reason)
        {
            *out.entry(reason).or_default() += 1;
        }
        out
    }

    /// `processedOffersSummary` of a queue item (`QueueInfoConversion`): optional timestamps
    /// only when known, both reject summaries with one entry per funnel reason.
    pub fn summary_json(&self) -> Value {
        let mut out = json!({
            "processedOffersCount": self.processed,
            "unusedOffersCount": self.unused,
        });
        if let Some(t) = self.last_no_match {
            out["lastUnusedOfferAt"] = json!(ts(t));
        }
        if let Some(t) = self.last_match {
            out["lastUsedOfferAt"] = json!(ts(t));
        }
        let last = declined_offer_steps(
            self.last_no_matches.len() as u64,
            &self.last_offers_summary(),
        );
        out["rejectSummaryLastOffers"] = last;
        out["rejectSummaryLaunchAttempt"] =
            declined_offer_steps(self.processed, &self.reject_summary);
        out
    }
}

/// `declinedOfferSteps`: walks the funnel; each step declines its reason's count out of what
/// the earlier steps let through.
fn declined_offer_steps(processed: u64, summary: &BTreeMap<Reason, u64>) -> Value {
    let mut left = processed;
    let steps: Vec<Value> = Reason::FUNNEL
        .iter()
        .map(|r| {
            let declined = summary.get(r).copied().unwrap_or(0);
            let step = json!({ "reason": r.name(), "declined": declined, "processed": left });
            left = left.saturating_sub(declined);
            step
        })
        .collect();
    Value::Array(steps)
}

/// An app's entry in the launch queue (`TaskLauncherActor`): when it started and its offer
/// statistics. Marathon keeps both until the entry is purged (app stopped or scaled down), not
/// just while launches are waiting.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// `since` of the queue item.
    pub since: DateTime<Utc>,
    /// Offers processed since.
    pub stats: OfferStats,
}

impl App {
    /// Wants `n` launches in total (starts the queue entry if needed).
    pub fn set_queued(&mut self, n: u32, now: DateTime<Utc>) {
        self.queued = n;
        if n > 0 && self.launcher.is_none() {
            self.launcher = Some(Launcher {
                since: now,
                stats: OfferStats::default(),
            });
        }
    }

    /// Drops the queue entry: no launches wait, statistics are forgotten (`LaunchQueue.purge`).
    pub fn purge_queue(&mut self) {
        self.queued = 0;
        self.launcher = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).expect("valid")
    }

    #[test]
    fn summaries_follow_the_funnel() {
        let mut stats = OfferStats::default();
        let no = |agent: &str, reasons: Vec<Reason>, t| NoMatch {
            agent_id: agent.into(),
            reasons,
            at: at(t),
        };
        stats.record_no_match(no("a", vec![Reason::InsufficientCpus], 1));
        stats.record_no_match(no(
            "b",
            vec![Reason::InsufficientMemory, Reason::UnfulfilledConstraint],
            1,
        ));
        stats.record_no_match(no("a", vec![Reason::InsufficientMemory], 2));
        stats.record_match(at(3));
        let s = stats.summary_json();
        assert_eq!(s["processedOffersCount"], 4);
        assert_eq!(s["unusedOffersCount"], 3);
        assert_eq!(s["lastUnusedOfferAt"], "1970-01-01T00:00:02.000Z");
        assert_eq!(s["lastUsedOfferAt"], "1970-01-01T00:00:03.000Z");
        let attempt = s["rejectSummaryLaunchAttempt"].as_array().expect("list");
        assert_eq!(attempt.len(), 8);
        assert_eq!(
            attempt[1],
            json!({ "reason": "UnfulfilledConstraint", "declined": 1, "processed": 4 })
        );
        assert_eq!(
            attempt[3],
            json!({ "reason": "InsufficientCpus", "declined": 1, "processed": 3 })
        );
        assert_eq!(
            attempt[4],
            json!({ "reason": "InsufficientMemory", "declined": 1, "processed": 2 })
        );
        assert_eq!(attempt[7]["reason"], "InsufficientPorts");
        let last = s["rejectSummaryLastOffers"].as_array().expect("list");
        assert_eq!(
            last[1],
            json!({ "reason": "UnfulfilledConstraint", "declined": 1, "processed": 2 })
        );
        assert_eq!(
            last[4],
            json!({ "reason": "InsufficientMemory", "declined": 1, "processed": 1 })
        );
        assert_eq!(last[3]["declined"], 0);
    }
}
