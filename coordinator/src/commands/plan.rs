//! `plan --config FILE`: one dry-run pass; prints the plan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::reconciler::{ActivationReason, PassStatus, Reconciler};

use galley_coordinator::runtime::{clients, settings};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The coordinator config file.
    #[arg(long, default_value = "/etc/galley/coordinator.yaml")]
    config: PathBuf,
}

/// Prints the plan of one pass; exit 1 if the pass could not read its inputs.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = CoordinatorConfig::from_file(&args.config)?;
    let (marathon, mesos) = clients(&config)?;
    let mut settings = settings(&config);
    settings.dry_run = true;
    let mut reconciler = Reconciler::new(
        Arc::new(marathon),
        Arc::new(mesos),
        settings,
        Arc::new(|_| {}),
    );
    let record = reconciler.pass(ActivationReason::OnDemand).await;
    let snap = &record.snapshot;
    print!("{}", snap.plan);
    for ((s, i), issue) in &snap.desired.issues {
        println!("{s}.{i}: not planned: {issue:?}");
    }
    for (s, e) in &snap.desired.service_errors {
        println!("service {s}: {e}");
    }
    Ok(match record.status {
        PassStatus::FailedReadingMarathon(e)
        | PassStatus::FailedReadingMesos(e)
        | PassStatus::FailedReadingSystemConfig(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    })
}
