//! The report room: what Galley tells the world — Sensu events (`sensu`), the deploy log
//! (`deploy_log`, PaaSTA's format) and Prometheus metrics (`metrics`).

pub mod deploy_log;
pub mod metrics;
pub mod sensu;
