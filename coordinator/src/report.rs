//! The report room: what Galley tells the world — Sensu events (`sensu`), the deploy log
//! (`deploy_log`, PaaSTA's format) and Prometheus metrics (`metrics`).

pub mod deploy_log;
pub mod metrics;
pub mod sensu;

/// A hash of what `text` displays, written straight into the hasher (no `String`): what the
/// report remembers of a text it sent, to tell whether the next one differs (a Sensu check's
/// output, a bounce's progress line in the deploy log). Only compared within the process.
pub(crate) fn text_hash(text: &impl std::fmt::Display) -> u64 {
    use std::fmt::Write as _;
    use std::hash::Hasher as _;
    struct HashWriter(std::collections::hash_map::DefaultHasher);
    impl std::fmt::Write for HashWriter {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut w = HashWriter(std::collections::hash_map::DefaultHasher::new());
    let _ = write!(w, "{text}");
    w.0.finish()
}
