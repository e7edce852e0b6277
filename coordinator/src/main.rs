//! `galley-coordinator`: the command line. Parses arguments, sets up logging and the runtime,
//! and hands off to a subcommand in `commands/`.

mod commands;

/// jemalloc, not glibc's malloc: the coordinator's heap is many small long-lived objects (the
/// view's apps and tasks, the desired state, the plan memo) among short bursts (a pass's
/// snapshot, a monitor round, a list decoded app by app). At 50,000 instances, measured with
/// `bench-serve` on the same machine and code, glibc held the idle RSS at 278–305 MB with two
/// arenas and a trim after every round; jemalloc at 213–272 MB, returning pages by itself
/// (background purging threads), and a steady pass took 25–33 ms instead of 68–76 ms.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation: at most 8 arenas (its default on the
/// 2-core machines the figures above come from is 4 per core, so a 32-core master would have
/// 128, each with its own free pages), and freed pages returned after about a second instead
/// of ten (`dirty_decay_ms`: right after 50,000 apps converged, the burst of refetched apps
/// held the RSS at 369–374 MB for ten seconds; with a second it stayed under 297 MB, at the
/// same steady-state CPU). `_RJEM_MALLOC_CONF` in the environment overrides them.
#[cfg(feature = "jemalloc")]
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"narenas:8,dirty_decay_ms:1000".as_ptr());

/// A C string pointer jemalloc reads (`const char *malloc_conf`).
#[cfg(feature = "jemalloc")]
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points to a `'static` C string literal, never written.
#[cfg(feature = "jemalloc")]
#[allow(unsafe_code)]
unsafe impl Sync for MallocConf {}

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use galley_common::refs::DesiredState::{Start, Stop};

#[derive(Parser)]
#[command(
    version,
    about = "Galley coordinator: deploy control plane for Mesos/Marathon clusters"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write <soa-dir>/<service>/deployments.json from each service's git refs (PaaSTA's
    /// generate_deployments_for_service, for every service at once).
    GenerateDeployments(commands::generate::Args),
    /// Run the coordinator: reconcile Marathon to the desired state continuously.
    Serve(commands::serve::Args),
    /// Print what the next reconcile pass would do, without doing it.
    Plan(commands::plan::Args),
    /// Print the Marathon app definition (wire JSON, with its id) of SERVICE.INSTANCE.
    RenderApp(commands::render::Args),
    /// Validate a coordinator config file (exit 0: prints `config OK: FILE`).
    CheckConfig(commands::check_config::Args),
    /// Push paasta-<deploy_group>-<UTC ts>-deploy on a commit (paasta mark-for-deployment);
    /// with --wait, follow the coordinators until the deploy group runs it.
    MarkForDeployment(commands::tags::MarkArgs),
    /// Mark the sha deployed before the current one (or --to SHA) for a deploy group.
    Rollback(commands::tags::RollbackArgs),
    /// Show each instance as a coordinator sees it (paasta status); exit 2 when one is critical.
    Status(commands::status::Args),
    /// Push a start tag on the instance's deployed sha (paasta start).
    Start(commands::tags::StateArgs),
    /// Push a stop tag on the instance's deployed sha (paasta stop).
    Stop(commands::tags::StateArgs),
    /// Push a start tag with a new timestamp, which bounces the instance (paasta restart).
    Restart(commands::tags::StateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::GenerateDeployments(args) => commands::generate::run(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Plan(args) => commands::plan::run(args).await,
            Command::RenderApp(args) => commands::render::run(args).await,
            Command::CheckConfig(args) => commands::check_config::run(args).await,
            Command::MarkForDeployment(args) => commands::tags::mark(args).await,
            Command::Rollback(args) => commands::tags::rollback(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Start(args) => commands::tags::set_state(args, Start).await,
            Command::Stop(args) => commands::tags::set_state(args, Stop).await,
            Command::Restart(args) => commands::tags::set_state(args, Start).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
