//! The figures a campaign prints: runs and seeds, steps applied by kind (faults and
//! operations), actions checked, violations, convergence time distribution.

use std::collections::BTreeMap;
use std::fmt;

use super::campaign::RunOutcome;
use super::invariants::Checked;
use super::schedule::Schedule;

/// Totals over runs.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Runs (replays included).
    pub runs: usize,
    /// Distinct seeds.
    pub seeds: Vec<u64>,
    /// Faults applied, by kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// Operations applied, by kind.
    pub operations: BTreeMap<&'static str, usize>,
    /// Checked, summed.
    pub checked: Checked,
    /// Violations by invariant.
    pub violations: BTreeMap<&'static str, usize>,
    /// Seeds that failed.
    pub failed_seeds: Vec<u64>,
    /// Seconds to converge after the faults stopped, per run that converged.
    pub converge: Vec<f64>,
    /// Wall seconds per run.
    pub wall: Vec<f64>,
    /// Largest resident set seen, by process kind (`coordinator`, `agent`, `galley-sim`).
    pub rss: BTreeMap<&'static str, u64>,
}

impl Figures {
    /// Adds one run.
    pub fn add(&mut self, o: &RunOutcome) {
        self.runs += 1;
        if !self.seeds.contains(&o.schedule.seed) {
            self.seeds.push(o.schedule.seed);
        }
        let faulty = is_fault_kind(&o.schedule);
        for (kind, n) in &o.applied {
            let into = if faulty.contains(kind) {
                &mut self.faults
            } else {
                &mut self.operations
            };
            *into.entry(kind).or_default() += n;
        }
        self.checked.writes += o.checked.writes;
        self.checked.destructive += o.checked.destructive;
        self.checked.reaps += o.checked.reaps;
        self.checked.logged_actions += o.checked.logged_actions;
        for v in &o.violations {
            *self.violations.entry(v.invariant).or_default() += 1;
        }
        if !o.violations.is_empty() && !self.failed_seeds.contains(&o.schedule.seed) {
            self.failed_seeds.push(o.schedule.seed);
        }
        if let Some(c) = o.converged_after {
            self.converge.push(c);
        }
        self.wall.push(o.wall.as_secs_f64());
        for (name, bytes) in &o.rss {
            let kind = if name.starts_with('c') {
                "coordinator"
            } else if name.starts_with("agent") {
                "agent"
            } else {
                "galley-sim"
            };
            let top = self.rss.entry(kind).or_default();
            *top = (*top).max(*bytes);
        }
    }
}

fn is_fault_kind(s: &Schedule) -> Vec<&'static str> {
    s.steps
        .iter()
        .filter(|s| s.kind.is_fault())
        .map(|s| s.kind.name())
        .collect()
}

/// `min / median / max` of `v` (seconds).
pub fn distribution(v: &[f64]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    format!(
        "min {:.1}s / median {:.1}s / p90 {:.1}s / max {:.1}s (n={})",
        s[0],
        s[s.len() / 2],
        s[(s.len() * 9 / 10).min(s.len() - 1)],
        s[s.len() - 1],
        s.len()
    )
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chaos campaign figures")?;
        writeln!(f, "  runs: {} (seeds: {})", self.runs, self.seeds.len())?;
        let total: usize = self.faults.values().sum();
        writeln!(f, "  faults injected: {total}")?;
        for (k, n) in &self.faults {
            writeln!(f, "    {k:<24} {n}")?;
        }
        let total: usize = self.operations.values().sum();
        writeln!(f, "  operations: {total}")?;
        for (k, n) in &self.operations {
            writeln!(f, "    {k:<24} {n}")?;
        }
        let c = &self.checked;
        writeln!(
            f,
            "  actions checked: {} Marathon writes ({} destructive), {} reaps, {} deploy-log action lines",
            c.writes, c.destructive, c.reaps, c.logged_actions
        )?;
        let total: usize = self.violations.values().sum();
        writeln!(
            f,
            "  violations: {total} (failed seeds: {:?})",
            self.failed_seeds
        )?;
        for (k, n) in &self.violations {
            writeln!(f, "    {k:<32} {n}")?;
        }
        writeln!(
            f,
            "  convergence after the faults stop: {}",
            distribution(&self.converge)
        )?;
        writeln!(f, "  wall time per run: {}", distribution(&self.wall))?;
        let rss: Vec<String> = self
            .rss
            .iter()
            .map(|(k, v)| format!("{k} {} MB", v >> 20))
            .collect();
        writeln!(f, "  largest resident set: {}", rss.join(", "))
    }
}
