//! The coordinator's integration tests, compiled as one binary (each `tests/*.rs` would
//! otherwise be its own crate and link step).

mod agents;
mod app_schema;
mod clients;
mod deploy_configs;
mod deploy_configs_packaging;
mod desired_incremental;
mod election;
mod fixtures;
mod fuzz;
mod generate;
mod generate_cli;
mod git_local;
mod gitwatch;
mod gitwatch_tags;
mod ha_serve;
mod hacheck;
mod json_schema;
mod marathon_view;
mod monitoring;
mod monitoring_live;
mod proxy;
mod reconcile;
mod runtime;
mod tls;
mod watch_events;
