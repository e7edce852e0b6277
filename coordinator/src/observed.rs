//! The observed-state room: the clients of what Galley looks at — Marathon (`MarathonApi`),
//! the Mesos master (`MesosApi`), hacheck on each slave (drain state) and synapse's haproxy
//! (smartstack replication) — all built on one HTTP client builder (`http`); and `view`, the
//! list-then-watch cache of Marathon the reconciler, monitor and reaper share.

pub mod hacheck;
pub mod haproxy;
pub mod http;
pub mod marathon;
pub mod mesos;
pub mod metered;
mod streamed;
pub mod view;
