//! How long each step of a pass took (system config, Mesos, desired state, Marathon, plan,
//! confirm, apply): kept in the pass snapshot and logged with the pass, so a slow pass says
//! where its time went.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// Step durations, in the order the steps ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepTimes {
    steps: Vec<(&'static str, Duration)>,
    last: Option<Instant>,
}

impl StepTimes {
    /// Starts timing the first step now.
    pub fn start() -> Self {
        Self {
            steps: Vec::new(),
            last: Some(Instant::now()),
        }
    }

    /// Ends step `name` now (it began when the previous one ended).
    pub fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        let began = self.last.unwrap_or(now);
        self.steps.push((name, now - began));
        self.last = Some(now);
    }

    /// The steps timed so far.
    pub fn steps(&self) -> &[(&'static str, Duration)] {
        &self.steps
    }
}

impl fmt::Display for StepTimes {
    /// `mesos=3.1ms desired=0.4ms ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, d)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={:.1}ms", d.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn steps_are_timed_back_to_back() {
        let mut t = StepTimes::start();
        tokio::time::advance(Duration::from_millis(3)).await;
        t.done("mesos");
        tokio::time::advance(Duration::from_millis(10)).await;
        t.done("plan");
        assert_eq!(
            t.steps(),
            [
                ("mesos", Duration::from_millis(3)),
                ("plan", Duration::from_millis(10))
            ]
        );
        assert_eq!(t.to_string(), "mesos=3.0ms plan=10.0ms");
    }
}
