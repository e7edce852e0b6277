//! `serve --config FILE`: the long-running coordinator.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use galley_coordinator::apply::ApplyBudget;
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{ReconcileSettings, Reconciler};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator config file.
    #[arg(long, default_value = "/etc/galley/coordinator.yaml")]
    config: PathBuf,
    /// Let cleanup delete more than the kill threshold (an explicit, logged override).
    #[arg(long)]
    force_cleanup: bool,
}

/// Builds the Marathon and Mesos clients of `config`.
pub fn clients(config: &CoordinatorConfig) -> anyhow::Result<(MarathonClient, MesosClient)> {
    let marathon = MarathonClient::new(MarathonConfig {
        url: config.marathon.url.clone(),
        credentials: config.marathon_credentials()?,
        timeout: Duration::from_secs_f64(config.marathon.timeout_seconds),
    });
    let mesos = MesosClient::new(
        &config.mesos.url,
        Duration::from_secs_f64(config.mesos.timeout_seconds),
    );
    Ok((marathon, mesos))
}

/// The reconcile settings of `config`.
pub fn settings(config: &CoordinatorConfig) -> ReconcileSettings {
    ReconcileSettings {
        soa_dir: config.soa_dir.clone(),
        system_config_dir: config.system_config_dir.clone(),
        cluster: config.cluster.clone(),
        interval: config.interval(),
        cleanup: CleanupPolicy {
            kill_threshold: config.reconcile.kill_threshold,
            force: false,
        },
        budget: ApplyBudget {
            max_cleanup_deletes: config.reconcile.max_cleanup_deletes_per_pass,
            max_task_kills: config.reconcile.max_task_kills_per_pass,
        },
        dry_run: config.reconcile.dry_run,
    }
}

/// Runs until SIGINT/SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = CoordinatorConfig::from_file(&args.config)?;
    let (marathon, mesos) = clients(&config)?;
    let mut settings = settings(&config);
    if args.force_cleanup {
        tracing::warn!("--force-cleanup: cleanup may delete more than the kill threshold of apps");
        settings.cleanup.force = true;
    }
    let events = Arc::new(|e: galley_coordinator::apply::ApplyEvent| {
        tracing::info!(service = %e.service, instance = %e.instance, level = e.level, "{}", e.message);
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let handle =
        Reconciler::new(Arc::new(marathon), Arc::new(mesos), settings, events).spawn(shutdown_rx);
    tracing::info!(config = %args.config.display(), "galley-coordinator serving");
    wait_for_signal().await;
    let _ = shutdown_tx.send(true);
    drop(handle);
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
