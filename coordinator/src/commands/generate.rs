//! `generate-deployments`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use galley_coordinator::atomic::Durability;
use galley_coordinator::error_chain::ErrorChain;
use galley_coordinator::generate::{GenerateOptions, generate_all};
use galley_coordinator::git::Git2Source;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The yelpsoa-configs directory.
    #[arg(long, short = 'd', default_value = "/nail/etc/services")]
    soa_dir: PathBuf,
    /// Only this service (repeatable); default: every service directory.
    #[arg(long = "service", short = 's')]
    services: Vec<String>,
    /// Repositories listed in parallel (default: cores × 4).
    #[arg(long)]
    jobs: Option<usize>,
    /// Give up on a repository after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Also deploy the tip of refs/heads/<branch> (instance key `branch`, default
    /// paasta-<cluster>.<instance>) for instances that have no deploy tag.
    #[arg(long)]
    legacy_branches: bool,
    /// fsync each written deployments.json before renaming it into place (durable across power
    /// loss; slower). Without it writes are still atomic, as PaaSTA's were.
    #[arg(long)]
    fsync: bool,
    /// Generate every service, ignoring the stamps under <soa_dir>/.galley/generate/ that let
    /// a run skip services whose config files, local repository refs and deployments.json did
    /// not change since the last run.
    #[arg(long)]
    no_stamps: bool,
}

/// Runs generation; exit 1 if any service failed (after all others were written).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let opts = GenerateOptions {
        soa_dir: args.soa_dir,
        services: args.services,
        jobs: args.jobs.unwrap_or(cores * 4),
        legacy_branches: args.legacy_branches,
        durability: if args.fsync {
            Durability::Fsync
        } else {
            Durability::NoFsync
        },
        stamps: !args.no_stamps,
    };
    let git = Arc::new(Git2Source::new(Duration::from_secs_f64(
        args.timeout.max(0.001),
    )));
    let report = generate_all(&opts, git).await?;
    for s in &report.services {
        if let Err(e) = &s.outcome {
            eprintln!("error: service {}: {}", s.service, ErrorChain(e));
        }
    }
    eprintln!(
        "generate-deployments: {} services in {} ms: {} written, {} unchanged ({} skipped by stamp), {} failed",
        report.services.len(),
        report.elapsed.as_millis(),
        report.written(),
        report.unchanged(),
        report.skipped(),
        report.failed()
    );
    Ok(if report.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
