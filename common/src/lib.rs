//! Galley's domain model. No I/O.
