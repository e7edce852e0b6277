//! `galley-agent --config FILE`: the per-slave agent (see the library docs for what it does).

use std::path::PathBuf;

use clap::Parser;
use galley_agent::config::AgentConfig;
use galley_agent::error_chain::ErrorChain;

/// Galley agent: reports this slave's Docker inventory to the coordinator and reaps orphaned
/// mesos-* containers on its command.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Agent configuration (YAML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Only validate the config file: print `config OK: FILE` (exit 0) or the error (exit 1).
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.check_config {
        AgentConfig::from_file(&args.config).map_err(|e| anyhow::anyhow!("{}", ErrorChain(&e)))?;
        println!("config OK: {}", args.config.display());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cfg =
        AgentConfig::from_file(&args.config).map_err(|e| anyhow::anyhow!("{}", ErrorChain(&e)))?;
    // One thread is plenty for a few hundred containers and keeps RSS small.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        galley_agent::run(cfg, shutdown)
            .await
            .map_err(|e| anyhow::anyhow!("{}", ErrorChain(&e)))
    })
}
