//! Galley's domain model: soa-configs, the system config, `deployments.json`, git ref names and
//! Python-compatible JSON. Pure functions over text and data; this crate does no I/O (callers
//! read files and talk to git, then hand the bytes here).

pub mod app_id;
pub mod bounce_failure;
pub mod bounce_methods;
pub mod branch_state;
pub mod constraints;
pub mod deployments;
pub mod error_chain;
pub mod marathon_app;
pub mod marathon_config;
pub mod merge;
pub mod monitoring;
pub mod names;
pub mod observed;
pub mod pyjson;
pub mod refs;
pub mod replication;
pub mod smartstack;
pub mod soa;
pub mod system_config;
pub mod yaml;
