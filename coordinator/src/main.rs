//! `galley-coordinator`: the command line. Parses arguments, sets up logging and the runtime,
//! and hands off to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use galley_coordinator::atomic::Durability;
use galley_coordinator::error_chain::ErrorChain;
use galley_coordinator::generate::{GenerateOptions, generate_all};
use galley_coordinator::git::Git2Source;

#[derive(Parser)]
#[command(
    version,
    about = "Galley coordinator: deploy control plane for Mesos/Marathon clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write <soa-dir>/<service>/deployments.json from each service's git refs (PaaSTA's
    /// generate_deployments_for_service, for every service at once).
    GenerateDeployments(GenerateArgs),
    /// Run the embedded demo: example soa-configs and local git repositories in a work dir,
    /// deployments generated, a new deploy tag pushed, regenerated.
    Demo(DemoArgs),
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Keep the demo's files in this directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct GenerateArgs {
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match cli.command {
        Command::GenerateDeployments(args) => runtime.block_on(generate_deployments(args)),
        Command::Demo(args) => runtime.block_on(demo(args)),
    }
}

async fn demo(args: DemoArgs) -> ExitCode {
    let tmp;
    let root = match args.dir {
        Some(d) => d,
        None => match tempfile::tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("error: cannot create a temporary directory: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut stdout = std::io::stdout();
    match galley_coordinator::demo::run(&root, &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", ErrorChain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn generate_deployments(args: GenerateArgs) -> ExitCode {
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
    };
    let git = Arc::new(Git2Source::new(Duration::from_secs_f64(
        args.timeout.max(0.001),
    )));
    let report = match generate_all(&opts, git).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    for s in &report.services {
        if let Err(e) = &s.outcome {
            eprintln!("error: service {}: {}", s.service, ErrorChain(e));
        }
    }
    eprintln!(
        "generate-deployments: {} services in {} ms: {} written, {} unchanged, {} failed",
        report.services.len(),
        report.elapsed.as_millis(),
        report.written(),
        report.unchanged(),
        report.failed()
    );
    if report.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
