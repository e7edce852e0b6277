//! The emulators' clock: virtual (advanced explicitly by tests) or real-time (for `demo`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Shared clock. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
enum ClockState {
    /// Time moves only through [`SimClock::advance`].
    Virtual { now: DateTime<Utc> },
    /// Wall-clock time, shifted by any explicit advances.
    Real { offset: chrono::Duration },
}

impl SimClock {
    /// A virtual clock starting at `start`.
    pub fn virtual_at(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ClockState::Virtual { now: start })),
        }
    }

    /// A virtual clock starting at a fixed, readable instant (2016-06-01T00:00:00Z).
    pub fn virtual_default() -> Self {
        let start = DateTime::parse_from_rfc3339("2016-06-01T00:00:00Z")
            .expect("valid constant")
            .with_timezone(&Utc);
        Self::virtual_at(start)
    }

    /// A clock that follows wall-clock time.
    pub fn real() -> Self {
        Self {
            inner: Arc::new(Mutex::new(ClockState::Real {
                offset: chrono::Duration::zero(),
            })),
        }
    }

    /// Whether this clock is virtual.
    pub fn is_virtual(&self) -> bool {
        matches!(
            *self.inner.lock().expect("clock lock"),
            ClockState::Virtual { .. }
        )
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner.lock().expect("clock lock") {
            ClockState::Virtual { now } => *now,
            ClockState::Real { offset } => Utc::now() + *offset,
        }
    }

    /// Moves time forward by `d` (in real mode, shifts the offset).
    pub fn advance(&self, d: Duration) {
        let d = chrono::Duration::from_std(d).expect("duration in range");
        match &mut *self.inner.lock().expect("clock lock") {
            ClockState::Virtual { now } => *now += d,
            ClockState::Real { offset } => *offset += d,
        }
    }
}
