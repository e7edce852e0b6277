//! Bounce and drain method names, checked by setup_marathon_job before a bounce (spec §3.5
//! steps 4 and 8) rather than when the app is rendered. An unknown name fails the instance with
//! PaaSTA's "ERROR: … not recognized" status message.

use std::fmt;

/// A bounce method setup_marathon_job knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceMethod {
    /// Start the new app and drain every old task at once.
    Brutal,
    /// Drain old tasks once every new task is happy.
    Upthendown,
    /// Drain old tasks; start the new app once no old app is left.
    Downthenup,
    /// Drain old tasks as new tasks become happy (the default).
    Crossover,
    /// Drain old tasks, never start a new app (graceful_app_drain).
    Down,
}

/// A drain method setup_marathon_job knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainMethod {
    /// Never draining, always safe to kill.
    Noop,
    /// Marks tasks down in hacheck and waits `delay` seconds.
    Hacheck,
    /// In-memory, for integration tests.
    Test,
}

/// Bounce methods in the order PaaSTA listed them: CPython 2.7's order of its registry dict
/// (registered brutal, upthendown, crossover, downthenup, down).
pub const BOUNCE_METHODS: &[(&str, BounceMethod)] = &[
    ("upthendown", BounceMethod::Upthendown),
    ("downthenup", BounceMethod::Downthenup),
    ("down", BounceMethod::Down),
    ("brutal", BounceMethod::Brutal),
    ("crossover", BounceMethod::Crossover),
];

/// Drain methods in the order PaaSTA listed them (sorted).
pub const DRAIN_METHODS: &[(&str, DrainMethod)] = &[
    ("hacheck", DrainMethod::Hacheck),
    ("noop", DrainMethod::Noop),
    ("test", DrainMethod::Test),
];

/// An unknown `bounce_method`/`drain_method`; displays setup_marathon_job's status message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnrecognizedMethod {
    /// `bounce_method` or `drain_method`.
    pub key: &'static str,
    /// The configured name.
    pub name: String,
    /// The known names, in PaaSTA's listing order.
    pub known: Vec<&'static str>,
}

impl fmt::Display for UnrecognizedMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ERROR: {} not recognized: {}. Must be one of ({})",
            self.key,
            self.name,
            self.known.join(", ")
        )
    }
}

fn lookup<T: Copy>(
    key: &'static str,
    table: &[(&'static str, T)],
    name: &str,
) -> Result<T, UnrecognizedMethod> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
        .ok_or_else(|| UnrecognizedMethod {
            key,
            name: name.to_string(),
            known: table.iter().map(|(n, _)| *n).collect(),
        })
}

/// Setup-time check of a `bounce_method`.
pub fn validate_bounce_method(name: &str) -> Result<BounceMethod, UnrecognizedMethod> {
    lookup("bounce_method", BOUNCE_METHODS, name)
}

/// Setup-time check of a `drain_method`.
pub fn validate_drain_method(name: &str) -> Result<DrainMethod, UnrecognizedMethod> {
    lookup("drain_method", DRAIN_METHODS, name)
}

impl BounceMethod {
    /// PaaSTA's name.
    pub fn as_str(self) -> &'static str {
        BOUNCE_METHODS
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("crossover")
    }
}

impl fmt::Display for BounceMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
