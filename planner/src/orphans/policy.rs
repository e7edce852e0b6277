//! The reaper's policy (mode, ages, fractions, budgets, timings) and the sliding-window
//! budgets the loop keeps between passes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use std::time::Instant;

use super::planner::PlanLimits;

/// Report (compute and expose, never order) or enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaperMode {
    /// Default: orphans are computed, exposed and audited as "would reap"; no order is sent.
    Report,
    /// Orders are sent (while leader).
    Enforce,
}

/// Reaper settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaperPolicy {
    /// Report or enforce.
    pub mode: ReaperMode,
    /// Minimum container age (PaaSTA's `--max-age`, default 60 min).
    pub min_age: Duration,
    /// Largest fraction of a host's live mesos containers that may be reaped at once.
    pub max_fraction_per_host: f64,
    /// Orders per minute, all hosts.
    pub global_per_minute: u32,
    /// Orders per minute, per host.
    pub host_per_minute: u32,
    /// `docker stop -t`.
    pub grace_seconds: u32,
    /// Time between passes.
    pub interval: Duration,
    /// Passes (at least `sighting_gap` apart) in which a container must be an orphan before
    /// it is reaped.
    pub sightings: u32,
    /// Least time between two passes that count as separate sightings (`interval / 2` from
    /// the config).
    pub sighting_gap: Duration,
    /// How long to wait for an agent's answer.
    pub order_timeout: Duration,
}

impl ReaperPolicy {
    /// The defaults: report mode, 60 min, half a host at most, 30/min globally, 5/min per host,
    /// 10 s grace, a pass a minute, two sightings.
    pub fn defaults() -> Self {
        Self {
            mode: ReaperMode::Report,
            min_age: Duration::from_secs(60 * 60),
            max_fraction_per_host: 0.5,
            global_per_minute: 30,
            host_per_minute: 5,
            grace_seconds: 10,
            interval: Duration::from_secs(60),
            sightings: 2,
            sighting_gap: Duration::from_secs(30),
            order_timeout: Duration::from_secs(60),
        }
    }

    /// The planner's part.
    pub fn limits(&self) -> PlanLimits {
        PlanLimits {
            min_age: self.min_age,
            max_fraction_per_host: self.max_fraction_per_host,
            grace_seconds: self.grace_seconds,
            sightings: self.sightings.max(1),
            sighting_gap: self.sighting_gap,
        }
    }
}

/// Orders sent in the last minute, globally and per host.
#[derive(Debug, Default)]
pub struct Budgets {
    sent: VecDeque<(Instant, String)>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Budgets {
    fn expire(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
    }

    /// What is left now: (global, per host that sent anything).
    pub fn left(&mut self, now: Instant, policy: &ReaperPolicy) -> (u32, BTreeMap<String, u32>) {
        self.expire(now);
        let mut per_host: BTreeMap<String, u32> = BTreeMap::new();
        for (_, h) in &self.sent {
            *per_host.entry(h.clone()).or_insert(0) += 1;
        }
        let used = u32::try_from(self.sent.len()).unwrap_or(u32::MAX);
        let left = per_host
            .into_iter()
            .map(|(h, n)| (h, policy.host_per_minute.saturating_sub(n)))
            .collect();
        (policy.global_per_minute.saturating_sub(used), left)
    }

    /// Counts one order to `host`.
    pub fn record(&mut self, now: Instant, host: &str) {
        self.sent.push_back((now, host.to_owned()));
    }
}
