//! Workspace end-to-end tests live in `tests/e2e/`; this library is intentionally empty.
