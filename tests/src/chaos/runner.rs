//! What both entry points share: the settings from the environment, one seed's run with its
//! failure report (seed, schedule, violations, a minimal schedule by delta debugging, the
//! command that replays it), and the figures.
//!
//! Environment: `GALLEY_ZOOKEEPER` (required; see `scripts/zookeeper.sh`),
//! `GALLEY_CHAOS_SEED=<n>` (replay one seed), `GALLEY_CHAOS_STEPS=<i,j,…>` (only those steps of
//! its schedule), `GALLEY_CHAOS_MINIMIZE=<replays>` (bound of delta debugging; 0 turns it off).

use std::time::Duration;

use super::campaign::{Campaign, RunOutcome, Settings};
use super::figures::Figures;
use super::invariants::Bounds;
use super::minimize::ddmin;
use super::schedule::Schedule;

/// Settings for `steps` steps over `span_ms` (unless `GALLEY_CHAOS_SHAPE` says otherwise),
/// on the ZooKeeper of `GALLEY_ZOOKEEPER`.
pub fn settings(zookeeper: String, steps: usize, span_ms: u64) -> Settings {
    let (steps, span_ms) = env_shape().unwrap_or((steps, span_ms));
    Settings {
        steps,
        span_ms,
        slaves: 4,
        converge_bound: Duration::from_secs(90),
        memory_bound: 256 << 20,
        bounds: Bounds::default(),
        zookeeper,
    }
}

/// `GALLEY_CHAOS_SHAPE=<steps>x<span ms>`, if set: the shape a printed replay line names, so
/// a seed found by one entry point replays with the same schedule in the other.
pub fn env_shape() -> Option<(usize, u64)> {
    let v = std::env::var("GALLEY_CHAOS_SHAPE").ok()?;
    let (a, b) = v.split_once('x')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The environment that replays `schedule` (a subset of its seed's steps) in this shape.
pub fn replay_env(settings: &Settings, seed: u64, steps: &[usize]) -> String {
    format!(
        "GALLEY_CHAOS_SHAPE={}x{} GALLEY_CHAOS_SEED={seed} GALLEY_CHAOS_STEPS={}",
        settings.steps,
        settings.span_ms,
        steps
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// `GALLEY_CHAOS_SEED`, if set.
pub fn env_seed() -> Option<u64> {
    std::env::var("GALLEY_CHAOS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// `GALLEY_CHAOS_STEPS`, if set.
pub fn env_steps() -> Option<Vec<usize>> {
    let v = std::env::var("GALLEY_CHAOS_STEPS").ok()?;
    Some(v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
}

/// `GALLEY_CHAOS_MINIMIZE`, else `default`.
pub fn env_minimize(default: usize) -> usize {
    std::env::var("GALLEY_CHAOS_MINIMIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `seed` (only `steps` of it, when given); on failure prints the report and looks for
/// a minimal failing schedule with at most `minimize` replays. Every run is added to `figures`.
/// Returns whether it passed.
pub async fn run_seed(
    campaign: &Campaign,
    seed: u64,
    steps: Option<&[usize]>,
    minimize: usize,
    figures: &mut Figures,
) -> bool {
    let full = Schedule::generate(seed, campaign.settings.shape());
    let schedule = match steps {
        Some(keep) => full.only(keep),
        None => full,
    };
    eprintln!("chaos: seed {seed}: {} steps", schedule.steps.len());
    let outcome = campaign.run(&schedule).await;
    figures.add(&outcome);
    summary(&outcome);
    if outcome.violations.is_empty() {
        return true;
    }
    report(&outcome, &campaign.settings);
    if minimize > 0 {
        let (min, replays) = ddmin(&schedule.indexes(), minimize, |keep| {
            let s = schedule.only(&keep);
            async move {
                eprintln!("chaos: seed {seed}: replaying steps {:?}", s.indexes());
                let o = campaign.run(&s).await;
                figures_note(&o);
                !o.violations.is_empty()
            }
        })
        .await;
        let minimal = schedule.only(&min);
        eprintln!(
            "chaos: seed {seed}: minimal failing schedule after {replays} replays (bounded by {minimize}):\n{minimal}replay: {} cargo test -p galley-e2e --test chaos -- --nocapture",
            replay_env(&campaign.settings, seed, &min)
        );
    }
    false
}

fn figures_note(o: &RunOutcome) {
    eprintln!(
        "chaos:   replay of {} steps: {} violation(s){}",
        o.schedule.steps.len(),
        o.violations.len(),
        o.violations
            .first()
            .map(|v| format!(", first: {v}"))
            .unwrap_or_default()
    );
}

/// One line per run.
pub fn summary(o: &RunOutcome) {
    eprintln!(
        "chaos: seed {} ({} steps): {} violation(s), {} writes / {} destructive / {} reaps checked, converged after {}, run {:.0}s; evidence: {} requests, {} leadership spans, {} tasks, {} destroys",
        o.schedule.seed,
        o.schedule.steps.len(),
        o.violations.len(),
        o.checked.writes,
        o.checked.destructive,
        o.checked.reaps,
        o.converged_after
            .map_or("never".to_owned(), |c| format!("{c:.1}s")),
        o.wall.as_secs_f64(),
        o.evidence.0,
        o.evidence.1,
        o.evidence.2,
        o.evidence.3
    );
}

/// The failure report: seed, schedule, violations, where the logs are.
pub fn report(o: &RunOutcome, settings: &Settings) {
    let mut text = format!(
        "\n==== CHAOS FAILURE: seed {} ====\n{}",
        o.schedule.seed, o.schedule
    );
    text.push_str("violations:\n");
    for v in &o.violations {
        text.push_str(&format!("  {v}\n"));
    }
    if let Some(dir) = &o.kept {
        text.push_str(&format!("logs and configs kept in {}\n", dir.display()));
    }
    text.push_str(&format!(
        "replay: {} cargo test -p galley-e2e --test chaos -- --nocapture\n",
        replay_env(settings, o.schedule.seed, &o.schedule.indexes())
    ));
    eprintln!("{text}");
}

#[cfg(test)]
mod tests {
    use super::{replay_env, settings};

    #[test]
    fn a_replay_line_names_the_shape_its_schedule_was_generated_with() {
        // A seed found by the long form (24 steps over 60 s) once replayed in the short form's
        // shape, a different schedule: the replay line now carries the shape.
        let s = settings("zk".into(), 24, 60_000);
        assert_eq!(
            replay_env(&s, 101, &[3, 18]),
            "GALLEY_CHAOS_SHAPE=24x60000 GALLEY_CHAOS_SEED=101 GALLEY_CHAOS_STEPS=3,18"
        );
    }
}
