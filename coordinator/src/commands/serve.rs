//! `serve --config FILE`: the long-running coordinator — [`Coordinator::start`] until SIGINT
//! or SIGTERM, then [`Running::shutdown`](galley_coordinator::runtime::Running::shutdown).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::runtime::{Coordinator, StartOptions};
use galley_coordinator::signal::wait_for_signal;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator config file.
    #[arg(long, default_value = "/etc/galley/coordinator.yaml")]
    config: PathBuf,
    /// Let cleanup delete more than the kill threshold (an explicit, logged override).
    #[arg(long)]
    force_cleanup: bool,
    /// Serve gRPC in plaintext without a `tls` section (every caller is an operator). For a
    /// laptop or a test; never on a cluster.
    #[arg(long)]
    insecure: bool,
}

/// Runs until SIGINT/SIGTERM, then stops everything in order.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = CoordinatorConfig::from_file(&args.config)?;
    let opts = StartOptions {
        config_path: args.config.clone(),
        force_cleanup: args.force_cleanup,
        insecure: args.insecure,
    };
    let running = Coordinator::start(config, opts).await?;
    wait_for_signal().await;
    let report = running.shutdown(Duration::from_secs(15)).await;
    if !report.aborted.is_empty() {
        tracing::warn!(aborted = ?report.aborted, "shutdown: some tasks had to be aborted");
    }
    Ok(ExitCode::SUCCESS)
}
